"""One profile per person across channels: identities, addresses, consent, loyalty, segments.

Purchases arrive as domain events from `orders` (this app never imports it) and are kept here
as `Purchase` rows: the statistics, RFM scores, segments and loyalty points derive from them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from commerce.models import Channel, validate_currency, validate_time_zone


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """A person who buys, with or without a storefront login (a guest has none)."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        MERGED = "merged", _("Merged into another profile")
        ERASED = "erased", _("Erased (personal data removed)")

    class RfmSegment(models.TextChoices):
        PROSPECT = "prospect", _("Prospect (no purchase yet)")
        CHAMPIONS = "champions", _("Champions")
        LOYAL = "loyal", _("Loyal")
        POTENTIAL_LOYALIST = "potential_loyalist", _("Potential loyalist")
        NEW = "new", _("New")
        PROMISING = "promising", _("Promising")
        NEEDS_ATTENTION = "needs_attention", _("Needs attention")
        AT_RISK = "at_risk", _("At risk")
        CANNOT_LOSE = "cannot_lose", _("Cannot lose them")
        HIBERNATING = "hibernating", _("Hibernating")
        LOST = "lost", _("Lost")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customer",
        verbose_name=_("storefront login"),
    )
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.ACTIVE, db_index=True
    )
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("merged into"),
    )
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    first_name_reading = models.CharField(
        _("first name (reading)"),
        max_length=100,
        blank=True,
        help_text=_("Phonetic reading, e.g. katakana for Japanese names."),
    )
    last_name_reading = models.CharField(_("last name (reading)"), max_length=100, blank=True)
    email = models.EmailField(_("e-mail"), max_length=254, blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=20, blank=True, db_index=True)
    language = models.CharField(_("preferred language"), max_length=10, default="en")
    preferred_medium = models.CharField(
        _("preferred medium"),
        max_length=10,
        choices=[("email", _("E-mail")), ("sms", _("SMS")), ("line", _("LINE"))],
        default="email",
        help_text=_("How the customer wants to hear about their orders."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("For quiet hours; blank means the time zone of the channel they came from."),
    )
    acquired_channel = models.ForeignKey(
        Channel,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acquired through"),
    )
    acquired_at = models.DateTimeField(_("acquired at"), default=timezone.now)
    notes = models.TextField(_("notes"), blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("tags"))
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # Purchase statistics, kept current from order events (see services/purchases.py).
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    first_order_at = models.DateTimeField(_("first order"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("last order"), null=True, blank=True)
    primary_currency = models.CharField(_("main currency"), max_length=3, blank=True)
    lifetime_value = models.DecimalField(
        _("lifetime value"),
        max_digits=14,
        decimal_places=4,
        default=0,
        help_text=_("Paid minus refunded, in the customer's main currency."),
    )
    average_order_value = models.DecimalField(
        _("average order value"), max_digits=14, decimal_places=4, default=0
    )
    average_days_between_orders = models.DecimalField(
        _("days between orders"), max_digits=8, decimal_places=1, null=True, blank=True
    )
    churn_risk_from = models.DateTimeField(
        _("churn risk from"),
        null=True,
        blank=True,
        help_text=_("When the time since the last order passes the customer's buying rhythm."),
    )
    # Scores and the named segment, recomputed by `recompute_segments` (1 = lowest, 5 = highest).
    rfm_recency = models.PositiveSmallIntegerField(_("R"), null=True, blank=True)
    rfm_frequency = models.PositiveSmallIntegerField(_("F"), null=True, blank=True)
    rfm_monetary = models.PositiveSmallIntegerField(_("M"), null=True, blank=True)
    rfm_segment = models.CharField(
        _("RFM segment"),
        max_length=20,
        choices=RfmSegment.choices,
        default=RfmSegment.PROSPECT,
        db_index=True,
    )
    churn_risk = models.BooleanField(_("churn risk"), default=False)
    scores_computed_at = models.DateTimeField(_("scores computed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(state="active") & ~Q(email=""),
                name="customer_email_unique_when_active",
            ),
            models.CheckConstraint(
                condition=Q(state="merged", merged_into__isnull=False)
                | (~Q(state="merged") & Q(merged_into__isnull=True)),
                name="customer_merged_has_survivor",
            ),
        ]
        indexes = [
            models.Index(fields=["last_order_at"], name="customer_last_order"),
            models.Index(fields=["last_name", "first_name"], name="customer_name"),
            models.Index(
                fields=["last_name_reading", "first_name_reading"], name="customer_name_reading"
            ),
        ]

    def __str__(self) -> str:
        name = self.full_name
        if self.email:
            return f"{name} <{self.email}>" if name else self.email
        return name or self.phone or _("Customer #%(id)s") % {"id": self.pk}

    @property
    def full_name(self) -> str:
        """Family name first for Japanese profiles, as they are written and printed there."""
        parts = (self.first_name, self.last_name)
        if self.language == "ja":
            parts = parts[::-1]
        return " ".join(part for part in parts if part)

    @property
    def is_guest(self) -> bool:
        return self.user_id is None

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE


class ExternalIdentifier(models.Model):
    """How another system knows this person: a marketplace buyer id, a POS member card."""

    class Kind(models.TextChoices):
        MARKETPLACE_BUYER = "marketplace_buyer", _("Marketplace buyer id")
        MEMBER_CARD = "member_card", _("Member card")
        LINE_USER = "line_user", _("LINE user id")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="identifiers", verbose_name=_("customer")
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="+", verbose_name=_("channel")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=100)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("external identifier")
        verbose_name_plural = _("external identifiers")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "kind", "value"], name="identifier_once_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"


class Address(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="addresses", verbose_name=_("customer")
    )
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    first_name_reading = models.CharField(_("first name (reading)"), max_length=100, blank=True)
    last_name_reading = models.CharField(_("last name (reading)"), max_length=100, blank=True)
    company = models.CharField(_("company"), max_length=100, blank=True)
    line1 = models.CharField(_("address line 1"), max_length=250)
    line2 = models.CharField(_("address line 2"), max_length=250, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    region = models.CharField(_("prefecture / region"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    country = models.CharField(_("country"), max_length=2)
    phone = models.CharField(_("phone (E.164)"), max_length=20, blank=True)
    is_default_shipping = models.BooleanField(_("default shipping address"), default=False)
    is_default_billing = models.BooleanField(_("default billing address"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default_shipping=True),
                name="address_one_default_shipping",
            ),
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default_billing=True),
                name="address_one_default_billing",
            ),
        ]

    def __str__(self) -> str:
        parts = (self.postal_code, self.region, self.city, self.line1, self.country)
        return ", ".join(part for part in parts if part)


class Medium(models.TextChoices):
    """Ways the merchant may contact a customer for marketing."""

    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    LINE = "line", _("LINE")
    POST = "post", _("Post")


class ConsentSource(models.TextChoices):
    STOREFRONT = "storefront", _("Storefront (customer)")
    CHECKOUT = "checkout", _("Checkout")
    UNSUBSCRIBE_LINK = "unsubscribe_link", _("Unsubscribe link")
    STAFF = "staff", _("Staff")
    IMPORT = "import", _("Import")
    MERGE = "merge", _("Profile merge")
    ERASURE = "erasure", _("Erasure")


class Consent(models.Model):
    """The current answer per medium. Automation reads this; `ConsentChange` is the proof."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="consents", verbose_name=_("customer")
    )
    medium = models.CharField(_("medium"), max_length=10, choices=Medium.choices)
    granted = models.BooleanField(_("opted in"))
    text_version = models.CharField(_("consent text version"), max_length=50, blank=True)
    changed_at = models.DateTimeField(_("changed at"))

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["medium"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "medium"], name="consent_once_per_medium")
        ]
        indexes = [
            models.Index(fields=["medium", "customer"], condition=Q(granted=True), name="opted_in")
        ]

    def __str__(self) -> str:
        state = _("opted in") if self.granted else _("opted out")
        return f"{self.get_medium_display()}: {state}"


class ConsentChange(models.Model):
    """Append-only: every opt-in and opt-out with when, how and which wording the person saw."""

    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="consent_changes",
        verbose_name=_("customer"),
    )
    medium = models.CharField(_("medium"), max_length=10, choices=Medium.choices)
    granted = models.BooleanField(_("opted in"))
    source = models.CharField(_("source"), max_length=20, choices=ConsentSource.choices)
    text_version = models.CharField(_("consent text version"), max_length=50, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    actor = models.CharField(_("by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("consent change")
        verbose_name_plural = _("consent history")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "medium"], name="consent_history")]

    def __str__(self) -> str:
        state = _("opted in") if self.granted else _("opted out")
        return f"{self.get_medium_display()}: {state} ({self.occurred_at:%Y-%m-%d %H:%M})"


class Purchase(models.Model):
    """What this app knows of one paid order, from `order.paid` / `order.refunded` events."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="purchases", verbose_name=_("customer")
    )
    order_id = models.CharField(_("order id"), max_length=64, unique=True)
    order_number = models.CharField(_("order number"), max_length=64, blank=True)
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("channel")
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    total = models.DecimalField(_("paid"), max_digits=14, decimal_places=4)
    refunded = models.DecimalField(_("refunded"), max_digits=14, decimal_places=4, default=0)
    paid_at = models.DateTimeField(_("paid at"))

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-paid_at"]
        indexes = [models.Index(fields=["customer", "paid_at"], name="purchase_customer_time")]

    def __str__(self) -> str:
        return self.order_number or self.order_id

    @property
    def net(self):
        return self.total - self.refunded


class CustomerSpend(models.Model):
    """Totals per currency: a customer may buy in JPY at home and in USD on the US shop."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="spend", verbose_name=_("customer")
    )
    currency = models.CharField(_("currency"), max_length=3)
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    total_spent = models.DecimalField(_("paid"), max_digits=16, decimal_places=4, default=0)
    total_refunded = models.DecimalField(_("refunded"), max_digits=16, decimal_places=4, default=0)

    class Meta:
        verbose_name = _("spend per currency")
        verbose_name_plural = _("spend per currency")
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "currency"], name="spend_once_per_currency")
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.total_spent - self.total_refunded}"


class HistoryEntry(models.Model):
    """The profile's own history: created, merged, erased, consent and points by staff."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        REGISTERED = "registered", _("Registered an account")
        UPDATED = "updated", _("Profile changed")
        MERGED = "merged", _("Merged")
        ERASED = "erased", _("Erased")
        LOYALTY = "loyalty", _("Loyalty")
        NOTE = "note", _("Note")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="history", verbose_name=_("customer")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    message = models.TextField(_("message"))
    data = models.JSONField(_("details"), default=dict, blank=True)
    actor = models.CharField(_("by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("history entry")
        verbose_name_plural = _("history")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.message


class Merge(models.Model):
    """A record of two profiles becoming one, with what the duplicate was at that moment."""

    survivor = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="merges", verbose_name=_("kept profile")
    )
    duplicate = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("merged profile")
    )
    snapshot = models.JSONField(_("merged profile as it was"), default=dict)
    moved = models.JSONField(_("moved"), default=dict)
    actor = models.CharField(_("by"), max_length=150, blank=True)
    merged_at = models.DateTimeField(_("merged at"), default=timezone.now)

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")
        ordering = ["-merged_at"]
        constraints = [
            models.UniqueConstraint(fields=["duplicate"], name="merge_duplicate_once"),
        ]

    def __str__(self) -> str:
        return f"#{self.duplicate_id} → #{self.survivor_id}"


# --- Loyalty ---------------------------------------------------------------------------------


class LoyaltyProgramme(models.Model):
    """The merchant's programme. One is active; the demo and tests create it."""

    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    auto_enrol = models.BooleanField(
        _("enrol buyers automatically"),
        default=True,
        help_text=_("A paid order makes its customer a member if they are not one yet."),
    )
    points_expire_after_days = models.PositiveIntegerField(
        _("points expire after (days)"),
        null=True,
        blank=True,
        help_text=_("Empty: points never expire."),
    )

    class Meta:
        verbose_name = _("loyalty programme")
        verbose_name_plural = _("loyalty programmes")
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_programme"
            )
        ]

    def __str__(self) -> str:
        return self.name


class EarnRate(models.Model):
    """`points` for every `spend` of `currency` paid, e.g. 1 point per 100 JPY."""

    programme = models.ForeignKey(
        LoyaltyProgramme,
        on_delete=models.CASCADE,
        related_name="earn_rates",
        verbose_name=_("programme"),
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    spend = models.DecimalField(_("for every"), max_digits=12, decimal_places=4)
    points = models.PositiveIntegerField(_("points"), default=1)

    class Meta:
        verbose_name = _("earn rate")
        verbose_name_plural = _("earn rates")
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "currency"], name="earn_rate_per_currency"
            ),
            models.CheckConstraint(condition=Q(spend__gt=0), name="earn_rate_spend_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.points} / {self.spend} {self.currency}"


class Tier(models.Model):
    """Reached by lifetime points earned (net of reversals); a tier may multiply earning."""

    programme = models.ForeignKey(
        LoyaltyProgramme,
        on_delete=models.CASCADE,
        related_name="tiers",
        verbose_name=_("programme"),
    )
    name = models.CharField(_("name"), max_length=50)
    threshold = models.PositiveIntegerField(_("lifetime points needed"))
    multiplier = models.DecimalField(
        _("earning multiplier"), max_digits=4, decimal_places=2, default=1
    )
    benefits = models.TextField(_("benefits"), blank=True)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["programme", "threshold"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "threshold"], name="tier_threshold_once")
        ]

    def __str__(self) -> str:
        return self.name


class LoyaltyAccount(models.Model):
    """A member's points. `balance` and `lifetime_points` are sums over the account's entries,
    stored for reading; every change writes the entry and the sums in one transaction."""

    customer = models.OneToOneField(
        Customer, on_delete=models.PROTECT, related_name="loyalty", verbose_name=_("customer")
    )
    programme = models.ForeignKey(
        LoyaltyProgramme,
        on_delete=models.PROTECT,
        related_name="accounts",
        verbose_name=_("programme"),
    )
    tier = models.ForeignKey(
        Tier,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="accounts",
        verbose_name=_("tier"),
    )
    balance = models.IntegerField(_("points balance"), default=0)
    lifetime_points = models.IntegerField(_("lifetime points earned"), default=0)
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)

    class Meta:
        verbose_name = _("loyalty account")
        verbose_name_plural = _("loyalty accounts")

    def __str__(self) -> str:
        return f"{self.customer}: {self.balance}"


class PointEntry(models.Model):
    """The point ledger. Append-only except `remaining`, which tracks what is left of an earning
    for redemption (oldest first) and expiry."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        REVERSE = "reverse", _("Reversed (refund)")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted by staff")

    account = models.ForeignKey(
        LoyaltyAccount,
        on_delete=models.PROTECT,
        related_name="entries",
        verbose_name=_("loyalty account"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    points = models.IntegerField(_("points"))
    remaining = models.IntegerField(_("points left"), default=0)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    reference = models.CharField(
        _("reference"), max_length=64, blank=True, help_text=_("The order id, for order points.")
    )
    reason = models.CharField(_("reason"), max_length=250, blank=True)
    actor = models.CharField(_("by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("point entry")
        verbose_name_plural = _("point ledger")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["account", "created_at"], name="point_entry_account"),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="point_lots_to_expire"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reference"],
                condition=Q(kind="earn") & ~Q(reference=""),
                name="points_earned_once_per_order",
            ),
            models.CheckConstraint(
                condition=Q(remaining__gte=0), name="point_remaining_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"


# --- Segments --------------------------------------------------------------------------------


class Segment(models.Model):
    """A merchant-defined group of customers, by rule (see customers/segments.py)."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("code"), max_length=50, unique=True)
    description = models.TextField(_("description"), blank=True)
    rule = models.JSONField(
        _("rule"),
        default=list,
        help_text=_(
            'A list of conditions that must all hold, e.g. [{"field": "spent", '
            '"currency": "JPY", "days": 180, "op": "gt", "value": 50000}, '
            '{"field": "consent", "medium": "email"}].'
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    member_count = models.PositiveIntegerField(_("members"), default=0)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    members = models.ManyToManyField(
        Customer,
        through="SegmentMembership",
        related_name="segments",
        blank=True,
        verbose_name=_("members"),
    )

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("segment")
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("customer")
    )
    since = models.DateTimeField(_("member since"), default=timezone.now)

    class Meta:
        verbose_name = _("segment member")
        verbose_name_plural = _("segment members")
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segment_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.customer_id}"
