"""The catalogue: what a merchant sells, and where and at what price it is offered."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from commerce.models import Channel


class Category(models.Model):
    """A node of the category tree. `path` holds the ids from the root ("/3/17/"), so that a
    category's descendants are one indexed prefix match. Services keep it current."""

    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=200, unique=True, allow_unicode=True)
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    path = models.CharField(max_length=255, editable=False, default="")
    depth = models.PositiveSmallIntegerField(editable=False, default=0)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["path"]
        indexes = [
            models.Index(
                fields=["path"], name="category_path_prefix", opclasses=["varchar_pattern_ops"]
            )
        ]

    def __str__(self) -> str:
        return self.name


class TaxClass(models.Model):
    """How a product is taxed (standard, reduced, exempt); rates by destination come with checkout."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("tax class")
        verbose_name_plural = _("tax classes")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Attribute(models.Model):
    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        CHOICE = "choice", _("Choice")
        NUMBER = "number", _("Number")
        BOOLEAN = "boolean", _("Yes / no")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    type = models.CharField(_("type"), max_length=10, choices=Type.choices, default=Type.CHOICE)
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    filterable = models.BooleanField(_("usable as a storefront filter"), default=True)

    class Meta:
        verbose_name = _("attribute")
        verbose_name_plural = _("attributes")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class AttributeChoice(models.Model):
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="choices")
    slug = models.SlugField(_("slug"), max_length=100, allow_unicode=True)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("attribute choice")
        verbose_name_plural = _("attribute choices")
        ordering = ["attribute", "position", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["attribute", "slug"], name="attribute_choice_unique")
        ]

    def __str__(self) -> str:
        return self.name


class ProductType(models.Model):
    """Groups the attributes a kind of product uses: on the product, and on each variant."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    product_attributes = models.ManyToManyField(
        Attribute, blank=True, related_name="+", verbose_name=_("product attributes")
    )
    variant_attributes = models.ManyToManyField(
        Attribute, blank=True, related_name="+", verbose_name=_("variant attributes")
    )
    is_shipping_required = models.BooleanField(_("needs shipping"), default=True)

    class Meta:
        verbose_name = _("product type")
        verbose_name_plural = _("product types")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    product_type = models.ForeignKey(
        ProductType,
        on_delete=models.PROTECT,
        related_name="products",
        verbose_name=_("product type"),
    )
    category = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        verbose_name=_("category"),
    )
    tax_class = models.ForeignKey(
        TaxClass,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        verbose_name=_("tax class"),
    )
    name = models.CharField(_("name"), max_length=250)
    slug = models.SlugField(_("slug"), max_length=255, unique=True, allow_unicode=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Name, description and SKUs in one column, so that search is a single indexed match
    # (a full-text index on PostgreSQL, see migration 0002).
    search_document = models.TextField(editable=False, blank=True, default="")

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]
        indexes = [models.Index(fields=["name", "id"], name="product_name_order")]

    def __str__(self) -> str:
        return self.name


class ProductVariant(models.Model):
    """A sellable item with its own SKU: "T-shirt, red, M". A bundle is a variant with components."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=250, blank=True)
    barcode = models.CharField(_("barcode (EAN/JAN/UPC)"), max_length=32, blank=True)
    weight_grams = models.PositiveIntegerField(_("weight (g)"), null=True, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["product", "position", "sku"]
        constraints = [
            models.UniqueConstraint(
                fields=["barcode"], condition=~Q(barcode=""), name="variant_barcode_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}".strip()


class AttributeAssignment(models.Model):
    """One attribute's value; which column holds it depends on the attribute's type."""

    attribute = models.ForeignKey(Attribute, on_delete=models.PROTECT, related_name="+")
    choice = models.ForeignKey(
        AttributeChoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    text = models.CharField(max_length=250, blank=True)
    number = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    boolean = models.BooleanField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def value(self):
        match self.attribute.type:
            case Attribute.Type.CHOICE:
                return self.choice.slug if self.choice else None
            case Attribute.Type.NUMBER:
                return self.number
            case Attribute.Type.BOOLEAN:
                return self.boolean
        return self.text

    @property
    def display(self) -> str:
        if self.attribute.type == Attribute.Type.CHOICE and self.choice:
            return self.choice.name
        value = self.value
        if isinstance(value, bool):
            return str(_("Yes") if value else _("No"))
        if value is None:
            return ""
        if self.attribute.type == Attribute.Type.NUMBER:
            value = value.normalize() if value == value.to_integral() else value
            value = f"{value:f}"
        return f"{value}{self.attribute.unit}"


class ProductAttributeValue(AttributeAssignment):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="attribute_values")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "attribute"], name="product_attribute_once")
        ]

    def __str__(self) -> str:
        return f"{self.attribute.code}={self.value}"


class VariantAttributeValue(AttributeAssignment):
    variant = models.ForeignKey(
        ProductVariant, on_delete=models.CASCADE, related_name="attribute_values"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["variant", "attribute"], name="variant_attribute_once")
        ]

    def __str__(self) -> str:
        return f"{self.attribute.code}={self.value}"


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(_("image"), upload_to="products/%Y/%m/")
    alt = models.CharField(_("alternative text"), max_length=250, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("product image")
        verbose_name_plural = _("product images")
        ordering = ["product", "position", "id"]

    def __str__(self) -> str:
        return self.alt or self.image.name


class BundleComponent(models.Model):
    """A bundle variant is sold as this fixed set of component variants; its stock comes from them."""

    bundle = models.ForeignKey(ProductVariant, on_delete=models.CASCADE, related_name="components")
    component = models.ForeignKey(ProductVariant, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"), default=1)

    class Meta:
        verbose_name = _("bundle component")
        verbose_name_plural = _("bundle components")
        constraints = [
            models.UniqueConstraint(fields=["bundle", "component"], name="bundle_component_once"),
            models.CheckConstraint(
                condition=~Q(bundle=models.F("component")), name="bundle_not_itself"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="bundle_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.component_id}"


class ProductChannelListing(models.Model):
    """Whether and when a product is offered in a channel.

    `price_from` is the lowest variant price in the channel, kept by the pricing services so that
    storefront lists filter and sort by price without touching the variants.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="channel_listings")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    is_published = models.BooleanField(_("published"), default=False)
    visible_in_listings = models.BooleanField(_("visible in listings"), default=True)
    available_from = models.DateTimeField(_("available from"), null=True, blank=True)
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    price_from = models.DecimalField(
        max_digits=18, decimal_places=3, null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("channel listing")
        verbose_name_plural = _("channel listings")
        constraints = [
            models.UniqueConstraint(fields=["product", "channel"], name="product_listing_once"),
            models.CheckConstraint(
                condition=Q(available_until__isnull=True)
                | Q(available_from__isnull=True)
                | Q(available_until__gt=models.F("available_from")),
                name="listing_window_ordered",
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel", "is_published", "price_from"], name="listing_channel_price"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} @ {self.channel.code}"


class VariantChannelListing(models.Model):
    """A variant's price in a channel, in the channel's currency. No row: not sold there."""

    variant = models.ForeignKey(
        ProductVariant, on_delete=models.CASCADE, related_name="channel_listings"
    )
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    price = models.DecimalField(_("price"), max_digits=18, decimal_places=3)
    compare_at_price = models.DecimalField(
        _("compare-at price"), max_digits=18, decimal_places=3, null=True, blank=True
    )

    class Meta:
        verbose_name = _("variant price")
        verbose_name_plural = _("variant prices")
        constraints = [
            models.UniqueConstraint(fields=["variant", "channel"], name="variant_listing_once"),
            models.CheckConstraint(condition=Q(price__gte=0), name="variant_price_not_negative"),
            models.CheckConstraint(
                condition=Q(compare_at_price__isnull=True) | Q(compare_at_price__gte=0),
                name="variant_compare_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant.sku} @ {self.channel_id}: {self.price}"


class CompetitorPrice(models.Model):
    """One observation of a competitor's price for a variant in a channel's market.

    Append-only: every observation stays, so the history of a competitor's price is the rows of
    one (variant, channel, competitor), newest `observed_at` first. The currency is the channel's
    at the time of the observation.
    """

    variant = models.ForeignKey(
        ProductVariant,
        on_delete=models.CASCADE,
        related_name="competitor_prices",
        verbose_name=_("variant"),
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    competitor = models.CharField(
        _("competitor"), max_length=50, help_text=_("A code such as amazon-jp.")
    )
    price = models.DecimalField(_("price"), max_digits=14, decimal_places=3)
    currency = models.CharField(_("currency"), max_length=3)
    observed_at = models.DateTimeField(_("observed at"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("competitor price")
        verbose_name_plural = _("competitor prices")
        ordering = ["-observed_at", "-id"]
        indexes = [
            # The latest observation of each competitor: one index range per variant and channel.
            models.Index(
                fields=["variant", "channel", "competitor", "-observed_at"],
                name="competitor_price_latest",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="competitor_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.competitor}: {self.variant_id} @ {self.channel_id} {self.price}"


class PriceChange(models.Model):
    """The price log: one row each time a variant's price in a channel moves, saying who or
    what moved it. Written by `catalog.services.variant_price_set` and the catalogue import."""

    class Source(models.TextChoices):
        STAFF = "staff", _("Staff")
        IMPORT = "import", _("Import")
        AUTOMATION = "automation", _("Automation")
        API = "api", _("API")

    variant = models.ForeignKey(
        ProductVariant,
        on_delete=models.CASCADE,
        related_name="price_changes",
        verbose_name=_("variant"),
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    previous = models.DecimalField(
        _("previous price"), max_digits=18, decimal_places=3, null=True, blank=True
    )
    price = models.DecimalField(_("price"), max_digits=18, decimal_places=3)
    currency = models.CharField(_("currency"), max_length=3)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    reference = models.CharField(
        _("reference"), max_length=100, blank=True, help_text=_("E.g. rule run 17, a file name.")
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now, db_index=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )

    class Meta:
        verbose_name = _("price change")
        verbose_name_plural = _("price changes")
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["variant", "channel", "-changed_at"], name="price_change_history"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} @ {self.channel_id}: {self.previous} -> {self.price}"
