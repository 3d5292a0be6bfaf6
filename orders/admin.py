"""The orders back office.

Orders, carts, payments, notifications and idempotency keys are read-only here: what was sold and
paid is written by the checkout and the gateway, and staff change an order only through the
actions below, which call `orders.services` — so every change is locked, recorded in the order's
history and published exactly as through the staff API. Tax rates, discounts and shipping
methods are plain settings and edited directly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from commerce.admin_helpers import money, percent, run_each, table, when
from commerce.admin_panels import panels_for
from commerce.models import OutboxEvent
from commerce.money import has_valid_precision, quantize
from orders import services
from orders.models import (
    Cart,
    CartLine,
    Discount,
    DiscountCode,
    IdempotencyRecord,
    Order,
    OrderHistory,
    Payment,
    PaymentAttempt,
    PaymentNotification,
    ShippingMethod,
    ShippingRate,
    TaxRate,
    Transaction,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the application only: listed and viewed, never added, edited or
    deleted by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- Prices: tax rates and discounts ----------------------------------------------------------


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ["tax_class", "country", "region", "rate", "name", "valid_from"]
    list_filter = ["country", "tax_class"]
    search_fields = ["country", "region", "name"]


class DiscountCodeInline(admin.TabularInline):
    model = DiscountCode
    extra = 0
    fields = ["code", "single_use", "customer", "expires_at", "batch", "issued_by", "times_used"]
    readonly_fields = ["issued_by", "times_used"]
    # A raw id, not a select of every customer: one query per page, not one list per row.
    raw_id_fields = ["customer"]


@admin.register(Discount)
class DiscountAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "value", "target", "automatic", "times_used", "is_active"]
    list_filter = ["kind", "target", "automatic", "is_active"]
    search_fields = ["name", "codes__code"]
    filter_horizontal = ["products", "categories", "channels"]
    readonly_fields = ["times_used"]
    inlines = [DiscountCodeInline]


# --- Shipping ---------------------------------------------------------------------------------


class ShippingRateForm(forms.ModelForm):
    class Meta:
        model = ShippingRate
        fields = ["country", "region", "from_threshold", "price"]

    def clean_country(self) -> str:
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise ValidationError(_("Use the two-letter ISO 3166 country code, e.g. JP."))
        return country


class ShippingRateInline(admin.TabularInline):
    model = ShippingRate
    form = ShippingRateForm
    extra = 0


@admin.register(ShippingMethod)
class ShippingMethodAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "channel",
        "basis",
        "free_over",
        "transit_days",
        "position",
        "is_active",
    ]
    list_filter = ["channel", "basis", "is_active"]
    search_fields = ["code", "name"]
    list_select_related = ["channel"]
    inlines = [ShippingRateInline]


# --- Carts ------------------------------------------------------------------------------------


class CartLineInline(ReadOnlyInline):
    model = CartLine
    fields = ["sku", "variant", "quantity", "added_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("variant__product")

    @admin.display(description=_("SKU"))
    def sku(self, obj: CartLine) -> str:
        return obj.variant.sku


@admin.register(Cart)
class CartAdmin(ReadOnlyAdmin):
    """Carts as the buyer left them. The token is the guest's only credential for the cart, so
    only its first characters are shown."""

    list_display = [
        "token_prefix",
        "channel",
        "buyer",
        "line_count",
        "state",
        "closed_for_payment",
        "last_activity_at",
    ]
    list_filter = ["state", ("payment_closed_at", admin.EmptyFieldListFilter), "channel"]
    search_fields = ["^token", "email", "customer__email"]
    search_help_text = _("The first characters of the token, or an e-mail address.")
    list_select_related = ["channel", "customer"]
    show_full_result_count = False
    inlines = [CartLineInline]
    fields = [
        ("token_prefix", "state", "order_link"),
        ("channel", "language"),
        ("customer", "email", "phone"),
        ("shipping_method", "pickup_location", "discount_code"),
        ("shipping_address", "billing_address"),
        "note",
        ("created_at", "last_activity_at"),
        ("checkout_started_at", "hold_expires_at", "completed_at"),
        ("payment_closed_at", "payment_closed_reason"),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(line_count=Count("lines"))

    @admin.display(description=_("closed for payment"), boolean=True, ordering="payment_closed_at")
    def closed_for_payment(self, obj: Cart) -> bool:
        """Too many declined cards (card testing): see Payment attempts."""
        return obj.payment_closed_at is not None

    @admin.display(description=_("token"))
    def token_prefix(self, obj: Cart) -> str:
        return f"{obj.token[:8]}…"

    @admin.display(description=_("customer / e-mail"), ordering="email")
    def buyer(self, obj: Cart) -> str:
        email = obj.email or (obj.customer.email if obj.customer_id else "")
        name = obj.customer.full_name if obj.customer_id else ""
        return " · ".join(part for part in (name, email) if part) or "—"

    @admin.display(description=_("lines"), ordering="line_count")
    def line_count(self, obj: Cart) -> int:
        return obj.line_count

    @admin.display(description=_("order"))
    def order_link(self, obj: Cart):
        order = Order.objects.filter(cart=obj).only("pk", "number").first()
        if order is None:
            return "—"
        url = reverse("admin:orders_order_change", args=[order.pk])
        return format_html('<a href="{}">{}</a>', url, order)


# --- Orders -----------------------------------------------------------------------------------


class OrdersForm(forms.Form):
    """An action's form, checked against each selected order."""

    def __init__(self, *args: Any, orders: list[Order], **kwargs: Any) -> None:
        self.orders = orders
        super().__init__(*args, **kwargs)

    def clean_amount(self) -> Decimal | None:
        amount = self.cleaned_data.get("amount")
        if amount is None:
            return None
        if amount <= 0:
            raise ValidationError(_("Give a positive amount."))
        for order in self.orders:
            if not has_valid_precision(amount, order.currency):
                raise ValidationError(
                    _("Order %(number)s: %(amount)s is not an amount in %(currency)s.")
                    % {"number": order, "amount": amount, "currency": order.currency}
                )
        return amount


class CaptureForm(OrdersForm):
    amount = forms.DecimalField(
        label=_("Amount to capture"),
        max_digits=14,
        decimal_places=3,
        required=False,
        help_text=_("Empty: everything authorized and not yet captured."),
    )


class RefundForm(OrdersForm):
    amount = forms.DecimalField(label=_("Amount to refund"), max_digits=14, decimal_places=3)
    reason = forms.CharField(label=_("Reason"), max_length=250)

    def __init__(self, *args: Any, orders: list[Order], **kwargs: Any) -> None:
        super().__init__(*args, orders=orders, **kwargs)
        if len(orders) == 1:
            self.fields["amount"].initial = quantize(
                orders[0].paid_total - orders[0].refunded_total, orders[0].currency
            )

    def clean_amount(self) -> Decimal | None:
        amount = super().clean_amount()
        too_much = [
            _("Order %(number)s: at most %(refundable)s can be refunded.")
            % {"number": order, "refundable": money(refundable, order.currency)}
            for order in self.orders
            if amount > (refundable := order.paid_total - order.refunded_total)
        ]
        if too_much:
            raise ValidationError(too_much)
        return amount


class SettleForm(OrdersForm):
    amount = forms.DecimalField(
        label=_("Amount received"),
        max_digits=14,
        decimal_places=3,
        required=False,
        help_text=_("Empty: each order's balance due."),
    )
    note = forms.CharField(
        label=_("Note"),
        max_length=250,
        required=False,
        help_text=_("E.g. the courier's slip or the bank's transfer reference."),
    )


class ReasonForm(OrdersForm):
    reason = forms.CharField(label=_("Reason"), max_length=250)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are read-only: the page has no editable field and no save button, and changes
    happen only through the actions (changelist, or the order page's own action box)."""

    list_display = [
        "number",
        "placed_at",
        "channel",
        "buyer",
        "status",
        "payment_status",
        "total_display",
        "flagged",
    ]
    list_display_links = ["number"]
    list_filter = [
        "channel",
        "status",
        "payment_status",
        "payment_method",
        "flagged",
        "placed_at",
    ]
    date_hierarchy = "placed_at"
    search_fields = [
        "number",
        "email",
        "customer__email",
        "customer__last_name",
        "customer__first_name",
        "customer__last_name_reading",
        "customer__first_name_reading",
        "shipping_address__last_name",
        "shipping_address__first_name",
        "billing_address__last_name",
        "billing_address__first_name",
        "lines__sku",
    ]
    search_help_text = _("Order number, e-mail, the buyer's name (or its reading), or a SKU.")
    list_select_related = ["channel", "customer"]
    show_full_result_count = False
    change_form_template = "admin/orders/order/change_form.html"
    action_template = "admin/orders/order/action.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("number", "channel", "placed_at"),
                    ("status", "payment_status", "payment_method"),
                    ("flagged", "flag_reason"),
                    ("customer", "email", "phone", "language"),
                    "note",
                    ("paid_at", "cancelled_at", "updated_at"),
                ]
            },
        ),
        (_("Lines"), {"fields": ["lines_table"]}),
        (_("Totals"), {"fields": ["totals_table"]}),
        (
            _("Delivery"),
            {
                "fields": [
                    ("shipping_address_text", "billing_address_text"),
                    ("shipping_method_name", "pickup_location"),
                ]
            },
        ),
        (_("Fulfilments"), {"fields": ["fulfilments_table"]}),
        (_("Routing decisions"), {"fields": ["routing_table"]}),
        (_("Payments and transactions"), {"fields": ["transactions_table"]}),
        (_("Timeline"), {"fields": ["timeline_table"]}),
    ]
    actions = [
        "capture_selected",
        "refund_selected",
        "settle_selected",
        "confirm_selected",
        "hold_selected",
        "release_selected",
        "flag_selected",
        "unflag_selected",
        "cancel_selected",
    ]

    # --- permissions: read-only page, no add, no delete -------------------------------------

    def has_add_permission(self, request) -> bool:
        return False  # orders are placed by the checkout

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # what was sold is kept; orders are cancelled, never deleted

    def has_change_permission(self, request, obj=None) -> bool:
        # The change permission is what the actions need (asked without an object); an order's
        # page is always the view-only one, so no field can be saved from it.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    # --- changelist ---------------------------------------------------------------------------

    @admin.display(description=_("customer / e-mail"), ordering="email")
    def buyer(self, obj: Order) -> str:
        address = obj.billing_address or obj.shipping_address or {}
        name = obj.customer.full_name if obj.customer_id else ""
        if not name:
            name = " ".join(p for p in (address.get("first_name"), address.get("last_name")) if p)
        email = obj.email or (obj.customer.email if obj.customer_id else "")
        return " · ".join(part for part in (name, email or obj.phone) if part) or "—"

    @admin.display(description=_("total"), ordering="total")
    def total_display(self, obj: Order) -> str:
        return money(obj.total, obj.currency)

    # --- the order page -----------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "order_actions": self._page_actions(request),
            "order_changelist_url": reverse("admin:orders_order_changelist"),
            "extra_panels": panels_for("order", request, self.get_object(request, object_id))
            if object_id
            else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        # The phone order and customer 360 views, before the object URLs that would take them.
        return [*admin_phone.urls(self), *admin_customer.urls(self), *super().get_urls()]

    def _page_actions(self, request) -> list[tuple[str, str]]:
        """The actions the user may run, for the order page's action box."""
        if not self.has_change_permission(request):
            return []
        return [(name, label) for name, label in self.get_action_choices(request) if name]

    @admin.display(description=_("lines"))
    def lines_table(self, obj: Order):
        c = obj.currency
        return table(
            [
                _("SKU"),
                _("product"),
                _("quantity"),
                _("fulfilled"),
                _("unit price"),
                _("discount"),
                _("tax rate"),
                _("tax"),
                _("line amount"),
            ],
            [
                (
                    line.sku,
                    " / ".join(p for p in (line.product_name, line.variant_name) if p),
                    line.quantity,
                    line.quantity_fulfilled,
                    money(line.unit_price, c),
                    money(line.discount, c),
                    percent(line.tax_rate),
                    money(line.tax, c),
                    money(line.amount, c),
                )
                for line in obj.lines.all()
            ],
        )

    @admin.display(description=_("totals"))
    def totals_table(self, obj: Order):
        c = obj.currency
        rows: list[tuple[Any, Any]] = []
        for applied in obj.discounts:
            label = applied.get("name", "")
            if applied.get("code"):
                label = f"{label} ({applied['code']})"
            rows.append((_("Discount: %(name)s") % {"name": label}, money(applied["amount"], c)))
        rows.append((_("Discounts"), money(obj.discount_total, c)))
        rows.append((_("Goods after discounts"), money(obj.subtotal, c)))
        shipping = _("Shipping")
        if obj.shipping_method_name:
            shipping = f"{shipping} ({obj.shipping_method_name})"
        rows.append((shipping, money(obj.shipping_total, c)))
        for band in obj.tax_bands:
            rows.append(
                (
                    _("Tax at %(rate)s on %(net)s")
                    % {
                        "rate": percent(band["rate"]),
                        "net": money(band.get("net"), c),
                    },
                    money(band.get("tax"), c),
                )
            )
        tax = _("Tax (included in prices)") if obj.prices_include_tax else _("Tax")
        rows.append((tax, money(obj.tax_total, c)))
        rows.append((_("Total"), money(obj.total, c)))
        rows.append((_("Paid"), money(obj.paid_total, c)))
        rows.append((_("Refunded"), money(obj.refunded_total, c)))
        rows.append((_("Authorized, not yet captured"), money(obj.authorized_total, c)))
        rows.append((_("Balance due"), money(obj.balance_due, c)))
        return table([_("what"), _("amount")], rows)

    @staticmethod
    def _address(address: dict | None):
        if not address:
            return "—"
        name = " ".join(p for p in (address.get("last_name"), address.get("first_name")) if p)
        parts = [
            name,
            address.get("company", ""),
            address.get("line1", ""),
            address.get("line2", ""),
            " ".join(
                p
                for p in (
                    address.get("postal_code"),
                    address.get("region"),
                    address.get("city"),
                )
                if p
            ),
            address.get("country", ""),
            address.get("phone", ""),
        ]
        return format_html_join(mark_safe("<br>"), "{}", ((p,) for p in parts if p))

    @admin.display(description=_("shipping address"))
    def shipping_address_text(self, obj: Order):
        return self._address(obj.shipping_address)

    @admin.display(description=_("billing address"))
    def billing_address_text(self, obj: Order):
        return self._address(obj.billing_address)

    @admin.display(description=_("fulfilments"))
    def fulfilments_table(self, obj: Order):
        return admin_fulfilment.order_fulfilments_table(obj)

    @admin.display(description=_("routing decisions"))
    def routing_table(self, obj: Order):
        return admin_fulfilment.order_routing_table(obj)

    @admin.display(description=_("transactions"))
    def transactions_table(self, obj: Order):
        payments = obj.payments.order_by("id").prefetch_related(
            Prefetch("transactions", queryset=Transaction.objects.order_by("created_at", "id"))
        )
        rows = []
        for payment in payments:
            url = reverse("admin:orders_payment_change", args=[payment.pk])
            label = format_html(
                '<a href="{}">{} #{}</a> ({})',
                url,
                payment.get_method_display(),
                payment.pk,
                payment.get_status_display(),
            )
            for t in payment.transactions.all():
                rows.append(
                    (
                        when(t.created_at),
                        label,
                        t.get_kind_display(),
                        t.get_status_display(),
                        money(t.amount, payment.currency),
                        t.gateway_reference or "—",
                        t.source,
                        t.error or t.note or "",
                    )
                )
            if not payment.transactions.all():
                amount = money(payment.amount, payment.currency)
                rows.append(
                    (when(payment.created_at), label, "—", "—", amount, "—", "", payment.error)
                )
        return table(
            [
                _("at"),
                _("payment"),
                _("kind"),
                _("status"),
                _("amount"),
                _("gateway reference"),
                _("reported by"),
                _("note"),
            ],
            rows,
        )

    @admin.display(description=_("timeline"))
    def timeline_table(self, obj: Order):
        entries: list[tuple[Any, int, tuple[Any, ...]]] = []
        for entry in OrderHistory.objects.filter(order=obj).select_related("actor"):
            entries.append(
                (
                    entry.created_at,
                    0,
                    (
                        when(entry.created_at),
                        _("history"),
                        entry.kind,
                        entry.message,
                        entry.actor.get_username() if entry.actor else "",
                    ),
                )
            )
        events = OutboxEvent.objects.filter(subject_type="order", subject_id=str(obj.pk))
        for event in events.order_by("occurred_at", "id"):
            url = reverse("admin:commerce_outboxevent_change", args=[event.pk])
            if event.dispatched_at:
                state = _("dispatched %(at)s") % {"at": when(event.dispatched_at)}
            elif event.attempts:
                state = _("not dispatched yet (%(n)s failed attempts: %(error)s)") % {
                    "n": event.attempts,
                    "error": event.last_error[:200],
                }
            else:
                state = _("not dispatched yet")
            entries.append(
                (
                    event.occurred_at,
                    1,
                    (
                        when(event.occurred_at),
                        _("event"),
                        format_html('<a href="{}">{}</a>', url, event.type),
                        state,
                        "",
                    ),
                )
            )
        entries.sort(key=lambda e: (e[0], e[1]))
        return table(
            [_("at"), _("source"), _("what"), _("details"), _("by")], [e[2] for e in entries]
        )

    # --- actions ------------------------------------------------------------------------------

    def _back(self, request, orders: list[Order]):
        """After an action: back to the order's page when it was run from there."""
        if request.POST.get("_from_order") and len(orders) == 1:
            return redirect(reverse("admin:orders_order_change", args=[orders[0].pk]))
        return None

    def _each(self, request, orders: list[Order], operation, done_message):
        run_each(self, request, orders, operation, done_message, _("Order %(number)s: %(problem)s"))
        return self._back(request, orders)

    def _with_form(self, request, queryset, form_class, title, operation, done_message, note=""):
        orders = list(queryset.select_related("channel").order_by("pk"))
        data = request.POST if "apply" in request.POST else None
        form = form_class(data, orders=orders)
        if form.is_valid():
            return self._each(
                request, orders, lambda o: operation(o, form.cleaned_data), done_message
            )
        rows = [
            {
                "pk": o.pk,
                "number": str(o),
                "channel": o.channel.name,
                "status": o.get_status_display(),
                "payment_status": o.get_payment_status_display(),
                "payment_method": o.get_payment_method_display(),
                "total": money(o.total, o.currency),
                "paid": money(o.paid_total, o.currency),
                "refunded": money(o.refunded_total, o.currency),
                "authorized": money(o.authorized_total, o.currency),
                "due": money(o.balance_due, o.currency),
            }
            for o in orders
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "orders": rows,
            "title": title,
            "note": note,
            "action": request.POST.get("action", ""),
            "from_order": request.POST.get("_from_order", ""),
        }
        return TemplateResponse(request, self.action_template, context)

    @admin.action(description=_("Capture authorized payment"), permissions=["change"])
    def capture_selected(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            CaptureForm,
            _("Capture authorized payments"),
            lambda order, data: services.payment_capture(
                order, amount=data["amount"], actor=request.user
            ),
            ngettext_lazy("%(count)s order captured.", "%(count)s orders captured.", "count"),
        )

    @admin.action(description=_("Refund an amount (with a reason)"), permissions=["change"])
    def refund_selected(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            RefundForm,
            _("Refund"),
            lambda order, data: services.payment_refund(
                order, amount=data["amount"], reason=data["reason"], actor=request.user
            ),
            ngettext_lazy("%(count)s order refunded.", "%(count)s orders refunded.", "count"),
            note=_(
                "Card payments are refunded through the payment provider; cash and transfers "
                "are recorded as paid back by staff."
            ),
        )

    @admin.action(
        description=_("Record payment received (cash on delivery, bank transfer, store)"),
        permissions=["change"],
    )
    def settle_selected(self, request, queryset):
        def settle(order: Order, data: dict) -> None:
            services.payment_settle(
                order, amount=data["amount"], note=data["note"], actor=request.user
            )

        return self._with_form(
            request,
            queryset,
            SettleForm,
            _("Record payment received"),
            settle,
            ngettext_lazy(
                "Payment recorded for %(count)s order.",
                "Payment recorded for %(count)s orders.",
                "count",
            ),
        )

    @admin.action(description=_("Confirm (unconfirmed orders)"), permissions=["change"])
    def confirm_selected(self, request, queryset):
        return self._each(
            request,
            list(queryset.order_by("pk")),
            lambda order: services.order_confirm(order, actor=request.user),
            ngettext_lazy("%(count)s order confirmed.", "%(count)s orders confirmed.", "count"),
        )

    @admin.action(description=_("Put on hold (with a reason)"), permissions=["change"])
    def hold_selected(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            ReasonForm,
            _("Put orders on hold"),
            lambda order, data: services.order_hold(
                order, reason=data["reason"], actor=request.user
            ),
            ngettext_lazy("%(count)s order put on hold.", "%(count)s orders put on hold.", "count"),
        )

    @admin.action(description=_("Release hold"), permissions=["change"])
    def release_selected(self, request, queryset):
        return self._each(
            request,
            list(queryset.order_by("pk")),
            lambda order: services.order_release(order, actor=request.user),
            ngettext_lazy("%(count)s order released.", "%(count)s orders released.", "count"),
        )

    @admin.action(description=_("Flag for follow-up (with a reason)"), permissions=["change"])
    def flag_selected(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            ReasonForm,
            _("Flag orders for follow-up"),
            lambda order, data: services.order_flag(
                order, reason=data["reason"], actor=request.user
            ),
            ngettext_lazy("%(count)s order flagged.", "%(count)s orders flagged.", "count"),
        )

    @admin.action(description=_("Clear the follow-up flag"), permissions=["change"])
    def unflag_selected(self, request, queryset):
        return self._each(
            request,
            list(queryset.order_by("pk")),
            lambda order: services.order_flag(order, reason="", flagged=False, actor=request.user),
            ngettext_lazy("%(count)s order unflagged.", "%(count)s orders unflagged.", "count"),
        )

    @admin.action(description=_("Cancel (with a reason)"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            ReasonForm,
            _("Cancel orders"),
            lambda order, data: services.order_cancel(
                order, reason=data["reason"], actor=request.user
            ),
            ngettext_lazy("%(count)s order cancelled.", "%(count)s orders cancelled.", "count"),
            note=_(
                "The allocated stock goes back; open authorizations are voided and "
                "whatever was paid is refunded."
            ),
        )


# --- Payments, notifications, idempotency keys ------------------------------------------------


class TransactionInline(ReadOnlyInline):
    model = Transaction
    fields = [
        "created_at",
        "kind",
        "status",
        "amount",
        "gateway_reference",
        "source",
        "error",
        "note",
    ]
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "order",
        "method",
        "gateway",
        "amount_display",
        "status",
        "gateway_reference",
    ]
    list_filter = ["method", "status", "gateway"]
    search_fields = ["order__number", "gateway_reference", "idempotency_key"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    # Not the card token: the payment form's one-time credential stays out of the back office.
    fields = [
        ("order", "cart", "status"),
        ("method", "gateway", "amount_display"),
        ("gateway_reference", "idempotency_key"),
        "error",
        ("created_at", "updated_at"),
    ]
    inlines = [TransactionInline]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return money(obj.amount, obj.currency)


class RepeatedDeclinesFilter(admin.SimpleListFilter):
    """Where card testing shows: the client addresses and cards with several declines."""

    title = _("repeated declines")
    parameter_name = "repeated"

    def lookups(self, request, model_admin):
        return [
            ("client", _("from a client address declined 3 times or more")),
            ("card", _("with a card declined 3 times or more")),
        ]

    def queryset(self, request, queryset):
        field = {"client": "client_ip", "card": "token_fingerprint"}.get(self.value())
        if field is None:
            return queryset
        repeated = (
            PaymentAttempt.objects.filter(outcome=PaymentAttempt.Outcome.DECLINED)
            .exclude(**{field: ""})
            .values(field)
            .annotate(n=Count("id"))
            .filter(n__gte=3)
            .values(field)
        )
        return queryset.filter(**{f"{field}__in": repeated})


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    """Every card payment checkout sent to the gateway or refused before it (too many
    declines), for the fraud checks. The card is a keyed hash of its token, never the token:
    the same hash is the same card token."""

    list_display = [
        "created_at",
        "outcome",
        "amount_display",
        "channel",
        "customer",
        "client_ip",
        "card",
        "cart",
        "reason",
    ]
    list_filter = ["outcome", RepeatedDeclinesFilter, "channel"]
    search_fields = ["client_ip", "token_fingerprint", "customer__email", "cart__email"]
    search_help_text = _("A client address, a card fingerprint or an e-mail address.")
    list_select_related = ["channel", "customer", "cart"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: PaymentAttempt) -> str:
        return money(obj.amount, obj.currency)

    @admin.display(description=_("card"), ordering="token_fingerprint")
    def card(self, obj: PaymentAttempt) -> str:
        return obj.token_fingerprint[:12] or "—"


@admin.register(PaymentNotification)
class PaymentNotificationAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "gateway", "type", "event_id", "result"]
    list_filter = ["gateway", "type"]
    search_fields = ["event_id", "result"]
    date_hierarchy = "received_at"
    show_full_result_count = False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["scope", "key", "response_status", "created_at", "expires_at", "locked_until"]
    list_filter = ["response_status"]
    search_fields = ["scope", "key"]
    show_full_result_count = False


# Fulfilments and carriers, the phone order view and the customer 360 page: they use the helpers
# above, so they are imported (and register themselves) last.
from orders import admin_customer, admin_fulfilment, admin_phone  # noqa: E402
