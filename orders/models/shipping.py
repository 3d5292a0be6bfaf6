"""How goods reach the buyer: shipping methods of a channel and their rates by destination."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Carrier(models.Model):
    """A parcel carrier or 3PL, and how to link a tracking number to its tracking page."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    tracking_url_template = models.CharField(
        _("tracking URL"),
        max_length=250,
        blank=True,
        help_text=_("With {number} where the tracking number goes."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def tracking_url(self, number: str) -> str:
        if not (self.tracking_url_template and number):
            return ""
        return self.tracking_url_template.replace("{number}", number)


class ShippingMethod(models.Model):
    """A way a channel delivers (standard parcel, express, cool box), priced by `ShippingRate`
    rows by weight or by order value, free from `free_over` (the goods' subtotal)."""

    class Basis(models.TextChoices):
        WEIGHT = "weight", _("By weight")
        VALUE = "value", _("By order value")

    channel = models.ForeignKey(
        "commerce.Channel", on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    code = models.SlugField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=100)
    basis = models.CharField(_("priced"), max_length=10, choices=Basis.choices)
    free_over = models.DecimalField(
        _("free from a subtotal of"),
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        help_text=_("Empty: never free."),
    )
    transit_days = models.PositiveSmallIntegerField(_("days in transit"), default=2)
    carrier = models.ForeignKey(
        Carrier,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("carrier"),
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("shipping method")
        verbose_name_plural = _("shipping methods")
        ordering = ["channel", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "code"], name="shipping_method_code_once")
        ]

    def __str__(self) -> str:
        return self.name


class ShippingRate(models.Model):
    """The price of a method to a country (or one region of it) for carts from a threshold up:
    the row with the highest threshold not above the cart's weight (grams) or value applies."""

    method = models.ForeignKey(
        ShippingMethod, on_delete=models.CASCADE, related_name="rates", verbose_name=_("method")
    )
    country = models.CharField(_("country"), max_length=2)
    region = models.CharField(
        _("region"), max_length=100, blank=True, help_text=_("Empty: the whole country.")
    )
    from_threshold = models.DecimalField(
        _("from (grams or order value)"), max_digits=12, decimal_places=3, default=0
    )
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=3)
    transit_days = models.PositiveSmallIntegerField(
        _("days in transit"),
        null=True,
        blank=True,
        help_text=_("Empty: the method's. Set it for a destination that takes longer."),
    )

    class Meta:
        verbose_name = _("shipping rate")
        verbose_name_plural = _("shipping rates")
        ordering = ["method", "country", "region", "from_threshold"]
        constraints = [
            models.UniqueConstraint(
                fields=["method", "country", "region", "from_threshold"],
                name="shipping_rate_once",
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0) & Q(from_threshold__gte=0),
                name="shipping_rate_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.country}{'-' + self.region if self.region else ''}"
