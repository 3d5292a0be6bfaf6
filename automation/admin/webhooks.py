"""Back office for webhooks: endpoints (the secret is shown once, after creating or rotating
it), the delivery log with each attempt, and the retries of dead letters.

Every change goes through `automation.webhooks.services`, as the staff API's does.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from automation.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from automation.webhooks import payloads, selectors, services
from commerce.admin_helpers import problem, run_each, when
from commerce.errors import DomainError, ValidationFailed


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=gettext_lazy("URL"), max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=gettext_lazy("event types"),
        choices=payloads.event_type_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy('"Every event type" includes types added later.'),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "event_types", "channel", "is_active"]

    def clean(self):
        # The service's own rules (http or https only, known types), as form errors.
        cleaned = super().clean()
        fields = {n: cleaned[n] for n in ("name", "url", "event_types") if n in cleaned}
        try:
            services.endpoint_validate(fields)
        except ValidationFailed as error:
            for name, messages_ in error.errors.items():
                self.add_error(name if name in self.fields else None, messages_)
        return cleaned


def _secret_message(endpoint: WebhookEndpoint, secret: str) -> str:
    return _(
        "The signing secret of %(endpoint)s is %(secret)s. Copy it into the receiver now: "
        "it is not shown again."
    ) % {"endpoint": endpoint.name, "secret": secret}


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = [
        "name",
        "url",
        "types",
        "channel",
        "is_active",
        "state",
        "consecutive_failures",
        "created_at",
    ]
    list_filter = ["is_active", ("paused_at", admin.EmptyFieldListFilter), "channel"]
    search_fields = ["name", "url"]
    list_select_related = ["channel"]
    readonly_fields = [
        "state",
        "pause_reason",
        "consecutive_failures",
        "secret_state",
        "deliveries_link",
        "created_at",
    ]
    actions = ["rotate_secret", "resume", "retry_dead", "send_ping"]

    def get_fields(self, request, obj=None):
        fields = ["name", "url", "event_types", "channel", "is_active"]
        return fields if obj is None else fields + self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    @admin.display(description=gettext_lazy("event types"))
    def types(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types)

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: WebhookEndpoint) -> str:
        if obj.paused_at is not None:
            return _("Paused since %(when)s") % {"when": when(obj.paused_at)}
        return _("Sending") if obj.is_active else _("Switched off")

    @admin.display(description=gettext_lazy("secret"))
    def secret_state(self, obj: WebhookEndpoint) -> str:
        expires = obj.previous_secret_expires_at
        if obj.previous_secret and expires is not None and expires > timezone.now():
            return _("Rotated: the previous secret also signs until %(when)s.") % {
                "when": when(expires)
            }
        return _("Set (shown only when created or rotated).")

    @admin.display(description=gettext_lazy("deliveries"))
    def deliveries_link(self, obj: WebhookEndpoint):
        url = reverse("admin:automation_webhookdelivery_changelist")
        return format_html(
            '<a href="{}?endpoint__id__exact={}">{}</a> · '
            '<a href="{}?endpoint__id__exact={}&status__exact=dead">{}</a>',
            url,
            obj.pk,
            _("all"),
            url,
            obj.pk,
            _("dead letters"),
        )

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.ENDPOINT_FIELDS}
        if change:
            services.endpoint_update(endpoint=obj, **fields)
            return
        endpoint, secret = services.endpoint_create(**fields)
        obj.pk = endpoint.pk
        self.message_user(request, _secret_message(endpoint, secret), messages.SUCCESS)

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint)

    @admin.action(description=gettext_lazy("Rotate the signing secret"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            endpoint, secret = services.endpoint_rotate_secret(endpoint=endpoint)
            self.message_user(request, _secret_message(endpoint, secret), messages.SUCCESS)
        self.message_user(
            request,
            _("The previous secrets keep signing for 24 hours, while the receivers switch."),
            messages.INFO,
        )

    @admin.action(
        description=gettext_lazy("Resume (close the circuit breaker)"), permissions=["change"]
    )
    def resume(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda endpoint: services.endpoint_resume(endpoint=endpoint),
            _("%(count)d endpoints resumed; their waiting deliveries are due now."),
            _("Endpoint %(number)s: %(problem)s"),
        )

    @admin.action(description=gettext_lazy("Retry their dead letters"), permissions=["change"])
    def retry_dead(self, request, queryset):
        ids = [
            delivery_id
            for endpoint in queryset
            for delivery_id in selectors.retryable_delivery_ids(endpoint=endpoint)
        ]
        _report_retry(self, request, services.deliveries_retry(delivery_ids=ids))

    @admin.action(description=gettext_lazy("Send a test ping"), permissions=["change"])
    def send_ping(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda endpoint: services.endpoint_ping(endpoint=endpoint),
            _("%(count)d test pings queued; see the deliveries for the answers."),
            _("Endpoint %(number)s: %(problem)s"),
        )


def _report_retry(model_admin, request, result: services.RetryResult) -> None:
    if result.retried:
        model_admin.message_user(
            request,
            ngettext(
                "%(count)d delivery handed to the workers again.",
                "%(count)d deliveries handed to the workers again.",
                len(result.retried),
            )
            % {"count": len(result.retried)},
            messages.SUCCESS,
        )
    if result.skipped:
        model_admin.message_user(
            request,
            _("Not dead letters or refused, so left as they are: %(ids)s.")
            % {"ids": ", ".join(map(str, result.skipped))},
            messages.WARNING,
        )
    if not result.retried and not result.skipped:
        model_admin.message_user(request, _("There was nothing to retry."), messages.INFO)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["attempted_at", "status_code", "latency_ms", "succeeded", "error", "response_excerpt"]
    readonly_fields = fields
    ordering = ["-attempted_at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only; dead letters and refused deliveries are retried from here."""

    list_display = [
        "id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "event_type", "endpoint", "last_status_code"]
    search_fields = ["event_type", "endpoint__name", "=event__id"]
    list_select_related = ["endpoint"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [WebhookAttemptInline]
    actions = ["retry_selected"]
    fields = [
        "endpoint",
        "event_link",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "retry_until",
        "claimed_at",
        "last_status_code",
        "last_error",
        "created_at",
        "finished_at",
        "request_body",
    ]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("event"))
    def event_link(self, obj: WebhookDelivery):
        return format_html(
            '<a href="{}">#{}</a>',
            reverse("admin:commerce_outboxevent_change", args=[obj.event_id]),
            obj.event_id,
        )

    @admin.display(description=gettext_lazy("body sent"))
    def request_body(self, obj: WebhookDelivery):
        text = json.dumps(payloads.envelope(obj.event), cls=DjangoJSONEncoder, indent=2)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    @admin.action(description=gettext_lazy("Retry the selected deliveries"), permissions=["retry"])
    def retry_selected(self, request, queryset):
        ids = list(queryset.values_list("id", flat=True))
        _report_retry(self, request, services.deliveries_retry(delivery_ids=ids))

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("automation.change_webhookdelivery")

    def get_urls(self):
        return [
            path(
                "retry-dead/",
                self.admin_site.admin_view(self.retry_dead_view),
                name="automation_webhookdelivery_retry_dead",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_retry": self.has_retry_permission(request),
            "retry_dead_url": reverse("admin:automation_webhookdelivery_retry_dead")
            + (f"?{request.GET.urlencode()}" if request.GET else ""),
        }
        return super().changelist_view(request, extra_context)

    def retry_dead_view(self, request):
        """Every dead letter of the list as filtered (not only the page shown)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_retry_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        dead = changelist.get_queryset(request).filter(status=WebhookDelivery.Status.DEAD)
        try:
            result = services.deliveries_retry(delivery_ids=list(dead.values_list("id", flat=True)))
        except DomainError as error:
            self.message_user(request, problem(error), messages.ERROR)
        else:
            _report_retry(self, request, result)
        url = reverse("admin:automation_webhookdelivery_changelist")
        return HttpResponseRedirect(url + (f"?{request.GET.urlencode()}" if request.GET else ""))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
