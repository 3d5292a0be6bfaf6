"""Carts: what a buyer is about to order in one channel."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_cart_token() -> str:
    # 192 bits: the token is the guest's only credential for the cart.
    return secrets.token_urlsafe(24)


class Cart(models.Model):
    class State(models.TextChoices):
        OPEN = "open", _("Open")
        COMPLETED = "completed", _("Became an order")

    token = models.CharField(_("token"), max_length=64, unique=True, default=new_cart_token)
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
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
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
    pickup_location = models.ForeignKey(
        "inventory.StockLocation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("pickup store"),
    )
    discount_code = models.CharField(_("discount code"), max_length=40, blank=True)
    note = models.CharField(_("note to the shop"), max_length=500, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_activity_at = models.DateTimeField(_("last activity"), default=timezone.now)
    checkout_started_at = models.DateTimeField(_("checkout started"), null=True, blank=True)
    hold_expires_at = models.DateTimeField(_("stock held until"), null=True, blank=True)
    # Where the planner put the hold and why (chosen, passed over, excluded), for the order's
    # routing record when the order takes the hold over.
    hold_route = models.JSONField(_("stock held where and why"), default=dict, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    # Set when checkout refused a card payment after too many declines (card testing): the
    # cart takes no more payments, and the storefront starts a new one.
    payment_closed_at = models.DateTimeField(_("closed for payment"), null=True, blank=True)
    payment_closed_reason = models.CharField(
        _("why it was closed for payment"), max_length=250, blank=True
    )

    class Meta:
        verbose_name = _("cart")
        verbose_name_plural = _("carts")
        ordering = ["-last_activity_at"]
        indexes = [
            # Automation's abandoned-cart scan: open carts idle since a time.
            models.Index(
                fields=["last_activity_at"], condition=Q(state="open"), name="cart_open_activity"
            ),
            models.Index(fields=["customer", "channel"], name="cart_customer_channel"),
        ]

    def __str__(self) -> str:
        return f"{_('Cart')} {self.token[:8]}…"

    @property
    def reference(self) -> str:
        """What inventory's holds for this cart are filed under."""
        return f"cart:{self.token}"


class CartLine(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        "catalog.ProductVariant", on_delete=models.CASCADE, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    added_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("cart line")
        verbose_name_plural = _("cart lines")
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "variant"], name="cart_line_once"),
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="cart_line_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} x {self.quantity}"
