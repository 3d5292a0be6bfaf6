"""The inventory back office. Counters are read-only here: adjustments and counts are actions that
call the services, so every change is locked, ledgered and signalled like any other."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from catalog.admin import ProductVariantAdmin
from catalog.models import ProductVariant
from commerce.admin_helpers import run_each
from commerce.errors import DomainError
from inventory import services
from inventory.errors import InvalidStockOperation
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    Reservation,
    SeasonalThreshold,
    Stock,
    StockLocation,
    StockMovement,
    StockPolicy,
    Supplier,
    SupplierItem,
    Transfer,
    TransferLine,
)
from inventory.selectors import merchant_today, stock_with_availability


def _with_availability(queryset):
    return stock_with_availability(queryset)


@admin.register(StockLocation)
class StockLocationAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "kind",
        "region",
        "ships_to_customers",
        "pickup_enabled",
        "counts_for_online",
        "routing_priority",
        "is_active",
    ]
    list_filter = ["kind", "pickup_enabled", "ships_to_customers", "is_active"]
    search_fields = ["code", "name", "city", "region"]
    filter_horizontal = ["channels"]


class StockAdjustForm(forms.Form):
    delta = forms.IntegerField(
        label=_("Change on hand by"), help_text=_("Negative to remove units.")
    )
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[
            (r, StockMovement.Reason(r).label)
            for r in (
                StockMovement.Reason.ADJUSTMENT,
                StockMovement.Reason.RECEIPT,
                StockMovement.Reason.RETURN_RESTOCK,
            )
        ],
    )
    note = forms.CharField(label=_("Note"), max_length=250, required=False)


class StockCountForm(forms.Form):
    quantity = forms.IntegerField(label=_("Counted quantity on hand"), min_value=0)
    note = forms.CharField(label=_("Note"), max_length=250, required=False)


@admin.register(Stock)
class StockAdmin(admin.ModelAdmin):
    list_display = [
        "variant",
        "location",
        "on_hand",
        "allocated",
        "held_units",
        "safety_stock",
        "available",
        "signal",
        "updated_at",
    ]
    list_filter = ["location", "signal"]
    search_fields = ["variant__sku", "variant__product__name", "location__code"]
    list_select_related = ["variant", "location"]
    readonly_fields = ["variant", "location", "on_hand", "allocated", "signal"]
    fields = [
        "variant",
        "location",
        "on_hand",
        "allocated",
        "safety_stock",
        "low_stock_threshold",
        "signal",
    ]
    actions = ["adjust", "count"]
    show_full_result_count = False

    def get_queryset(self, request):
        return _with_availability(super().get_queryset(request))

    @admin.display(description=_("in carts"), ordering="held")
    def held_units(self, obj):
        return obj.held

    @admin.display(description=_("available"), ordering="available_units")
    def available(self, obj):
        return obj.available_units

    def has_add_permission(self, request):
        return False  # stock rows appear with the first receipt, adjustment or count

    def _row_action(self, request, queryset, form_class, apply, title):
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                done, failed = 0, []
                for stock in queryset.select_related("variant", "location"):
                    try:
                        apply(stock, form.cleaned_data)
                        done += 1
                    except DomainError as error:
                        failed.append(
                            f"{stock.variant.sku} @ {stock.location.code}: {error.detail}"
                        )
                if done:
                    self.message_user(
                        request,
                        _("%(count)s stock row(s) changed.") % {"count": done},
                        messages.SUCCESS,
                    )
                for failure in failed:
                    self.message_user(request, failure, messages.ERROR)
                return None
        else:
            form = form_class()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "queryset": queryset.select_related("variant", "location"),
            "title": title,
            "action": request.POST.get("action"),
        }
        return TemplateResponse(request, "admin/inventory/stock_action.html", context)

    @admin.action(description=_("Adjust on hand (with a reason)"), permissions=["change"])
    def adjust(self, request, queryset):
        return self._row_action(
            request,
            queryset,
            StockAdjustForm,
            lambda stock, data: services.stock_adjust(
                variant_id=stock.variant_id,
                location_id=stock.location_id,
                delta=data["delta"],
                reason=data["reason"],
                note=data["note"],
                actor=request.user,
            ),
            _("Adjust stock"),
        )

    @admin.action(description=_("Enter a count (sets on hand)"), permissions=["change"])
    def count(self, request, queryset):
        return self._row_action(
            request,
            queryset,
            StockCountForm,
            lambda stock, data: services.stock_set_levels(
                levels=[services.StockLevel(stock.variant_id, stock.location_id, data["quantity"])],
                note=data["note"],
                actor=request.user,
            ),
            _("Enter counted quantities"),
        )


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    """The ledger: append-only, so read-only."""

    list_display = [
        "created_at",
        "stock",
        "reason",
        "on_hand_delta",
        "allocated_delta",
        "on_hand_after",
        "allocated_after",
        "reference",
        "actor",
    ]
    list_filter = ["reason", "stock__location"]
    search_fields = ["stock__variant__sku", "reference", "note"]
    list_select_related = ["stock__variant", "stock__location", "actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "kind",
        "state",
        "variant",
        "location",
        "quantity",
        "expires_at",
        "created_at",
    ]
    list_filter = ["kind", "state", "location"]
    search_fields = ["reference", "variant__sku"]
    list_select_related = ["variant", "location"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StockPolicy)
class StockPolicyAdmin(admin.ModelAdmin):
    list_display = ["variant", "low_stock_threshold"]
    search_fields = ["variant__sku"]
    autocomplete_fields = ["variant"]


SEASONAL_FIELDS = ["name", "starts_on", "ends_on", "variant", "category", "location", "threshold"]


class SeasonalThresholdForm(forms.ModelForm):
    """The rule's checks are the service's (`seasonal_threshold_validate`), shown field by
    field; a field that failed its own check (a malformed date) keeps that message alone."""

    class Meta:
        model = SeasonalThreshold
        fields = SEASONAL_FIELDS

    def clean(self):
        data = super().clean()
        try:
            services.seasonal_threshold_validate(
                name=data.get("name") or "",
                starts_on=data.get("starts_on"),
                ends_on=data.get("ends_on"),
                threshold=data.get("threshold"),
                variant=data.get("variant"),
                category=data.get("category"),
            )
        except InvalidStockOperation as error:
            for field, problems in error.errors.items():
                if field not in self.errors:
                    self.add_error(field, problems)
        return self.cleaned_data


@admin.register(SeasonalThreshold)
class SeasonalThresholdAdmin(admin.ModelAdmin):
    form = SeasonalThresholdForm
    fields = SEASONAL_FIELDS
    list_display = [
        "name",
        "starts_on",
        "ends_on",
        "variant",
        "category",
        "location",
        "threshold",
        "active_today",
    ]
    list_filter = ["location"]
    search_fields = ["name", "variant__sku", "category__name"]
    list_select_related = ["variant", "category", "location"]
    autocomplete_fields = ["variant", "category"]
    date_hierarchy = "starts_on"
    show_full_result_count = False

    @admin.display(description=_("active today"), boolean=True)
    def active_today(self, obj):
        return obj.starts_on <= merchant_today() <= obj.ends_on

    def save_model(self, request, obj, form, change):
        services.seasonal_threshold_save(
            seasonal_threshold=obj, **{name: form.cleaned_data[name] for name in SEASONAL_FIELDS}
        )


class StockInline(admin.TabularInline):
    """A variant's stock across all locations at a glance, on the variant's page."""

    model = Stock
    extra = 0
    can_delete = False
    fields = [
        "location",
        "on_hand",
        "allocated",
        "held_units",
        "safety_stock",
        "available",
        "low_stock_threshold",
        "signal",
    ]
    readonly_fields = ["location", "on_hand", "allocated", "held_units", "available", "signal"]
    verbose_name_plural = _("stock across locations")

    def get_queryset(self, request):
        return _with_availability(super().get_queryset(request)).select_related("location")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("in carts"))
    def held_units(self, obj):
        return obj.held

    @admin.display(description=_("available"))
    def available(self, obj):
        return obj.available_units


# The catalogue cannot know about stock (it sits below the inventory), so the inventory extends
# the variant page it registered.
admin.site.unregister(ProductVariant)


@admin.register(ProductVariant)
class ProductVariantWithStockAdmin(ProductVariantAdmin):
    inlines = [StockInline, *ProductVariantAdmin.inlines]


class SupplierItemInline(admin.TabularInline):
    model = SupplierItem
    extra = 0
    autocomplete_fields = ["variant"]


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "contact_name", "email", "lead_time_days", "is_active"]
    search_fields = ["code", "name"]
    inlines = [SupplierItemInline]


class TransferLineInline(admin.TabularInline):
    model = TransferLine
    extra = 0
    autocomplete_fields = ["variant"]


def _run_each(model_admin, request, queryset, operation, label):
    """Apply a service to each selected row, reporting per row what worked and what did not
    (with the service's own messages, field by field)."""
    run_each(
        model_admin,
        request,
        queryset,
        operation,
        # "%(count)s" is left for run_each to fill in.
        _("%(count)s %(label)s.") % {"count": "%(count)s", "label": label},
        _("%(number)s: %(problem)s"),
    )


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "source",
        "destination",
        "state",
        "created_at",
        "dispatched_at",
        "received_at",
    ]
    list_filter = ["state", "source", "destination"]
    readonly_fields = ["state", "dispatched_at", "received_at"]
    inlines = [TransferLineInline]
    actions = ["dispatch_selected", "receive_selected", "cancel_selected"]

    @admin.action(description=_("Dispatch (stock leaves the source)"), permissions=["change"])
    def dispatch_selected(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda t: services.transfer_dispatch(transfer=t, actor=request.user),
            _("dispatched"),
        )

    @admin.action(
        description=_("Receive (stock arrives at the destination)"), permissions=["change"]
    )
    def receive_selected(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda t: services.transfer_receive(transfer=t, actor=request.user),
            _("received"),
        )

    @admin.action(description=_("Cancel draft transfers"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        _run_each(
            self, request, queryset, lambda t: services.transfer_cancel(transfer=t), _("cancelled")
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.state != Transfer.State.DRAFT:
            return [*self.readonly_fields, "source", "destination", "note"]
        return self.readonly_fields


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    extra = 0
    autocomplete_fields = ["variant"]
    readonly_fields = ["received_quantity"]


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "supplier",
        "location",
        "state",
        "expected_at",
        "created_at",
        "sent_at",
    ]
    list_filter = ["state", "supplier", "location"]
    readonly_fields = ["state", "sent_at"]
    inlines = [PurchaseOrderLineInline]
    actions = ["send_selected", "receive_remaining", "cancel_selected"]
    change_list_template = "admin/inventory/purchaseorder/change_list.html"

    @admin.action(description=_("Send to the supplier"), permissions=["change"])
    def send_selected(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda po: services.purchase_order_send(purchase_order=po),
            _("sent"),
        )

    @admin.action(description=_("Receive everything still open"), permissions=["change"])
    def receive_remaining(self, request, queryset):
        def receive(po):
            remaining = {
                line.variant_id: line.quantity - line.received_quantity for line in po.lines.all()
            }
            services.purchase_order_receive(
                purchase_order=po,
                received={v: q for v, q in remaining.items() if q > 0},
                actor=request.user,
            )

        _run_each(self, request, queryset, receive, _("received"))

    @admin.action(description=_("Cancel"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda po: services.purchase_order_cancel(purchase_order=po),
            _("cancelled"),
        )

    def get_urls(self):
        from django.urls import path

        return [
            path(
                "replenishment/",
                self.admin_site.admin_view(self.replenishment_view),
                name="inventory_replenishment",
            ),
            *super().get_urls(),
        ]

    def replenishment_view(self, request):
        """Suggestions per location, and a button that turns them into draft purchase orders."""
        from django.shortcuts import redirect

        if not self.has_view_permission(request):
            return redirect("admin:index")
        code = request.GET.get("location") or ""
        location = StockLocation.objects.filter(code=code).first() if code else None
        suggestions = services.replenishment_suggestions(location=location)
        if request.method == "POST" and self.has_add_permission(request):
            orders = services.replenishment_create_purchase_orders(suggestions=suggestions)
            self.message_user(
                request,
                _("%(count)s draft purchase order(s) created.") % {"count": len(orders)},
                messages.SUCCESS,
            )
            return redirect("admin:inventory_purchaseorder_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Replenishment"),
            "suggestions": suggestions,
            "locations": StockLocation.objects.filter(is_active=True),
            "location": location,
            "can_create": self.has_add_permission(request),
        }
        return TemplateResponse(request, "admin/inventory/replenishment.html", context)
