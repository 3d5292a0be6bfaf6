"""Orders: what was sold, to whom, at what price; the life cycle and its history."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 3, "default": 0}


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Card (payment gateway)")
    CASH_ON_DELIVERY = "cod", _("Cash on delivery")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    PAY_AT_STORE = "pay_at_store", _("Pay at the store")
    CASH = "cash", _("Cash (at the till)")
    MARKETPLACE = "marketplace", _("Paid to the marketplace")


class Order(models.Model):
    class Status(models.TextChoices):
        UNCONFIRMED = "unconfirmed", _("Unconfirmed")
        UNFULFILLED = "unfulfilled", _("Unfulfilled")
        PARTIALLY_FULFILLED = "partially_fulfilled", _("Partially fulfilled")
        FULFILLED = "fulfilled", _("Fulfilled")
        ON_HOLD = "on_hold", _("On hold")
        CANCELLED = "cancelled", _("Cancelled")

    class PaymentStatus(models.TextChoices):
        NOT_CHARGED = "not_charged", _("Not charged")
        AWAITING = "awaiting", _("Awaiting payment")
        AUTHORIZED = "authorized", _("Authorized")
        PARTIALLY_PAID = "partially_paid", _("Partially paid")
        PAID = "paid", _("Paid")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
        REFUNDED = "refunded", _("Refunded")

    number = models.CharField(_("number"), max_length=32, unique=True, null=True, blank=True)
    channel = models.ForeignKey(
        "commerce.Channel", on_delete=models.PROTECT, related_name="+", verbose_name=_("channel")
    )
    # One order per cart at most, whatever retries or notifications race: the database says so.
    cart = models.OneToOneField(
        "orders.Cart",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="order",
        verbose_name=_("cart"),
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("customer"),
    )
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.UNFULFILLED
    )
    status_before_hold = models.CharField(max_length=20, blank=True, editable=False)
    payment_status = models.CharField(
        _("payment status"),
        max_length=20,
        choices=PaymentStatus.choices,
        default=PaymentStatus.NOT_CHARGED,
    )
    payment_method = models.CharField(
        _("payment method"), max_length=20, choices=PaymentMethod.choices
    )
    currency = models.CharField(_("currency"), max_length=3)
    prices_include_tax = models.BooleanField(_("prices include tax"))
    subtotal = models.DecimalField(_("goods after discounts"), **MONEY)
    discount_total = models.DecimalField(_("discounts"), **MONEY)
    shipping_total = models.DecimalField(_("shipping"), **MONEY)
    tax_total = models.DecimalField(_("tax"), **MONEY)
    total = models.DecimalField(_("total"), **MONEY)
    authorized_total = models.DecimalField(_("authorized, not yet captured"), **MONEY)
    paid_total = models.DecimalField(_("paid"), **MONEY)
    refunded_total = models.DecimalField(_("refunded"), **MONEY)
    tax_bands = models.JSONField(
        _("tax by rate"), encoder=DjangoJSONEncoder, default=list, blank=True
    )
    discounts = models.JSONField(_("discounts applied"), encoder=DjangoJSONEncoder, default=list)
    shipping_address = models.JSONField(_("shipping address"), null=True, blank=True)
    billing_address = models.JSONField(_("billing address"), null=True, blank=True)
    shipping_method = models.ForeignKey(
        "orders.ShippingMethod",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("shipping method"),
    )
    shipping_method_name = models.CharField(_("shipping"), max_length=100, blank=True)
    pickup_location = models.ForeignKey(
        "inventory.StockLocation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("pickup store"),
    )
    note = models.CharField(_("customer's note"), max_length=500, blank=True)
    external_id = models.CharField(
        _("marketplace order id"),
        max_length=100,
        blank=True,
        help_text=_("The order's id in the marketplace it came from."),
    )
    routing = models.JSONField(
        _("routing decisions"),
        encoder=DjangoJSONEncoder,
        default=list,
        blank=True,
        help_text=_("Which locations fulfil the order, and why."),
    )
    flagged = models.BooleanField(_("needs follow-up"), default=False)
    flag_reason = models.CharField(_("follow-up reason"), max_length=250, blank=True)
    placed_at = models.DateTimeField(_("placed"), default=timezone.now, db_index=True)
    paid_at = models.DateTimeField(_("paid in full"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-placed_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-placed_at"], name="order_customer_recent"),
            models.Index(fields=["channel", "status", "-placed_at"], name="order_channel_status"),
            models.Index(fields=["flagged"], condition=Q(flagged=True), name="order_flagged"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(total__gte=0) & Q(paid_total__gte=0) & Q(refunded_total__gte=0),
                name="order_totals_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded_total__lte=models.F("paid_total")),
                name="order_refund_at_most_paid",
            ),
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=~Q(external_id=""),
                name="order_external_id_once_per_channel",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"

    @property
    def reference(self) -> str:
        """What inventory files the order's allocation under."""
        return f"order:{self.number}"

    @property
    def balance_due(self):
        return self.total - (self.paid_total - self.refunded_total)


class OrderLine(models.Model):
    """A snapshot of what was sold: later catalogue edits do not change a placed order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        "catalog.ProductVariant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    sku = models.CharField(_("SKU"), max_length=64)
    product_name = models.CharField(_("product"), max_length=250)
    variant_name = models.CharField(_("variant"), max_length=250, blank=True)
    tax_class = models.CharField(_("tax class"), max_length=50)
    quantity = models.PositiveIntegerField(_("quantity"))
    quantity_fulfilled = models.PositiveIntegerField(_("fulfilled"), default=0)
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=3)
    discount = models.DecimalField(_("discount"), **MONEY)
    amount = models.DecimalField(_("line amount"), **MONEY)
    tax_rate = models.DecimalField(_("tax rate"), max_digits=6, decimal_places=5)
    tax = models.DecimalField(_("tax"), **MONEY)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="order_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(quantity_fulfilled__lte=models.F("quantity")),
                name="order_line_fulfilled_at_most_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} x {self.quantity}"


class OrderHistory(models.Model):
    """The order's timeline: placed, paid, edited, held, flagged, cancelled, refunded…"""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(_("what"), max_length=40)
    message = models.CharField(_("message"), max_length=500)
    data = models.JSONField(_("details"), encoder=DjangoJSONEncoder, default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("order history entry")
        verbose_name_plural = _("order history")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.message
