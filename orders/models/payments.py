"""Payments and their transactions, gateway notifications and checkout idempotency keys."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models.orders import MONEY, Order, PaymentMethod


class Payment(models.Model):
    """One attempt to be paid for a cart, then for its order.

    Written before the gateway is called, with the key the gateway de-duplicates on, and with
    the priced cart (`snapshot`): whichever comes first — the storefront's completion call, a
    retry, the gateway's notification or `reconcile_payments` — makes the one order from it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Sent to the gateway, no answer yet")
        AUTHORIZED = "authorized", _("Authorized")
        CAPTURED = "captured", _("Captured")
        AWAITING = "awaiting", _("Awaiting settlement by staff")
        DECLINED = "declined", _("Declined")
        FAILED = "failed", _("Failed")
        VOIDED = "voided", _("Voided")

    cart = models.ForeignKey(
        "orders.Cart", on_delete=models.SET_NULL, null=True, blank=True, related_name="payments"
    )
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    method = models.CharField(_("method"), max_length=20, choices=PaymentMethod.choices)
    gateway = models.CharField(_("gateway"), max_length=30, blank=True)
    idempotency_key = models.CharField(_("gateway idempotency key"), max_length=64, unique=True)
    gateway_reference = models.CharField(_("gateway reference"), max_length=100, blank=True)
    token = models.CharField(_("payment token"), max_length=100, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=3)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    error = models.CharField(_("gateway's reason"), max_length=250, blank=True)
    snapshot = models.JSONField(encoder=DjangoJSONEncoder, default=dict, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(order__isnull=True, status__in=["pending", "authorized", "captured"]),
                name="payment_without_order",
            ),
            models.Index(fields=["gateway", "gateway_reference"], name="payment_gateway_ref"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount} {self.currency} ({self.status})"


class Transaction(models.Model):
    """One operation on a payment, as the gateway (or staff, for cash and transfers) reported
    it. An order's paid and refunded totals are sums of these, never typed in."""

    class Kind(models.TextChoices):
        AUTHORIZE = "authorize", _("Authorization")
        CAPTURE = "capture", _("Capture")
        VOID = "void", _("Void")
        REFUND = "refund", _("Refund")

    class Status(models.TextChoices):
        SUCCESS = "success", _("Succeeded")
        FAILURE = "failure", _("Failed")

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="transactions")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=3)
    gateway_reference = models.CharField(_("gateway reference"), max_length=100, blank=True)
    error = models.CharField(_("reason"), max_length=250, blank=True)
    source = models.CharField(_("reported by"), max_length=20, default="api")
    note = models.CharField(_("note"), max_length=250, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")
        ordering = ["created_at", "id"]
        constraints = [
            # The same gateway operation reported twice (the API's answer and a notification,
            # or a notification delivered twice) is one transaction.
            models.UniqueConstraint(
                fields=["payment", "kind", "gateway_reference"],
                condition=~Q(gateway_reference=""),
                name="transaction_once_per_gateway_operation",
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="transaction_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.status}"


class PaymentAttempt(models.Model):
    """One card payment sent (or refused before it was sent) to the gateway, kept for the
    fraud checks: who tried (cart, customer, client address), with which card (a keyed hash of
    the token, never the token) and what came of it. Checkout counts these rows, not a cache,
    to stop card testing: the limits hold while Redis is down and across processes."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Sent, no answer yet")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        FAILED = "failed", _("The gateway did not answer")
        REFUSED = "refused", _("Refused before the gateway: too many declines")

    payment = models.OneToOneField(
        Payment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attempt",
        verbose_name=_("payment"),
    )
    cart = models.ForeignKey(
        "orders.Cart",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="payment_attempts",
        verbose_name=_("cart"),
    )
    channel = models.ForeignKey(
        "commerce.Channel", on_delete=models.PROTECT, related_name="+", verbose_name=_("channel")
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("customer"),
    )
    # The address as the API's throttles see it (NUM_PROXIES); blank for staff doors.
    client_ip = models.CharField(_("client address"), max_length=64, blank=True)
    token_fingerprint = models.CharField(_("card token fingerprint"), max_length=64, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=3)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    reason = models.CharField(_("reason"), max_length=250, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("payment attempt")
        verbose_name_plural = _("payment attempts")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The three counts checkout makes before each card payment.
            models.Index(fields=["cart", "created_at"], name="attempt_cart_time"),
            models.Index(fields=["client_ip", "created_at"], name="attempt_client_time"),
            models.Index(fields=["token_fingerprint", "created_at"], name="attempt_token_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} {self.amount} {self.currency}"


class PaymentNotification(models.Model):
    """A gateway's notification, kept once per its own event id (providers re-send)."""

    gateway = models.CharField(_("gateway"), max_length=30)
    event_id = models.CharField(_("event id"), max_length=100)
    type = models.CharField(_("type"), max_length=50)
    payload = models.JSONField(_("payload"), encoder=DjangoJSONEncoder)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    result = models.CharField(_("result"), max_length=250, blank=True)

    class Meta:
        verbose_name = _("payment notification")
        verbose_name_plural = _("payment notifications")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "event_id"], name="payment_notification_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.type} {self.event_id}"


class IdempotencyRecord(models.Model):
    """The first response to a request made with an `Idempotency-Key`, per caller."""

    scope = models.CharField(_("caller"), max_length=100)
    key = models.CharField(_("key"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    # Who is running the request now; a lease that runs out means its process died.
    locked_until = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_once_per_caller")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class TestGatewayOperation(models.Model):
    """The built-in test gateway's own books: what a real provider keeps on its side, so that
    it answers a repeated idempotency key with its first result, across processes."""

    key = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20)
    reference = models.CharField(max_length=100)
    payment_reference = models.CharField(max_length=100, db_index=True)
    amount = models.DecimalField(**{**MONEY, "default": None})
    currency = models.CharField(max_length=3)
    success = models.BooleanField()
    error = models.CharField(max_length=250, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("test gateway operation")
        verbose_name_plural = _("test gateway operations")

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"
