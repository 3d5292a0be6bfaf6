"""Prices: tax rates by class and destination, discounts and their codes."""

from __future__ import annotations

from datetime import date

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.models import TaxClass


class TaxRate(models.Model):
    """The rate of a tax class where goods are delivered: a whole country (`region` empty) or a
    region of it (a US state), from a date (rates change; orders keep the rate they were sold
    at)."""

    tax_class = models.ForeignKey(
        TaxClass, on_delete=models.PROTECT, related_name="rates", verbose_name=_("tax class")
    )
    country = models.CharField(_("country"), max_length=2)
    region = models.CharField(
        _("region"), max_length=100, blank=True, help_text=_("Empty: the whole country.")
    )
    rate = models.DecimalField(
        _("rate"), max_digits=6, decimal_places=5, help_text=_("0.10 for 10 %.")
    )
    name = models.CharField(_("name on invoices"), max_length=100, blank=True)
    valid_from = models.DateField(_("valid from"), default=date(2000, 1, 1))

    class Meta:
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")
        ordering = ["country", "region", "tax_class", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tax_class", "country", "region", "valid_from"], name="tax_rate_once"
            ),
            models.CheckConstraint(
                condition=Q(rate__gte=0) & Q(rate__lt=1), name="tax_rate_between_0_and_1"
            ),
        ]

    def __str__(self) -> str:
        where = f"{self.country}-{self.region}" if self.region else self.country
        return f"{self.tax_class} {where}: {self.rate * 100:.3f}".rstrip("0").rstrip(".") + " %"


class Discount(models.Model):
    """A price reduction: behind codes (`DiscountCode`) or applied without one (`automatic`)."""

    class Kind(models.TextChoices):
        PERCENTAGE = "percentage", _("Percentage")
        FIXED = "fixed", _("Fixed amount")
        BUY_X_GET_Y = "bxgy", _("Buy X, get Y")

    class Target(models.TextChoices):
        ORDER = "order", _("The order")
        PRODUCTS = "products", _("Some products or categories")
        SHIPPING = "shipping", _("Shipping")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    value = models.DecimalField(
        _("value"), max_digits=12, decimal_places=4, help_text=_("10 for 10 %, or an amount.")
    )
    currency = models.CharField(
        _("currency"),
        max_length=3,
        blank=True,
        help_text=_("For fixed amounts and the minimum subtotal: channels in it only."),
    )
    target = models.CharField(
        _("applies to"), max_length=10, choices=Target.choices, default=Target.ORDER
    )
    products = models.ManyToManyField(
        "catalog.Product", blank=True, related_name="+", verbose_name=_("products")
    )
    categories = models.ManyToManyField(
        "catalog.Category",
        blank=True,
        related_name="+",
        verbose_name=_("categories (with their subcategories)"),
    )
    channels = models.ManyToManyField(
        "commerce.Channel",
        blank=True,
        related_name="+",
        verbose_name=_("channels"),
        help_text=_("Empty: every channel."),
    )
    buy_quantity = models.PositiveSmallIntegerField(
        _("buy (units)"), default=0, help_text=_("Buy X get Y: units bought at full price.")
    )
    get_quantity = models.PositiveSmallIntegerField(
        _("get (units)"),
        default=0,
        help_text=_("Buy X get Y: the cheapest units then get `value` % off (100: free)."),
    )
    min_subtotal = models.DecimalField(
        _("minimum subtotal"), max_digits=12, decimal_places=4, null=True, blank=True
    )
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    usage_limit = models.PositiveIntegerField(
        _("uses in all"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    per_customer_limit = models.PositiveIntegerField(
        _("uses per customer"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    automatic = models.BooleanField(
        _("automatic (no code)"), default=False, help_text=_("A promotion every cart gets.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    times_used = models.PositiveIntegerField(_("times used"), default=0)

    class Meta:
        verbose_name = _("discount")
        verbose_name_plural = _("discounts")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="discount_value_positive"),
            models.CheckConstraint(
                condition=~Q(kind="percentage") | Q(value__lte=100),
                name="discount_percentage_at_most_100",
            ),
            models.CheckConstraint(
                condition=~Q(kind="bxgy")
                | (Q(value__lte=100) & Q(buy_quantity__gte=1) & Q(get_quantity__gte=1)),
                name="discount_buy_x_get_y_complete",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DiscountCode(models.Model):
    """What a buyer types to get a `Discount`. A code may be personal (`customer`: only that
    customer's carts can use it) and may expire on its own (`expires_at`), before its discount
    does: automation issues such codes one at a time (`discount_code_issue`)."""

    discount = models.ForeignKey(
        Discount, on_delete=models.CASCADE, related_name="codes", verbose_name=_("discount")
    )
    code = models.CharField(_("code"), max_length=40, unique=True)
    single_use = models.BooleanField(_("single use"), default=False)
    batch = models.CharField(_("batch"), max_length=50, blank=True)
    times_used = models.PositiveIntegerField(_("times used"), default=0)
    # PROTECT, like a redemption's customer: CASCADE would delete the code and its redemption
    # history with the customer, and SET_NULL would turn a personal code into one anyone may
    # use. Customers are erased (the row stays) and merged (`code_check` follows the merge),
    # not deleted.
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("only for customer"),
        help_text=_("Empty: anyone may use the code."),
    )
    expires_at = models.DateTimeField(
        _("expires at"), null=True, blank=True, help_text=_("Empty: as long as the discount runs.")
    )
    issued_by = models.CharField(
        _("issued by"),
        max_length=100,
        blank=True,
        help_text=_("What issued the code, e.g. an automation run."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("discount code")
        verbose_name_plural = _("discount codes")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class DiscountRedemption(models.Model):
    """One use of a discount by an order: what usage limits count (written at checkout)."""

    discount = models.ForeignKey(
        Discount, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("discount")
    )
    code = models.ForeignKey(
        DiscountCode,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="redemptions",
        verbose_name=_("code"),
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("customer"),
    )
    reference = models.CharField(_("order"), max_length=64)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=4)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("discount redemption")
        verbose_name_plural = _("discount redemptions")
        indexes = [models.Index(fields=["discount", "customer"], name="redemption_per_customer")]

    def __str__(self) -> str:
        return f"{self.discount} {self.reference}"
