"""The customers back office: one profile page per person, with merge, export and erase.

Saves and actions go through `customers.services`, so e-mail and phone are normalised, history
is written and events are published exactly as through the API.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from commerce.errors import DomainError, ValidationFailed
from customers import services
from customers.models import (
    Address,
    Consent,
    ConsentChange,
    Customer,
    CustomerSpend,
    EarnRate,
    ExternalIdentifier,
    HistoryEntry,
    LoyaltyAccount,
    LoyaltyProgramme,
    Medium,
    Merge,
    PointEntry,
    Purchase,
    Segment,
    Tag,
    Tier,
)
from customers.normalise import normalise_email, normalise_phone
from customers.segments import rule_compile, segment_preview, segment_recompute
from customers.selectors import customer_search
from customers.services.profiles import PROFILE_FIELDS


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class IdentifierInline(admin.TabularInline):
    model = ExternalIdentifier
    extra = 0
    fields = ["channel", "kind", "value", "created_at"]
    readonly_fields = ["created_at"]


class ConsentInline(ReadOnlyInline):
    model = Consent
    fields = ["medium", "granted", "text_version", "changed_at"]
    readonly_fields = fields
    verbose_name_plural = _("consent now")


class ConsentChangeInline(ReadOnlyInline):
    model = ConsentChange
    fields = ["occurred_at", "medium", "granted", "source", "text_version", "actor"]
    readonly_fields = fields
    classes = ["collapse"]


class SpendInline(ReadOnlyInline):
    model = CustomerSpend
    fields = ["currency", "order_count", "total_spent", "total_refunded"]
    readonly_fields = fields


class PurchaseInline(ReadOnlyInline):
    model = Purchase
    fields = ["paid_at", "order_number", "channel", "currency", "total", "refunded"]
    readonly_fields = fields
    classes = ["collapse"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("channel")


class HistoryInline(ReadOnlyInline):
    model = HistoryEntry
    fields = ["created_at", "kind", "message", "actor"]
    readonly_fields = fields
    classes = ["collapse"]


class CustomerForm(forms.ModelForm):
    """Normalises contact details and checks the e-mail is free, with errors on the field."""

    class Meta:
        model = Customer
        fields = [*PROFILE_FIELDS, "acquired_channel", "tags"]

    def clean_email(self):
        try:
            email = normalise_email(self.cleaned_data.get("email"))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc
        others = Customer.objects.filter(state=Customer.State.ACTIVE, email=email)
        if email and others.exclude(pk=self.instance.pk).exists():
            raise ValidationError(_("Another customer already has this e-mail address."))
        if not email and self.instance.pk and self.instance.user_id:
            raise ValidationError(_("A customer with an account needs an e-mail address."))
        return email

    def clean(self):
        if self.instance.pk and self.instance.state != Customer.State.ACTIVE:
            raise ValidationError(_("This profile has been merged or erased and cannot change."))
        cleaned = super().clean()
        if "phone" in cleaned:  # here, not in clean_phone: the channel is cleaned after it
            channel = cleaned.get("acquired_channel")
            try:
                cleaned["phone"] = normalise_phone(
                    cleaned["phone"], channel.country if channel else None
                )
            except ValidationError as exc:
                self.add_error("phone", exc)
        return cleaned


class AddressForm(forms.ModelForm):
    """The same checks as the address service: an ISO country code and an E.164 phone."""

    class Meta:
        model = Address
        fields = [
            "first_name",
            "last_name",
            "first_name_reading",
            "last_name_reading",
            "company",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
            "is_default_shipping",
            "is_default_billing",
        ]

    def clean_country(self):
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise ValidationError(_("Use the two-letter ISO 3166 country code, e.g. JP."))
        return country

    def clean(self):
        cleaned = super().clean()
        if "phone" in cleaned and "country" in cleaned:
            try:
                cleaned["phone"] = normalise_phone(cleaned["phone"], cleaned["country"])
            except ValidationError as exc:
                self.add_error("phone", exc)
        return cleaned


class AddressInline(admin.StackedInline):
    model = Address
    form = AddressForm
    extra = 0
    fields = [
        ("last_name", "first_name"),
        ("last_name_reading", "first_name_reading"),
        "company",
        ("postal_code", "country"),
        ("region", "city"),
        "line1",
        "line2",
        "phone",
        ("is_default_shipping", "is_default_billing"),
    ]


class TierFilter(admin.SimpleListFilter):
    title = _("loyalty tier")
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        return [
            (t.pk, f"{t.programme}: {t.name}") for t in Tier.objects.select_related("programme")
        ]

    def queryset(self, request, queryset):
        return queryset.filter(loyalty__tier=self.value()) if self.value() else queryset


class ConsentFilter(admin.SimpleListFilter):
    title = _("opted in to")
    parameter_name = "opted_in"

    def lookups(self, request, model_admin):
        return Medium.choices

    def queryset(self, request, queryset):
        if self.value() not in Medium.values:
            return queryset
        return queryset.filter(
            Exists(
                Consent.objects.filter(customer=OuterRef("pk"), medium=self.value(), granted=True)
            )
        )


class SegmentFilter(admin.SimpleListFilter):
    title = _("segment")
    parameter_name = "segment"

    def lookups(self, request, model_admin):
        return [(s.pk, s.name) for s in Segment.objects.all()]

    def queryset(self, request, queryset):
        return queryset.filter(memberships__segment=self.value()) if self.value() else queryset


class MergeForm(forms.Form):
    survivor = forms.TypedChoiceField(
        label=_("Keep this profile"),
        coerce=int,
        widget=forms.RadioSelect,
        help_text=_(
            "The other profile's addresses, consents, purchases, points and identifiers "
            "move to it; the other profile is closed."
        ),
    )


class EraseForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=250, required=False)
    confirm = forms.BooleanField(
        label=_("I understand that the personal data of these customers is removed for good."),
    )


class PointsForm(forms.Form):
    points = forms.IntegerField(label=_("Points (negative to remove)"))
    reason = forms.CharField(label=_("Reason"), max_length=250)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerForm
    list_display = [
        "__str__",
        "phone",
        "rfm_segment",
        "tier",
        "order_count",
        "lifetime",
        "last_order_at",
        "churn_risk",
        "state",
    ]
    list_filter = [
        "state",
        "rfm_segment",
        "churn_risk",
        TierFilter,
        ConsentFilter,
        SegmentFilter,
        "acquired_channel",
        "tags",
        "language",
    ]
    search_fields = ["last_name", "first_name", "email"]  # widened in get_search_results
    search_help_text = _("Name, reading (kana), e-mail, phone in any format, or member card.")
    list_select_related = ["loyalty__tier"]
    autocomplete_fields = ["tags"]
    inlines = [
        IdentifierInline,
        AddressInline,
        ConsentInline,
        ConsentChangeInline,
        SpendInline,
        PurchaseInline,
        HistoryInline,
    ]
    readonly_fields = [
        "state",
        "merged_into",
        "acquired_at",
        "login",
        "loyalty_summary",
        "segment_list",
        "order_count",
        "first_order_at",
        "last_order_at",
        "primary_currency",
        "lifetime_value",
        "average_order_value",
        "average_days_between_orders",
        "churn_risk_from",
        "churn_risk",
        "rfm_scores",
        "rfm_segment",
        "scores_computed_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("last_name", "first_name"),
                    ("last_name_reading", "first_name_reading"),
                    ("email", "phone"),
                    ("language", "acquired_channel", "acquired_at"),
                    "tags",
                    "notes",
                    ("state", "merged_into", "login"),
                ]
            },
        ),
        (_("Loyalty and segments"), {"fields": ["loyalty_summary", "segment_list"]}),
        (
            _("Purchases and value"),
            {
                "fields": [
                    ("order_count", "first_order_at", "last_order_at"),
                    ("primary_currency", "lifetime_value", "average_order_value"),
                    ("average_days_between_orders", "churn_risk_from", "churn_risk"),
                    ("rfm_scores", "rfm_segment", "scores_computed_at"),
                ]
            },
        ),
    ]
    actions = ["merge_selected", "export_selected", "adjust_points", "erase_selected"]

    def get_search_results(self, request, queryset, search_term):
        return customer_search(queryset, search_term), False

    @admin.display(description=_("tier"), ordering="loyalty__tier__threshold")
    def tier(self, obj: Customer):
        account = getattr(obj, "loyalty", None)
        return account.tier.name if account and account.tier else "—"

    @admin.display(description=_("lifetime value"), ordering="lifetime_value")
    def lifetime(self, obj: Customer) -> str:
        if not obj.primary_currency:
            return "—"
        return f"{obj.lifetime_value.normalize():f} {obj.primary_currency}"

    @admin.display(description=_("storefront login"))
    def login(self, obj: Customer) -> str:
        if obj.user_id is None:
            return _("guest (no login)")
        last = obj.user.last_login
        return _("yes, last sign-in %(when)s") % {"when": last or _("never")}

    @admin.display(description=_("loyalty"))
    def loyalty_summary(self, obj: Customer):
        account = LoyaltyAccount.objects.filter(customer=obj).select_related("tier").first()
        if account is None:
            return _("not a member")
        entries = (
            reverse("admin:customers_pointentry_changelist") + f"?account__id__exact={account.pk}"
        )
        return format_html(
            '{} {} · {} {} · {} <a href="{}">{}</a>',
            account.balance,
            _("points"),
            _("tier"),
            account.tier.name if account.tier else "—",
            _("lifetime %(points)s") % {"points": account.lifetime_points},
            entries,
            _("point ledger"),
        )

    @admin.display(description=_("segments"))
    def segment_list(self, obj: Customer):
        segments = obj.segments.all()
        if not segments:
            return "—"
        return format_html_join(", ", "{}", ((s.name,) for s in segments))

    @admin.display(description=_("R / F / M"))
    def rfm_scores(self, obj: Customer) -> str:
        if obj.rfm_recency is None:
            return "—"
        return f"{obj.rfm_recency} / {obj.rfm_frequency} / {obj.rfm_monetary}"

    def save_model(self, request, obj, form, change):
        fields = {
            name: form.cleaned_data[name] for name in PROFILE_FIELDS if name in form.cleaned_data
        }
        try:
            if change:
                services.customer_update(obj, actor=request.user, **fields)
                if "acquired_channel" in form.changed_data:
                    Customer.objects.filter(pk=obj.pk).update(
                        acquired_channel=form.cleaned_data["acquired_channel"]
                    )
            else:
                created = services.customer_create(
                    channel=form.cleaned_data.get("acquired_channel"), actor=request.user, **fields
                )
                obj.pk = created.pk
            obj.refresh_from_db()
        except DomainError as exc:  # a concurrent change beat the form's checks
            raise ValidationError(str(exc)) from exc

    # --- actions -----------------------------------------------------------------------------

    def _action_page(self, request, queryset, form, title, template_note=""):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "queryset": queryset,
            "title": title,
            "note": template_note,
            "action": request.POST.get("action"),
        }
        return TemplateResponse(request, "admin/customers/customer/action.html", context)

    @admin.action(description=_("Merge the two selected profiles"), permissions=["change"])
    def merge_selected(self, request, queryset):
        customers = list(queryset.order_by("pk")[:3])
        if len(customers) != 2:
            self.message_user(request, _("Select exactly two profiles to merge."), messages.ERROR)
            return None
        form = MergeForm(request.POST if "apply" in request.POST else None)
        form.fields["survivor"].choices = [(c.pk, f"#{c.pk} {c}") for c in customers]
        if form.is_valid():
            survivor = next(c for c in customers if c.pk == form.cleaned_data["survivor"])
            duplicate = next(c for c in customers if c.pk != survivor.pk)
            try:
                services.customer_merge(survivor=survivor, duplicate=duplicate, actor=request.user)
            except DomainError as exc:
                self.message_user(request, str(exc.detail), messages.ERROR)
                return None
            self.message_user(
                request,
                _("Merged #%(dup)s into #%(kept)s.") % {"dup": duplicate.pk, "kept": survivor.pk},
                messages.SUCCESS,
            )
            return redirect(reverse("admin:customers_customer_change", args=[survivor.pk]))
        return self._action_page(request, customers, form, _("Merge two customer profiles"))

    @admin.action(description=_("Export selected customers' data (JSON)"), permissions=["view"])
    def export_selected(self, request, queryset):
        data = [services.customer_export(c) for c in queryset[:500]]
        body = json.dumps(data[0] if len(data) == 1 else data, cls=DjangoJSONEncoder, indent=2)
        response = HttpResponse(body, content_type="application/json")
        name = f"customer-{data[0]['profile']['id']}.json" if len(data) == 1 else "customers.json"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @admin.action(description=_("Adjust loyalty points (with a reason)"), permissions=["change"])
    def adjust_points(self, request, queryset):
        form = PointsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done, failed = 0, []
            for customer in queryset:
                try:
                    services.points_adjust(customer, actor=request.user, **form.cleaned_data)
                    done += 1
                except DomainError as exc:
                    failed.append(f"#{customer.pk}: {exc.detail}")
            self.message_user(request, _("Points adjusted for %(n)s customers.") % {"n": done})
            if failed:
                self.message_user(request, "; ".join(failed), messages.ERROR)
            return None
        return self._action_page(request, queryset, form, _("Adjust loyalty points"))

    @admin.action(description=_("Erase personal data of selected customers"), permissions=["erase"])
    def erase_selected(self, request, queryset):
        form = EraseForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            erased = 0
            for customer in queryset:
                try:
                    services.customer_erase(
                        customer, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                    erased += 1
                except DomainError as exc:
                    self.message_user(request, f"#{customer.pk}: {exc.detail}", messages.ERROR)
            self.message_user(request, _("Erased %(n)s customers.") % {"n": erased})
            return None
        note = _(
            "Purchases and the point ledger are kept for accounting; names, contact "
            "details, addresses, identifiers, notes and the login are removed."
        )
        return self._action_page(request, queryset, form, _("Erase customers"), note)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # people are erased (anonymised), never deleted: accounting keeps purchases

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm("customers.delete_customer")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class EarnRateInline(admin.TabularInline):
    model = EarnRate
    extra = 0


class TierInline(admin.TabularInline):
    model = Tier
    extra = 0


@admin.register(LoyaltyProgramme)
class LoyaltyProgrammeAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "auto_enrol", "points_expire_after_days"]
    inlines = [EarnRateInline, TierInline]


class PointEntryInline(ReadOnlyInline):
    model = PointEntry
    fields = [
        "created_at",
        "kind",
        "points",
        "remaining",
        "expires_at",
        "reference",
        "reason",
        "actor",
    ]
    readonly_fields = fields


@admin.register(LoyaltyAccount)
class LoyaltyAccountAdmin(admin.ModelAdmin):
    list_display = ["customer", "balance", "lifetime_points", "tier", "joined_at"]
    list_filter = ["tier", "programme"]
    list_select_related = ["customer", "tier"]
    search_fields = ["customer__email", "customer__last_name", "customer__last_name_reading"]
    readonly_fields = ["customer", "programme", "tier", "balance", "lifetime_points", "joined_at"]
    inlines = [PointEntryInline]

    def has_add_permission(self, request) -> bool:
        return False  # customers join through the programme (services.loyalty_join)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PointEntry)
class PointEntryAdmin(admin.ModelAdmin):
    """The point ledger: read-only; staff change points with the customer action."""

    list_display = ["created_at", "account", "kind", "points", "remaining", "reference", "reason"]
    list_filter = ["kind"]
    list_select_related = ["account__customer"]
    search_fields = ["reference", "account__customer__email"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "slug", "description", "rule", "is_active"]

    def clean_rule(self):
        rule = self.cleaned_data["rule"]
        try:
            rule_compile(rule)
        except ValidationFailed as exc:
            raise ValidationError(exc.errors.get("rule", [str(exc.detail)])) from exc
        return rule


class SegmentPreviewForm(forms.Form):
    rule = forms.JSONField(
        label=_("Rule"),
        required=False,  # [] is a rule: every active customer
        widget=forms.Textarea(attrs={"rows": 8, "cols": 90}),
        help_text=Segment._meta.get_field("rule").help_text,
    )

    def clean_rule(self):
        if self.cleaned_data.get("rule") is None:
            self.cleaned_data["rule"] = []
        return SegmentForm.clean_rule(self)


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "slug", "member_count", "computed_at", "is_active"]
    readonly_fields = ["member_count", "computed_at", "preview_link"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["recompute_selected"]

    @admin.display(description=_("preview"))
    def preview_link(self, obj: Segment):
        url = reverse("admin:customers_segment_preview")
        if obj.pk:
            url += f"?segment={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Try a rule and count its members"))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        segment_recompute(obj)

    @admin.action(description=_("Recompute members now"), permissions=["change"])
    def recompute_selected(self, request, queryset):
        for segment in queryset:
            segment_recompute(segment)
        self.message_user(request, _("Recomputed %(n)s segments.") % {"n": queryset.count()})

    def get_urls(self):
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="customers_segment_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request):
        if not self.has_view_permission(request):
            return redirect("admin:index")
        initial = {}
        segment = Segment.objects.filter(pk=request.GET.get("segment") or None).first()
        if segment is not None:
            initial["rule"] = segment.rule
        form = SegmentPreviewForm(request.POST or None, initial=initial)
        count = sample = None
        if request.method == "POST" and form.is_valid():
            count, sample = segment_preview(form.cleaned_data["rule"], sample=20)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "count": count,
            "sample": sample,
            "segment": segment,
            "title": _("Preview a segment rule"),
        }
        return TemplateResponse(request, "admin/customers/segment/preview.html", context)


@admin.register(Merge)
class MergeAdmin(admin.ModelAdmin):
    list_display = ["merged_at", "survivor", "duplicate", "actor"]
    readonly_fields = ["survivor", "duplicate", "snapshot", "moved", "actor", "merged_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
