"""Stock per variant and location, the reservations that hold it, and the ledger that explains
every change. Suppliers, purchase orders and transfers bring stock in and move it around."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Category, ProductVariant
from commerce.models import Channel, validate_time_zone


class StockLocation(models.Model):
    class Kind(models.TextChoices):
        WAREHOUSE = "warehouse", _("Warehouse")
        STORE = "store", _("Store")
        DROPSHIP = "dropship", _("Drop-ship supplier")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    country = models.CharField(_("country"), max_length=2, default="JP")
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    region = models.CharField(_("prefecture / region"), max_length=100, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    address_line = models.CharField(_("address"), max_length=250, blank=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Tokyo", validators=[validate_time_zone]
    )
    ships_to_customers = models.BooleanField(
        _("ships to customers"),
        default=True,
        help_text=_("For a store: ship-from-store, so online orders may be routed here."),
    )
    pickup_enabled = models.BooleanField(_("customers can pick up here"), default=False)
    counts_for_online = models.BooleanField(_("stock counts for online availability"), default=True)
    routing_priority = models.PositiveIntegerField(
        _("routing priority"), default=100, help_text=_("Lower numbers are used first.")
    )
    channels = models.ManyToManyField(
        Channel, related_name="+", blank=True, verbose_name=_("channels served")
    )
    latitude = models.DecimalField(
        _("latitude"), max_digits=8, decimal_places=5, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=8, decimal_places=5, null=True, blank=True
    )
    opening_hours = models.CharField(
        _("opening hours"),
        max_length=200,
        blank=True,
        help_text=_("As customers should read them, e.g. 10:00-20:00, closed on Tuesdays."),
    )
    handling_days = models.PositiveSmallIntegerField(
        _("handling days"),
        default=1,
        help_text=_("Working days from order to dispatch (0: the same day)."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("stock location")
        verbose_name_plural = _("stock locations")
        ordering = ["routing_priority", "code"]

    def __str__(self) -> str:
        return self.name


class StockPolicy(models.Model):
    """Per-variant defaults for its stock rows."""

    variant = models.OneToOneField(ProductVariant, on_delete=models.CASCADE, related_name="+")
    low_stock_threshold = models.PositiveIntegerField(_("low-stock threshold"), default=5)

    class Meta:
        verbose_name = _("stock policy")
        verbose_name_plural = _("stock policies")

    def __str__(self) -> str:
        return f"{self.variant_id}: {self.low_stock_threshold}"


class SeasonalThreshold(models.Model):
    """A low-stock threshold for a period (peak season, a sale): from `starts_on` to `ends_on`,
    both days included, read in the merchant's time zone (settings.TIME_ZONE). It names either
    one variant or one category (which covers its subcategories too), and either one location
    or every location. Write it through `seasonal_threshold_save`; the rules deciding which one
    applies are in `inventory.selectors.thresholds_for`."""

    name = models.CharField(_("name"), max_length=100)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), help_text=_("The last day the threshold applies."))
    variant = models.ForeignKey(
        ProductVariant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("variant"),
    )
    category = models.ForeignKey(
        Category,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("category"),
        help_text=_("Its subcategories are included."),
    )
    location = models.ForeignKey(
        StockLocation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("location"),
        help_text=_("Empty: every location."),
    )
    threshold = models.PositiveIntegerField(_("low-stock threshold"))

    class Meta:
        verbose_name = _("seasonal low-stock threshold")
        verbose_name_plural = _("seasonal low-stock thresholds")
        ordering = ["-starts_on", "name"]
        indexes = [models.Index(fields=["ends_on", "starts_on"], name="seasonal_threshold_dates")]
        constraints = [
            models.CheckConstraint(
                condition=Q(variant__isnull=False, category__isnull=True)
                | Q(variant__isnull=True, category__isnull=False),
                name="seasonal_threshold_one_target",
                violation_error_message=_("Choose either a variant or a category."),
            ),
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")),
                name="seasonal_threshold_dates_in_order",
                violation_error_message=_("The end date cannot be before the start date."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.starts_on} - {self.ends_on}): {self.threshold}"


class Stock(models.Model):
    """One variant at one location. `allocated` is held for orders; cart holds are
    `Reservation` rows counted while they have not expired. Only services change the counters,
    under a row lock, and each change writes a `StockMovement`."""

    class Signal(models.TextChoices):
        IN_STOCK = "in_stock", _("In stock")
        LOW = "low", _("Low")
        OUT = "out", _("Out of stock")

    variant = models.ForeignKey(ProductVariant, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="stocks")
    on_hand = models.IntegerField(_("on hand"), default=0)
    allocated = models.IntegerField(_("allocated"), default=0)
    safety_stock = models.PositiveIntegerField(_("safety stock"), default=0)
    low_stock_threshold = models.PositiveIntegerField(
        _("low-stock threshold"),
        null=True,
        blank=True,
        help_text=_("Empty: the variant's default."),
    )
    # The last level signalled, so that each crossing of a threshold is published once.
    signal = models.CharField(
        max_length=10, choices=Signal.choices, default=Signal.OUT, editable=False
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("stock")
        verbose_name_plural = _("stock")
        ordering = ["variant_id", "location_id"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "location"], name="stock_once_per_location"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(
                condition=Q(allocated__gte=0), name="stock_allocated_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}@{self.location_id}: {self.on_hand}/{self.allocated}"


class Reservation(models.Model):
    """Stock held for a cart (with an expiry) or for an order (until shipped or released)."""

    class Kind(models.TextChoices):
        CART = "cart", _("Cart hold")
        ORDER = "order", _("Order allocation")

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        RELEASED = "released", _("Released")
        CONVERTED = "converted", _("Converted to an order")
        SHIPPED = "shipped", _("Shipped")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.ACTIVE)
    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="reservations")
    variant = models.ForeignKey(ProductVariant, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))
    reference = models.CharField(
        _("reference"), max_length=100, help_text=_("cart:<token> or order:<number>")
    )
    line_reference = models.CharField(_("line"), max_length=100, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["reference"], name="reservation_reference"),
            models.Index(
                fields=["stock", "expires_at"],
                condition=Q(state="active", kind="cart"),
                name="reservation_active_holds",
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(state="active", kind="cart"),
                name="reservation_expiry",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="reservation_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(kind="order") | Q(expires_at__isnull=False), name="cart_hold_expires"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.quantity} x {self.variant_id}@{self.location_id}"


class StockMovement(models.Model):
    """The append-only ledger: summing the deltas of a stock row gives its counters."""

    class Reason(models.TextChoices):
        RECEIPT = "receipt", _("Receipt")
        RESERVATION = "reservation", _("Allocated to an order")
        RELEASE = "release", _("Allocation released")
        SHIPMENT = "shipment", _("Shipped")
        ADJUSTMENT = "adjustment", _("Adjustment")
        TRANSFER_OUT = "transfer_out", _("Transfer out")
        TRANSFER_IN = "transfer_in", _("Transfer in")
        RETURN_RESTOCK = "return_restock", _("Return restocked")
        COUNT_CORRECTION = "count_correction", _("Count correction")
        SYNC = "sync", _("External feed")

    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="movements")
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    on_hand_delta = models.IntegerField(_("on hand change"), default=0)
    allocated_delta = models.IntegerField(_("allocated change"), default=0)
    on_hand_before = models.IntegerField(_("on hand before"))
    on_hand_after = models.IntegerField(_("on hand after"))
    allocated_before = models.IntegerField(_("allocated before"))
    allocated_after = models.IntegerField(_("allocated after"))
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    note = models.CharField(_("note"), max_length=250, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        ordering = ["-id"]
        indexes = [models.Index(fields=["stock", "id"], name="movement_stock_history")]
        constraints = [
            models.CheckConstraint(
                condition=Q(on_hand_after=F("on_hand_before") + F("on_hand_delta"))
                & Q(allocated_after=F("allocated_before") + F("allocated_delta")),
                name="movement_adds_up",
            )
        ]

    def __str__(self) -> str:
        return f"{self.reason} {self.on_hand_delta:+}/{self.allocated_delta:+} on {self.stock_id}"


class Transfer(models.Model):
    """Stock moving between two locations: it leaves on dispatch and arrives on receipt."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_TRANSIT = "in_transit", _("In transit")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")

    source = models.ForeignKey(
        StockLocation, on_delete=models.PROTECT, related_name="+", verbose_name=_("from")
    )
    destination = models.ForeignKey(
        StockLocation, on_delete=models.PROTECT, related_name="+", verbose_name=_("to")
    )
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.DRAFT)
    note = models.CharField(_("note"), max_length=250, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), null=True, blank=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(source=F("destination")), name="transfer_between_two_places"
            )
        ]

    def __str__(self) -> str:
        return f"T{self.pk}: {self.source} -> {self.destination}"


class TransferLine(models.Model):
    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(ProductVariant, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["transfer", "variant"], name="transfer_line_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="transfer_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.variant_id}"


class Supplier(models.Model):
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    contact_name = models.CharField(_("contact"), max_length=100, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    lead_time_days = models.PositiveIntegerField(_("lead time (days)"), default=7)
    currency = models.CharField(_("currency"), max_length=3, default="JPY")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SupplierItem(models.Model):
    """A variant a supplier sells us, at a cost and in a minimum quantity."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="items")
    variant = models.ForeignKey(ProductVariant, on_delete=models.CASCADE, related_name="+")
    supplier_sku = models.CharField(_("supplier's SKU"), max_length=64, blank=True)
    cost = models.DecimalField(_("unit cost"), max_digits=14, decimal_places=3)
    minimum_order_quantity = models.PositiveIntegerField(_("minimum order quantity"), default=1)
    is_preferred = models.BooleanField(_("preferred supplier"), default=True)

    class Meta:
        verbose_name = _("supplied item")
        verbose_name_plural = _("supplied items")
        constraints = [
            models.UniqueConstraint(fields=["supplier", "variant"], name="supplier_item_once"),
            models.CheckConstraint(condition=Q(cost__gte=0), name="supplier_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.supplier} / {self.variant_id}"


class PurchaseOrder(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SENT = "sent", _("Sent")
        PARTIALLY_RECEIVED = "partially_received", _("Partially received")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders")
    location = models.ForeignKey(
        StockLocation, on_delete=models.PROTECT, related_name="+", verbose_name=_("deliver to")
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.DRAFT)
    currency = models.CharField(_("currency"), max_length=3, default="JPY")
    expected_at = models.DateField(_("expected on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=250, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"PO-{self.pk:06d}" if self.pk else "PO (new)"


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.CASCADE, related_name="lines"
    )
    variant = models.ForeignKey(ProductVariant, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("ordered"))
    received_quantity = models.PositiveIntegerField(_("received"), default=0)
    unit_cost = models.DecimalField(_("unit cost"), max_digits=14, decimal_places=3)

    class Meta:
        verbose_name = _("purchase order line")
        verbose_name_plural = _("purchase order lines")
        constraints = [
            models.UniqueConstraint(fields=["purchase_order", "variant"], name="po_line_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="po_quantity_positive"),
            models.CheckConstraint(
                condition=Q(received_quantity__lte=F("quantity")), name="po_not_over_received"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.variant_id}"
