from django.contrib import admin

from orders.models import Discount, DiscountCode, TaxRate


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ["tax_class", "country", "region", "rate", "name", "valid_from"]
    list_filter = ["country", "tax_class"]
    search_fields = ["country", "region", "name"]


class DiscountCodeInline(admin.TabularInline):
    model = DiscountCode
    extra = 0
    fields = ["code", "single_use", "batch", "times_used"]
    readonly_fields = ["times_used"]


@admin.register(Discount)
class DiscountAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "value", "target", "automatic", "times_used", "is_active"]
    list_filter = ["kind", "target", "automatic", "is_active"]
    search_fields = ["name", "codes__code"]
    filter_horizontal = ["products", "categories", "channels"]
    readonly_fields = ["times_used"]
    inlines = [DiscountCodeInline]
