from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from commerce.models import Channel, EventReceipt, OutboxEvent

admin.site.site_header = _("Unified Commerce back office")
admin.site.site_title = _("Unified Commerce")
admin.site.index_title = _("Run the business")


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "kind",
        "currency",
        "country",
        "prices_include_tax",
        "time_zone",
        "is_active",
    ]
    list_filter = ["kind", "currency", "is_active"]
    search_fields = ["code", "name"]


class EventReceiptInline(admin.TabularInline):
    model = EventReceipt
    extra = 0
    can_delete = False
    readonly_fields = ["consumer", "handled_at"]


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    """The event history: read-only, because automation replays it as it happened."""

    list_display = [
        "id",
        "type",
        "subject_type",
        "subject_id",
        "occurred_at",
        "dispatched_at",
        "attempts",
    ]
    list_filter = ["type", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["type", "subject_id"]
    date_hierarchy = "occurred_at"
    inlines = [EventReceiptInline]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]
