from django.contrib import admin

from orders.models import TaxRate


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ["tax_class", "country", "region", "rate", "name", "valid_from"]
    list_filter = ["country", "tax_class"]
    search_fields = ["country", "region", "name"]
