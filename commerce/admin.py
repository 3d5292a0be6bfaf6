from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from knox import admin as knox_admin  # noqa: F401  (its registration, replaced below)
from knox.models import AuthToken

from commerce import events
from commerce.models import Channel, EventReceipt, OutboxEvent, ProcessHeartbeat

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


class OutboxStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("pending", _("Pending")),
            ("dispatched", _("Dispatched")),
            ("dead", _("Dead letters")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(dispatched_at__isnull=True, dead_lettered_at__isnull=True)
        if self.value() == "dispatched":
            return queryset.filter(dispatched_at__isnull=False)
        if self.value() == "dead":
            return queryset.filter(dispatched_at__isnull=True, dead_lettered_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    """The event history: read-only, because automation replays it as it happened. Dead letters
    (events whose consumers failed OUTBOX_MAX_ATTEMPTS times) are retried from here."""

    list_display = [
        "id",
        "type",
        "subject_type",
        "subject_id",
        "occurred_at",
        "dispatched_at",
        "attempts",
        "dead_lettered_at",
        "short_error",
    ]
    list_filter = [OutboxStateFilter, "type", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["type", "subject_id"]
    date_hierarchy = "occurred_at"
    inlines = [EventReceiptInline]
    show_full_result_count = False
    actions = ["retry_dead_letters"]

    @admin.display(description=_("last error"))
    def short_error(self, obj: OutboxEvent) -> str:
        first_line = obj.last_error.splitlines()[0] if obj.last_error else ""
        return first_line[:120] + ("…" if len(first_line) > 120 else "")

    @admin.action(description=_("Retry the selected dead letters"), permissions=["retry"])
    def retry_dead_letters(self, request, queryset):
        result = events.outbox_event_retry(event_ids=list(queryset.values_list("id", flat=True)))
        if result.retried:
            self.message_user(
                request,
                ngettext(
                    "%(count)d event handed to the workers again: %(ids)s.",
                    "%(count)d events handed to the workers again: %(ids)s.",
                    len(result.retried),
                )
                % {"count": len(result.retried), "ids": ", ".join(map(str, result.retried))},
                messages.SUCCESS,
            )
        if result.skipped:
            self.message_user(
                request,
                _("Not dead letters, so left as they are (dispatched, or still retrying): %(ids)s.")
                % {"ids": ", ".join(map(str, result.skipped))},
                messages.WARNING,
            )

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("commerce.change_outboxevent")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(ProcessHeartbeat)
class ProcessHeartbeatAdmin(admin.ModelAdmin):
    """When beat and a worker last showed a sign of life (what /health/ready/ checks)."""

    list_display = ["process", "seen_at", "hostname"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# knox registers its own admin, which lists each token's digest; this one shows only what
# identifies a token (its first characters, owner, dates). Tokens are issued by
# `manage.py create_api_token` (or by signing in), which shows the token once; here staff see
# them and revoke them by deleting.
admin.site.unregister(AuthToken)


def _token_label(token: AuthToken) -> str:
    return f"{token.token_key}… ({token.user})"


# knox names a token by its digest, and the admin prints that name on every page about it
# (breadcrumbs, deletion, history); it is named by its first characters instead.
AuthToken.__str__ = _token_label


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    list_display = ["token_key", "user", "created", "expiry", "is_expired"]
    list_filter = [("expiry", admin.EmptyFieldListFilter), "user__is_staff"]
    search_fields = ["token_key", "user__username", "user__email"]
    list_select_related = ["user"]
    fields = ["token_key", "user", "created", "expiry"]
    readonly_fields = fields
    ordering = ["-created"]

    @admin.display(boolean=True, description=_("expired"))
    def is_expired(self, obj) -> bool:
        return obj.expiry is not None and obj.expiry < timezone.now()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
