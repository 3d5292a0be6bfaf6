"""The back office of automation: rules (with the ready-made library, publishing, shadow
mode, simulation), the run log, approvals, staff alerts, back-in-stock requests and the global
pause. Writes go through automation.rules.services."""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from automation.models import (
    Approval,
    AutomationHide,
    AutomationSwitch,
    BackInStockRequest,
    Rule,
    RuleRun,
    RunStep,
    SimulationReport,
    StaffAlert,
)
from automation.rules import library
from automation.rules.definition import SUBJECTS
from automation.rules.selectors import runs_of
from automation.rules.services import (
    alert_resolve,
    approval_decide,
    automation_pause,
    flood_approve,
    rule_publish,
    rule_save,
    rule_set_status,
)
from automation.rules.simulation import simulate
from automation.rules.triggers import trigger_choices
from commerce.admin_panels import Panel, register_panel
from commerce.errors import ValidationFailed

HELP_CONDITIONS = gettext_lazy(
    "One per line, all must hold: order.total >= 5000 · customer.segments contains vip · "
    "channel.code in web-jp, app · any cart.lines where sku = TEA-001 · count orders in 30 days = 0 · "
    "a = 1 or b = 2 · not … · event.level changed from low to out. Over an empty list, any is "
    "false, all and none are true."
)
HELP_STEPS = gettext_lazy(
    "One per line: an action with name=value arguments (send_message kind=…, issue_code "
    "discount=… expires_hours=72, flag_order reason=…, hold_order, tag_customer tag=…, "
    "award_points points=…, alert_staff title=…, hide_product, restore_product, "
    "notify_back_in_stock, draft_purchase_order, adjust_price floor_margin=…, call_webhook "
    "endpoint=…), wait 30m / 24h / 3d, wait until 09:00 [on mon,fri], wait for order.paid "
    "timeout 24h [or stop], stop, stop if …, goto N if …"
)


class RuleForm(forms.ModelForm):
    trigger = forms.ChoiceField(label=gettext_lazy("trigger"), choices=())
    subject = forms.ChoiceField(
        label=gettext_lazy("about"),
        required=False,
        choices=[("", gettext_lazy("the event's subject"))] + [(s, s) for s in SUBJECTS],
    )
    exit_on = forms.CharField(
        label=gettext_lazy("exit on events"),
        required=False,
        help_text=gettext_lazy(
            "Comma-separated: a waiting run for the same customer, cart or order ends on these."
        ),
    )
    schedule_at = forms.CharField(label=gettext_lazy("schedule: at (HH:MM)"), required=False)
    schedule_every_minutes = forms.IntegerField(
        label=gettext_lazy("schedule: every N minutes"), required=False, min_value=1
    )
    schedule_weekdays = forms.CharField(
        label=gettext_lazy("schedule: weekdays"), required=False, help_text="mon,tue,…"
    )
    time_zone = forms.CharField(
        label=gettext_lazy("time zone (IANA)"), required=False, initial="Asia/Tokyo"
    )
    date_field = forms.ChoiceField(
        label=gettext_lazy("date: days after"),
        required=False,
        choices=[
            ("", "-"),
            ("last_order", gettext_lazy("the last order")),
            ("registered", gettext_lazy("registration")),
        ],
    )
    date_offset_days = forms.IntegerField(
        label=gettext_lazy("date: number of days"), required=False
    )
    audience_segment = forms.CharField(label=gettext_lazy("audience: segment code"), required=False)
    audience_consent = forms.ChoiceField(
        label=gettext_lazy("audience: with consent for"),
        required=False,
        choices=[("", "-"), ("email", "e-mail"), ("sms", "SMS"), ("line", "LINE")],
    )
    audience_channel = forms.CharField(label=gettext_lazy("audience: channel code"), required=False)

    class Meta:
        model = Rule
        fields = [
            "name",
            "description",
            "trigger",
            "conditions_text",
            "guard_text",
            "steps_text",
            "reentry",
            "reentry_days",
            "flood_limit_per_minute",
        ]
        widgets = {
            "conditions_text": forms.Textarea(
                attrs={"rows": 5, "cols": 90, "style": "font-family: monospace"}
            ),
            "guard_text": forms.Textarea(
                attrs={"rows": 3, "cols": 90, "style": "font-family: monospace"}
            ),
            "steps_text": forms.Textarea(
                attrs={"rows": 8, "cols": 90, "style": "font-family: monospace"}
            ),
        }
        help_texts = {"conditions_text": HELP_CONDITIONS, "steps_text": HELP_STEPS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trigger"].choices = trigger_choices()
        definition = self.instance.definition or {}
        schedule = definition.get("schedule") or {}
        date = definition.get("date") or {}
        audience = definition.get("audience") or {}
        self.initial.update(
            {
                "subject": definition.get("subject", ""),
                "exit_on": ", ".join(definition.get("exit_on") or []),
                "schedule_at": schedule.get("at", ""),
                "schedule_every_minutes": schedule.get("every_minutes"),
                "schedule_weekdays": ",".join(schedule.get("weekdays") or []),
                "time_zone": schedule.get("time_zone") or date.get("time_zone") or "Asia/Tokyo",
                "date_field": date.get("field", ""),
                "date_offset_days": date.get("offset_days"),
                "audience_segment": audience.get("segment", ""),
                "audience_consent": audience.get("consent", ""),
                "audience_channel": audience.get("channel", ""),
            }
        )

    def extra_definition(self) -> dict:
        data = self.cleaned_data
        extra: dict = {"subject": data.get("subject") or None}
        extra["exit_on"] = [t.strip() for t in (data.get("exit_on") or "").split(",") if t.strip()]
        if data.get("trigger") == "schedule":
            extra["schedule"] = {
                "at": data.get("schedule_at") or "",
                "every_minutes": data.get("schedule_every_minutes"),
                "weekdays": [
                    d.strip() for d in (data.get("schedule_weekdays") or "").split(",") if d.strip()
                ],
                "time_zone": data.get("time_zone") or "Asia/Tokyo",
            }
        if data.get("trigger") == "date":
            extra["date"] = {
                "field": data.get("date_field"),
                "offset_days": data.get("date_offset_days") or 0,
                "time_zone": data.get("time_zone") or "Asia/Tokyo",
            }
        audience = {
            key: data.get(f"audience_{key}")
            for key in ("segment", "consent", "channel")
            if data.get(f"audience_{key}")
        }
        if audience:
            extra["audience"] = audience
        return {k: v for k, v in extra.items() if v not in (None, [], "")}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            from automation.rules.services import definition_from

            base = {
                k: v
                for k, v in (self.instance.definition or {}).items()
                if k
                not in (
                    "trigger",
                    "conditions",
                    "guard",
                    "steps",
                    "subject",
                    "exit_on",
                    "schedule",
                    "date",
                    "audience",
                )
            }
            definition_from(
                trigger=cleaned["trigger"],
                conditions_text=cleaned.get("conditions_text", ""),
                guard_text=cleaned.get("guard_text", ""),
                steps_text=cleaned.get("steps_text", ""),
                extra={**base, **self.extra_definition()},
            )
        except ValidationFailed as failure:
            for field, errors in failure.errors.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


class StepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    can_delete = False
    fields = ["at", "index", "kind", "name", "status", "detail_pretty"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("detail"))
    def detail_pretty(self, obj: RunStep):
        return format_html(
            "<pre style='white-space: pre-wrap'>{}</pre>",
            json.dumps(obj.detail, ensure_ascii=False, indent=1, default=str),
        )


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ["name", "status", "trigger", "published", "template", "runs_link", "updated_at"]
    list_filter = ["status", "trigger", "template"]
    search_fields = ["name", "description"]
    readonly_fields = ["status", "published", "paused_reason"]
    actions = ["publish", "activate", "shadow", "pause", "approve_flood", "copy"]
    change_form_template = "admin/automation/rule/change_form.html"
    change_list_template = "admin/automation/rule/change_list.html"

    @admin.display(description=gettext_lazy("published"))
    def published(self, obj: Rule):
        return f"v{obj.published_version.number}" if obj.published_version_id else "—"

    @admin.display(description=gettext_lazy("runs"))
    def runs_link(self, obj: Rule):
        return format_html(
            '<a href="{}?rule__id__exact={}">{}</a>',
            reverse("admin:automation_rulerun_changelist"),
            obj.pk,
            _("Run log"),
        )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("published_version")

    def save_model(self, request, obj: Rule, form: RuleForm, change: bool) -> None:
        obj.definition = {}  # the form holds every part of the definition
        rule_save(rule=obj, extra=form.extra_definition())

    def get_urls(self):
        return [
            path(
                "<int:rule_id>/simulate/",
                self.admin_site.admin_view(self.simulate_view),
                name="automation_rule_simulate",
            ),
            path(
                "library/",
                self.admin_site.admin_view(self.library_view),
                name="automation_rule_library",
            ),
            path(
                "pause-all/",
                self.admin_site.admin_view(self.pause_all_view),
                name="automation_rule_pause_all",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        switch = AutomationSwitch.objects.filter(pk=1).first()
        extra_context = {
            **(extra_context or {}),
            "automation_paused": bool(switch and switch.paused),
        }
        return super().changelist_view(request, extra_context)

    def simulate_view(self, request: HttpRequest, rule_id: int):
        rule = get_object_or_404(Rule.objects.select_related("published_version"), pk=rule_id)
        if not self.has_view_permission(request, rule):
            return HttpResponseRedirect(reverse("admin:index"))
        days = request.GET.get("days", "30")
        days = int(days) if days.isdigit() and 0 < int(days) <= 400 else 30
        since = timezone.now() - timedelta(days=days)
        report = simulate(rule, since=since)
        if request.method == "POST":
            SimulationReport.objects.create(
                rule=rule, since=since, report=report, created_by=request.user
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Simulation of “%(rule)s” over %(days)s days")
            % {"rule": rule.name, "days": days},
            "rule": rule,
            "days": days,
            "report": report,
            "report_json": json.dumps(report, ensure_ascii=False, indent=1, default=str),
            "opts": Rule._meta,
        }
        return render(request, "admin/automation/rule/simulation.html", context)

    def library_view(self, request: HttpRequest):
        if request.method == "POST" and self.has_add_permission(request):
            key = request.POST.get("key", "")
            if key in library.LIBRARY:
                rule = library.install(key)
                self.message_user(
                    request,
                    _("“%(name)s” added as a draft: read it, simulate it, then switch it on.")
                    % {"name": rule.name},
                )
                return HttpResponseRedirect(reverse("admin:automation_rule_change", args=[rule.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Ready-made automations"),
            "library": library.LIBRARY.values(),
            "opts": Rule._meta,
        }
        return render(request, "admin/automation/rule/library.html", context)

    def pause_all_view(self, request: HttpRequest):
        if request.method == "POST" and self.has_change_permission(request):
            paused = request.POST.get("paused") == "1"
            automation_pause(paused=paused, actor=request.user)
            self.message_user(
                request,
                _("All automation is paused.") if paused else _("Automation is running again."),
                messages.WARNING if paused else messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:automation_rule_changelist"))

    def _each(self, request, queryset, operation, done_message):
        done = 0
        for rule in queryset:
            try:
                operation(rule)
                done += 1
            except ValidationFailed as failure:
                self.message_user(
                    request, f"{rule}: {failure.errors or failure.detail}", messages.ERROR
                )
        if done:
            self.message_user(request, done_message % {"count": done})

    @admin.action(description=gettext_lazy("Publish the working copy as a new version"))
    def publish(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda rule: rule_publish(rule=rule, actor=request.user),
            _("%(count)s rule(s) published."),
        )

    @admin.action(description=gettext_lazy("Switch on"))
    def activate(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda rule: rule_set_status(rule=rule, status=Rule.Status.ACTIVE),
            _("%(count)s rule(s) switched on."),
        )

    @admin.action(description=gettext_lazy("Shadow: log intended actions, execute none"))
    def shadow(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda rule: rule_set_status(rule=rule, status=Rule.Status.SHADOW),
            _("%(count)s rule(s) in shadow mode."),
        )

    @admin.action(description=gettext_lazy("Pause"))
    def pause(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda rule: rule_set_status(
                rule=rule,
                status=Rule.Status.PAUSED,
                reason=_("Paused by %(user)s.") % {"user": request.user},
            ),
            _("%(count)s rule(s) paused."),
        )

    @admin.action(description=gettext_lazy("Approve the flood and go on"))
    def approve_flood(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda rule: flood_approve(rule=rule),
            _("%(count)s rule(s) resumed; their held runs go on."),
        )

    @admin.action(description=gettext_lazy("Copy as a new draft"))
    def copy(self, request, queryset):
        def duplicate(rule: Rule) -> None:
            rule_save(
                name=_("Copy of %(name)s") % {"name": rule.name},
                description=rule.description,
                trigger=rule.definition.get("trigger", rule.trigger),
                conditions_text=rule.conditions_text,
                guard_text=rule.guard_text,
                steps_text=rule.steps_text,
                reentry=rule.reentry,
                reentry_days=rule.reentry_days,
                extra={
                    k: v
                    for k, v in rule.definition.items()
                    if k not in ("trigger", "conditions", "guard", "steps")
                },
            )

        self._each(request, queryset, duplicate, _("%(count)s rule(s) copied as drafts."))


@admin.register(RuleRun)
class RuleRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "rule",
        "version_number",
        "status",
        "shadow",
        "subject",
        "order_link",
        "customer_id",
        "reason_short",
    ]
    list_filter = ["status", "shadow", "rule", ("started_at", admin.DateFieldListFilter)]
    search_fields = [
        "=subject_id",
        "=customer_id",
        "=order_id",
        "=product_id",
        "reason",
        "rule__name",
    ]
    date_hierarchy = "started_at"
    inlines = [StepInline]
    list_select_related = ["rule", "version"]
    readonly_fields = [f.name for f in RuleRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("version"))
    def version_number(self, obj: RuleRun):
        return f"v{obj.version.number}"

    @admin.display(description=gettext_lazy("subject"))
    def subject(self, obj: RuleRun):
        return f"{obj.subject_type}:{obj.subject_id}"

    @admin.display(description=gettext_lazy("order"))
    def order_link(self, obj: RuleRun):
        if not obj.order_id:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[obj.order_id]),
            obj.order_id,
        )

    @admin.display(description=gettext_lazy("reason"))
    def reason_short(self, obj: RuleRun):
        return (obj.reason or "")[:120]


@admin.register(Approval)
class ApprovalAdmin(admin.ModelAdmin):
    list_display = ["created_at", "summary", "action", "status", "run", "decided_by", "decided_at"]
    list_filter = ["status", "action"]
    readonly_fields = [f.name for f in Approval._meta.fields]
    actions = ["approve", "reject"]
    list_select_related = ["run", "decided_by"]

    def has_add_permission(self, request):
        return False

    def _decide(self, request, queryset, approve: bool):
        done = 0
        for approval in queryset.filter(status=Approval.Status.PENDING):
            approval_decide(approval=approval, approve=approve, actor=request.user)
            done += 1
        self.message_user(request, _("%(count)s decided.") % {"count": done})

    @admin.action(description=gettext_lazy("Approve"))
    def approve(self, request, queryset):
        self._decide(request, queryset, True)

    @admin.action(description=gettext_lazy("Reject"))
    def reject(self, request, queryset):
        self._decide(request, queryset, False)


@admin.register(StaffAlert)
class StaffAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "title", "rule", "order_id", "customer_id", "resolved_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter), "rule"]
    search_fields = ["title", "body", "=order_id", "=customer_id"]
    readonly_fields = [f.name for f in StaffAlert._meta.fields]
    actions = ["resolve"]
    list_select_related = ["rule"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=gettext_lazy("Mark resolved"))
    def resolve(self, request, queryset):
        count = alert_resolve(alert_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("%(count)s alert(s) resolved.") % {"count": count})


@admin.register(BackInStockRequest)
class BackInStockRequestAdmin(admin.ModelAdmin):
    list_display = ["created_at", "variant", "channel", "email", "notified_at"]
    list_filter = ["channel", ("notified_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "variant__sku"]
    list_select_related = ["variant", "channel"]
    readonly_fields = [f.name for f in BackInStockRequest._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AutomationHide)
class AutomationHideAdmin(admin.ModelAdmin):
    list_display = ["product", "channel", "hidden_at", "restored_at", "run"]
    list_filter = ["channel", ("restored_at", admin.EmptyFieldListFilter)]
    list_select_related = ["product", "channel", "run"]
    readonly_fields = [f.name for f in AutomationHide._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(SimulationReport)
class SimulationReportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "rule", "since", "created_by"]
    list_select_related = ["rule", "created_by"]
    readonly_fields = [f.name for f in SimulationReport._meta.fields]

    def has_add_permission(self, request):
        return False


def _run_rows(queryset) -> str:
    return render_to_string("admin/automation/run_panel.html", {"runs": list(queryset[:50])})


register_panel(
    "order",
    Panel(
        title=gettext_lazy("Automation runs"),
        render=lambda request, order: _run_rows(runs_of(order_id=order.pk)),
        permission="automation.view_rulerun",
    ),
)
register_panel(
    "customer_360",
    Panel(
        title=gettext_lazy("Automation runs"),
        render=lambda request, customer: _run_rows(runs_of(customer_id=customer.pk)),
        permission="automation.view_rulerun",
    ),
)
register_panel(
    "product",
    Panel(
        title=gettext_lazy("Automation runs"),
        render=lambda request, product: _run_rows(runs_of(product_id=product.pk)),
        permission="automation.view_rulerun",
    ),
)
