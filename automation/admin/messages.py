"""Back office for messages: templates with a live preview over a real order, per-channel
switches, and the log (also shown on the order page and the customer 360 page)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from automation.messages import defaults, kinds
from automation.messages.rendering import render, render_message
from automation.messages.selectors import (
    latest_order,
    messages_of_customer,
    messages_of_order,
    preview_context,
)
from automation.messages.services import (
    TEMPLATE_FIELDS,
    message_send_test,
    messages_send_again,
    template_save,
    template_validate,
)
from automation.models import Message, MessageTemplate, NotificationSetting
from automation.models.messages import Medium
from commerce.admin_panels import Panel, register_panel
from commerce.errors import ValidationFailed


class MessageTemplateForm(forms.ModelForm):
    kind = forms.CharField(
        label=gettext_lazy("message kind"),
        max_length=50,
        widget=forms.TextInput(attrs={"list": "message-kinds"}),
        help_text=gettext_lazy(
            "One of the notifications (listed as you type), or a name of your own for a "
            "marketing message that automation rules send."
        ),
    )

    class Meta:
        model = MessageTemplate
        fields = ["kind", "medium", "language", "channel", "subject", "body_text", "body_html"]

    def clean(self):
        data = super().clean()
        try:
            template_validate(data)
        except ValidationFailed as error:
            for field, field_messages in error.errors.items():
                for message in field_messages:
                    self.add_error(field if field in self.fields else None, message)
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ["kind", "medium", "language", "channel", "version", "updated_at", "updated_by"]
    list_select_related = ["channel", "updated_by"]
    list_filter = ["medium", "language", "channel", "kind"]
    search_fields = ["kind", "subject", "body_text"]
    readonly_fields = ["version", "updated_at", "updated_by"]
    actions = ["send_me_a_test"]
    change_form_template = "admin/automation/messagetemplate/change_form.html"

    def get_changeform_initial_data(self, request):
        """A new template starts as a copy of the built-in wording of the kind asked for."""
        initial = super().get_changeform_initial_data(request)
        kind = request.GET.get("kind", kinds.ORDER_CONFIRMATION)
        language = request.GET.get("language", "en")
        medium = request.GET.get("medium", Medium.EMAIL)
        wording = defaults.wording(kind, language)
        initial.update(kind=kind, language=language, medium=medium)
        if wording is not None:
            if medium == Medium.EMAIL:
                initial.update(subject=wording.subject, body_text=wording.text)
            else:
                initial.update(body_text=wording.short)
        return initial

    def save_model(self, request, obj, form, change):
        template_save(obj, changed=form.changed_data if change else None, actor=request.user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "known_kinds": kinds.kind_choices(),
            "preview_url": reverse("admin:automation_messagetemplate_preview"),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="automation_messagetemplate_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request):
        """The form as it is being typed, rendered over the channel's latest order: a JSON
        answer with the subject, text and HTML, or the errors with their lines."""
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        form = MessageTemplateForm(request.POST)
        form.is_valid()
        errors = {
            f: [str(e) for e in form.errors.get(f, [])] for f in TEMPLATE_FIELDS if f in form.errors
        }
        if errors:
            return JsonResponse({"errors": errors})
        data = form.cleaned_data
        language = data.get("language") or "en"
        context, order = preview_context(data.get("kind", ""), language, data.get("channel"))
        rendered = render_message(
            subject=data.get("subject", ""),
            text=data.get("body_text", ""),
            html=data.get("body_html", ""),
            context=context,
        )
        html = rendered.html or render(
            defaults.HTML_LAYOUT,
            {**context, "subject": rendered.subject, "body": rendered.text},
            html=True,
        )
        return JsonResponse(
            {
                "order": order.number if order else _("sample data (no order yet)"),
                "subject": rendered.subject,
                "text": rendered.text,
                "html": html,
            }
        )

    @admin.action(description=gettext_lazy("Send me a test (to my e-mail, over the latest order)"))
    def send_me_a_test(self, request, queryset):
        if not request.user.email:
            self.message_user(
                request, _("Your staff account has no e-mail address."), messages.ERROR
            )
            return
        for template in queryset:
            message_send_test(
                kind=template.kind,
                to=request.user.email,
                medium=Medium.EMAIL,
                order=latest_order(template.channel),
                language=template.language,
                channel=template.channel,
            )
        self.message_user(
            request,
            _("%(count)s test message(s) queued to %(email)s; see the message log.")
            % {"count": queryset.count(), "email": request.user.email},
        )


@admin.register(NotificationSetting)
class NotificationSettingAdmin(admin.ModelAdmin):
    list_display = ["channel", "kind", "enabled"]
    list_select_related = ["channel"]
    list_editable = ["enabled"]
    list_filter = ["channel", "enabled"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "kind":
            return forms.ChoiceField(choices=kinds.kind_choices(), label=db_field.verbose_name)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "medium",
        "recipient",
        "status",
        "reason",
        "order_link",
        "sent_at",
    ]
    list_filter = ["status", "kind", "medium", "category", "channel"]
    search_fields = ["recipient", "order__number", "subject", "provider_id"]
    date_hierarchy = "created_at"
    list_select_related = ["order"]
    readonly_fields = [
        "kind",
        "category",
        "medium",
        "language",
        "recipient",
        "channel",
        "customer",
        "order",
        "fulfilment",
        "event",
        "status",
        "reason",
        "due_at",
        "claimed_at",
        "attempts",
        "template",
        "template_version",
        "subject",
        "body_text",
        "provider",
        "provider_id",
        "created_at",
        "sent_at",
    ]
    exclude = ["context"]
    actions = ["send_again"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("order"), ordering="order__number")
    def order_link(self, obj: Message):
        if obj.order_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[obj.order_id]),
            obj.order.number,
        )

    @admin.action(description=gettext_lazy("Send failed messages again now"))
    def send_again(self, request, queryset):
        ids = messages_send_again(message_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("%(count)s message(s) queued again.") % {"count": len(ids)})


def _message_rows(queryset) -> str:
    rows = list(queryset[:50])
    return render_to_string("admin/automation/message_panel.html", {"messages_sent": rows})


register_panel(
    "order",
    Panel(
        title=gettext_lazy("Messages to the customer"),
        render=lambda request, order: _message_rows(messages_of_order(order.pk)),
        permission="automation.view_message",
    ),
)
register_panel(
    "customer_360",
    Panel(
        title=gettext_lazy("Messages"),
        render=lambda request, customer: _message_rows(messages_of_customer(customer.pk)),
        permission="automation.view_message",
    ),
)
