"""Demo data, written through each app's services like any other data."""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Count, DateTimeField, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Least
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS as knox_constants

from catalog import services as catalog_services
from catalog.importing import ImportReport, catalog_import, open_text
from catalog.models import (
    Attribute,
    AttributeChoice,
    BundleComponent,
    Category,
    Product,
    ProductChannelListing,
    ProductType,
    ProductVariant,
    TaxClass,
    VariantChannelListing,
)
from commerce import tokens
from commerce.errors import DomainError
from commerce.events import dispatch as event_dispatch
from commerce.models import Channel, OutboxEvent
from commerce.money import quantize
from customers import services as customer_services
from customers.models import (
    Address,
    Consent,
    ConsentChange,
    Customer,
    EarnRate,
    HistoryEntry,
    LoyaltyAccount,
    LoyaltyProgramme,
    PointEntry,
    Purchase,
    Segment,
    Tier,
)
from customers.segments import rfm_recompute, rule_compile, segment_recompute
from demo import catalog_data, customers_data, inventory_data, orders_data
from inventory import services as inventory_services
from inventory.models import (
    PurchaseOrder,
    Reservation,
    Stock,
    StockLocation,
    StockMovement,
    StockPolicy,
    Supplier,
    SupplierItem,
)
from inventory.selectors import availability_for_channel
from orders import services as order_services
from orders.carts.services import ADDRESS_FIELDS as CART_ADDRESS_FIELDS
from orders.fulfilment import delivery as delivery_promise
from orders.fulfilment.routing import destination_of
from orders.models import (
    Carrier,
    Cart,
    Discount,
    DiscountCode,
    DiscountRedemption,
    Fulfilment,
    Order,
    OrderHistory,
    Payment,
    PaymentMethod,
    ShippingMethod,
    ShippingRate,
    TaxRate,
    TrackingEvent,
    Transaction,
)
from orders.pricing.discounts import codes_generate


@dataclass
class DemoLogins:
    admin_username: str
    admin_password: str
    staff_username: str
    staff_password: str
    staff_token: str
    operations_username: str = ""
    operations_password: str = ""
    operations_token: str = ""


# The operations user's API token is fixed, like the demo's passwords, so that the README's
# curl examples (fulfilment, tracking, the till) work as printed. Never in production: it is
# written only by the demo seed, which stores its digest as knox would for an issued token.
OPERATIONS_TOKEN = "demo-operations-token-not-for-production"


def _known_token_install(user, token: str) -> None:
    """Store `token` for `user` the way knox stores the ones it issues (digest and lookup key),
    with the staff expiry. knox's own create() draws a random token; the README's must be fixed."""
    AuthToken.objects.filter(user=user).delete()
    AuthToken(
        user=user,
        digest=hash_token(token),
        token_key=token[: knox_constants.TOKEN_KEY_LENGTH],
        expiry=timezone.now() + tokens.staff_token_ttl(),
    ).save(force_insert=True)


@transaction.atomic
def operations_token_refresh() -> bool:
    """Give the fixed demo token a fresh expiry, so that a demo seeded long ago still answers
    the README's calls (run_demo does this at every start). False if there is no demo yet."""
    operations = get_user_model().objects.filter(username="operations", is_staff=True).first()
    if operations is None:
        return False
    _known_token_install(operations, OPERATIONS_TOKEN)
    return True


@transaction.atomic
def seed_reference_data() -> None:
    """Channels, tax classes, categories, attributes and product types (idempotent)."""
    for code, name, kind, currency, tax_inclusive, tz, language, country in catalog_data.CHANNELS:
        Channel.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "currency": currency,
                "prices_include_tax": tax_inclusive,
                "time_zone": tz,
                "default_language": language,
                "country": country,
            },
        )
    for code, name in catalog_data.TAX_CLASSES:
        TaxClass.objects.update_or_create(code=code, defaults={"name": name})
    for code, country, region, rate, name in catalog_data.TAX_RATES:
        TaxRate.objects.update_or_create(
            tax_class=TaxClass.objects.get(code=code),
            country=country,
            region=region,
            defaults={"rate": Decimal(rate), "name": name},
        )
    for position, ((slug, name), children) in enumerate(catalog_data.CATEGORIES.items()):
        parent = Category.objects.filter(slug=slug).first() or catalog_services.category_create(
            name=name, slug=slug, position=position
        )
        for child_position, (child_slug, child_name) in enumerate(children):
            if not Category.objects.filter(slug=child_slug).exists():
                catalog_services.category_create(
                    name=child_name, slug=child_slug, parent=parent, position=child_position
                )
    for code, (name, kind, unit, choices) in catalog_data.ATTRIBUTES.items():
        attribute, _ = Attribute.objects.update_or_create(
            code=code, defaults={"name": name, "type": kind, "unit": unit}
        )
        for position, slug in enumerate(choices):
            AttributeChoice.objects.update_or_create(
                attribute=attribute,
                slug=slug,
                defaults={"name": slug.replace("-", " ").title(), "position": position},
            )
    for slug, (name, product_attributes, variant_attributes) in catalog_data.PRODUCT_TYPES.items():
        product_type, _ = ProductType.objects.update_or_create(slug=slug, defaults={"name": name})
        product_type.product_attributes.set(Attribute.objects.filter(code__in=product_attributes))
        product_type.variant_attributes.set(Attribute.objects.filter(code__in=variant_attributes))
    ProductType.objects.update_or_create(slug="bundle", defaults={"name": "Bundle / gift set"})


def seed_catalogue(*, products: int) -> ImportReport:
    """Generate the catalogue as CSV and load it with the catalogue import, in bulk."""
    handle, path = tempfile.mkstemp(suffix=".csv", prefix="demo-catalogue-")
    os.close(handle)
    try:
        catalog_data.write_catalogue_csv(path, products)
        return catalog_import(open_stream=open_text(path), source="seed_demo", chunk_size=2000)
    finally:
        os.unlink(path)


@transaction.atomic
def seed_bundles() -> None:
    """Gift sets made of other variants: their stock will come from the components."""
    sets = [
        ("tea-tasting-set", "Tea Tasting Gift Set", "TEA-SET-01", ["tea"], 3, "5400"),
        ("skincare-trial-kit", "Skincare Trial Kit", "SKN-KIT-01", ["skincare"], 3, "4980"),
    ]
    bundle_type = ProductType.objects.get(slug="bundle")
    web_jp = Channel.objects.get(code="web-jp")
    for slug, name, sku, categories, size, price in sets:
        if Product.objects.filter(slug=slug).exists():
            continue
        components = list(
            ProductVariant.objects.filter(product__category__slug__in=categories).order_by("pk")[
                :size
            ]
        )
        if len(components) < size:
            continue
        product = catalog_services.product_create(
            product_type=bundle_type,
            name=name,
            slug=slug,
            category=components[0].product.category,
            tax_class=components[0].product.tax_class,
            description=f"{name}: {', '.join(c.product.name for c in components)}.",
        )
        variant = catalog_services.variant_create(product=product, sku=sku, name=name)
        for component in components:
            BundleComponent.objects.create(bundle=variant, component=component, quantity=1)
        catalog_services.variant_price_set(variant=variant, channel=web_jp, price=price)
        catalog_services.product_listing_set(product=product, channel=web_jp, is_published=True)


@transaction.atomic
def seed_users() -> DemoLogins:
    """An administrator and a catalogue manager with an API token (known demo passwords)."""
    User = get_user_model()
    admin, _ = User.objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
    admin.is_staff = admin.is_superuser = True
    admin.set_password("admin")
    admin.save()
    managers, _ = Group.objects.get_or_create(name="Catalogue managers")
    managers.permissions.set(Permission.objects.filter(content_type__app_label="catalog"))
    staff, _ = User.objects.get_or_create(
        username="catalogue", defaults={"email": "catalogue@example.com"}
    )
    staff.is_staff = True
    staff.set_password("catalogue")
    staff.save()
    staff.groups.add(managers)
    # A fresh token on every seed (its plaintext cannot be read back), the old one ends.
    tokens.tokens_revoke(user=staff)
    token = tokens.token_issue(user=staff, ttl=tokens.staff_token_ttl())
    # Store, warehouse and call-centre staff: orders, fulfilment, the till, stock, customers.
    operations_group, _ = Group.objects.get_or_create(name="Operations (stores, warehouses, phone)")
    operations_group.permissions.set(
        Permission.objects.filter(
            Q(content_type__app_label__in=["orders", "inventory"])
            | Q(content_type__app_label="customers", codename__startswith="view_")
            | Q(
                content_type__app_label="customers",
                codename__in=["add_customer", "change_customer"],
            )
            | Q(content_type__app_label="catalog", codename__startswith="view_")
        )
    )
    operations, _ = User.objects.get_or_create(
        username="operations", defaults={"email": "operations@example.com"}
    )
    operations.is_staff = True
    operations.set_password("operations")
    operations.save()
    operations.groups.add(operations_group)
    _known_token_install(operations, OPERATIONS_TOKEN)
    return DemoLogins(
        "admin",
        "admin",
        "catalogue",
        "catalogue",
        token.token,
        "operations",
        "operations",
        OPERATIONS_TOKEN,
    )


def seed_inventory(*, seed: int = 11) -> int:
    """Locations, opening stock (some items low or sold out), suppliers and a few purchase
    orders. Opening stock is a count, so it is in the ledger like any other change. Returns the
    number of stock rows counted; a database that already has stock keeps it."""
    rng = random.Random(seed)
    channels = {c.code: c for c in Channel.objects.all()}
    locations = {}
    for spec in inventory_data.LOCATIONS:
        location, _ = StockLocation.objects.update_or_create(
            code=spec["code"],
            defaults={
                "name": spec["name"],
                "kind": spec["kind"],
                "region": spec["region"],
                "city": spec["city"],
                "postal_code": spec["postal_code"],
                "country": spec.get("country", "JP"),
                "time_zone": spec.get("time_zone", "Asia/Tokyo"),
                "latitude": Decimal(spec["latitude"]),
                "longitude": Decimal(spec["longitude"]),
                "handling_days": spec["handling_days"],
                "ships_to_customers": spec["ships"],
                "pickup_enabled": spec["pickup"],
                "counts_for_online": spec["online"],
                "routing_priority": spec["priority"],
            },
        )
        location.channels.set([channels[c] for c in spec["channels"] if c in channels])
        locations[spec["code"]] = location
    if Stock.objects.exists():
        return 0
    levels = []
    variants = ProductVariant.objects.exclude(components__isnull=False).values_list(
        "pk", "product__category__slug"
    )
    for variant_id, category in variants.iterator(chunk_size=5000):
        roll = rng.random()
        for code, location in locations.items():
            if code == "wh-newjersey" and rng.random() < 0.4:
                continue
            if code.startswith("store-") and category in ("supplements", "snacks"):
                continue
            if roll < 0.04:
                quantity = 0  # sold out everywhere: a product page to see "out of stock" on
            elif roll < 0.12:
                quantity = rng.randint(0, 3)  # low: threshold events fire on the next sales
            else:
                quantity = rng.randint(5, 80) if code.startswith("wh-") else rng.randint(0, 12)
            levels.append(inventory_services.StockLevel(variant_id, location.pk, quantity))
    # The routing showcase: each of its goods only where SHOWCASE_STOCK puts it.
    showcase = routing_showcase()
    placed = set(showcase.values())
    levels = [level for level in levels if level.variant_id not in placed]
    for role, variant_id in showcase.items():
        where = inventory_data.SHOWCASE_STOCK[role]
        levels += [
            inventory_services.StockLevel(variant_id, location.pk, where.get(code, 0))
            for code, location in locations.items()
            if code != "wh-newjersey"
        ]
    for start in range(0, len(levels), 5000):
        inventory_services.stock_set_levels(
            levels=levels[start : start + 5000],
            reference="opening-count",
            note="Opening stock count",
            publish_signals=False,
        )
    # Hot sellers carry a higher low-stock threshold.
    StockPolicy.objects.bulk_create(
        [
            StockPolicy(variant_id=v, low_stock_threshold=15)
            for v in ProductVariant.objects.filter(
                product__category__slug__in=["supplements", "tea"]
            ).values_list("pk", flat=True)[:200]
        ],
        ignore_conflicts=True,
    )
    for code, name, lead_time, categories in inventory_data.SUPPLIERS:
        supplier, _ = Supplier.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "lead_time_days": lead_time,
                "contact_name": "Sales desk",
                "email": f"orders@{code}.example.jp",
            },
        )
        items = []
        for variant_id, price in (
            ProductVariant.objects.filter(
                Q(product__category__slug__in=categories), channel_listings__channel__code="web-jp"
            )
            .values_list("pk", "channel_listings__price")
            .iterator(chunk_size=5000)
        ):
            items.append(
                SupplierItem(
                    supplier=supplier,
                    variant_id=variant_id,
                    cost=(price * Decimal("0.4")).quantize(Decimal(1)),
                    minimum_order_quantity=rng.choice([1, 6, 12, 24]),
                )
            )
        SupplierItem.objects.bulk_create(items, ignore_conflicts=True, batch_size=5000)
    return len(levels)


def routing_showcase() -> dict[str, int]:
    """The goods of the routing showcase, role (`inventory_data.SHOWCASE_STOCK`) -> variant id:
    the latest variant of the latest products published in web-jp from SHOWCASE_CATEGORIES,
    one per product. The same catalogue always gives the same goods."""
    published = ProductChannelListing.objects.filter(
        channel__code="web-jp",
        is_published=True,
        available_from__isnull=True,
        available_until__isnull=True,
    ).values("product_id")
    rows = (
        ProductVariant.objects.filter(
            product_id__in=published,
            product__category__slug__in=inventory_data.SHOWCASE_CATEGORIES,
            channel_listings__channel__code="web-jp",
            components__isnull=True,
        )
        .order_by("-product_id", "-pk")
        .values_list("product_id", "pk")
    )
    chosen: dict[int, int] = {}
    for product_id, variant_id in rows:
        chosen.setdefault(product_id, variant_id)
        if len(chosen) == len(inventory_data.SHOWCASE_STOCK):
            break
    return dict(zip(inventory_data.SHOWCASE_STOCK, chosen.values(), strict=False))


def seed_sales_history(*, sales: int = 300, seed: int = 13) -> int:
    """Shipped sales from the Chiba warehouse, so that demand, low-stock signals and
    replenishment have something to show. (They predate the orders `seed_orders` places.)"""
    from inventory.errors import InsufficientStock

    if StockMovement.objects.filter(reason=StockMovement.Reason.SHIPMENT).exists():
        return 0
    rng = random.Random(seed)
    web = Channel.objects.get(code="web-jp")
    chiba = StockLocation.objects.get(code="wh-chiba")
    hot = list(
        Stock.objects.filter(
            location=chiba,
            on_hand__gte=5,
            variant__product__category__slug__in=["supplements", "tea", "skincare", "t-shirts"],
        )
        .order_by("variant_id")
        .values_list("variant_id", flat=True)[:60]
    )
    shipped = 0
    for number in range(1, sales + 1) if hot else ():
        reference = f"demo-sale:{number}"
        lines = [
            inventory_services.ReserveLine(v, rng.randint(1, 2))
            for v in rng.sample(hot, rng.randint(1, 2))
        ]
        try:
            inventory_services.stock_reserve(
                channel=web,
                lines=lines,
                reference=reference,
                kind="order",
                preferred_location_id=chiba.pk,
            )
        except InsufficientStock:
            continue
        shipped += inventory_services.stock_ship(reference=reference)
    return shipped


def seed_purchase_orders() -> int:
    """Draft orders from the replenishment suggestions; one sent, one partly received; and a
    transfer on its way from the warehouse to the Shibuya store."""
    from inventory.services import (
        purchase_order_receive,
        purchase_order_send,
        replenishment_create_purchase_orders,
        replenishment_suggestions,
        transfer_create,
        transfer_dispatch,
    )

    if PurchaseOrder.objects.exists():
        return 0
    chiba = StockLocation.objects.get(code="wh-chiba")
    orders = replenishment_create_purchase_orders(
        suggestions=replenishment_suggestions(location=chiba)
    )
    if len(orders) >= 2:
        purchase_order_send(purchase_order=orders[0])
        purchase_order_send(purchase_order=orders[1])
        first_line = orders[1].lines.order_by("pk").first()
        purchase_order_receive(
            purchase_order=orders[1], received={first_line.variant_id: first_line.quantity}
        )
    shibuya = StockLocation.objects.get(code="store-shibuya")
    movable = list(
        Stock.objects.filter(
            location=chiba, on_hand__gte=30, variant__product__category__slug="t-shirts"
        ).values_list("variant_id", flat=True)[:3]
    )
    if movable:
        transfer = transfer_create(
            source=chiba,
            destination=shibuya,
            lines=[(v, 5) for v in movable],
            note="Weekend restock",
        )
        transfer_dispatch(transfer=transfer)
    return len(orders)


# --- Customers -------------------------------------------------------------------------------


@dataclass
class CustomerSeed:
    created: int = 0
    purchases: int = 0
    refunds: int = 0
    logins: int = 0
    redemptions: int = 0
    adjustments: int = 0
    expired: int = 0
    segments: dict[str, int] | None = None
    login_email: str = customers_data.KNOWN_LOGIN_EMAIL
    login_password: str = customers_data.DEMO_PASSWORD

    def summary(self) -> str:
        segments = ", ".join(f"{slug} {n}" for slug, n in (self.segments or {}).items())
        if not self.created:
            return f"demo customers already there; segments recomputed ({segments})."
        return (
            f"{self.created} created ({self.logins} with a storefront login), "
            f"{self.purchases} purchases with {self.refunds} refunds, {self.redemptions} point "
            f"redemptions, {self.adjustments} staff adjustments, points expired on "
            f"{self.expired} accounts; segments: {segments}."
        )


@transaction.atomic
def seed_loyalty_programme() -> LoyaltyProgramme:
    """The active programme, "Demo Points", unless the database already has another one."""
    programme = customer_services.programme_active()
    if programme is None:
        programme = LoyaltyProgramme.objects.create(
            name=customers_data.PROGRAMME_NAME,
            is_active=True,
            auto_enrol=True,
            points_expire_after_days=customers_data.POINTS_EXPIRE_AFTER_DAYS,
        )
    if programme.name != customers_data.PROGRAMME_NAME:
        return programme  # the merchant's own programme: leave it as it is
    for currency, spend, points in customers_data.EARN_RATES:
        EarnRate.objects.update_or_create(
            programme=programme, currency=currency, defaults={"spend": spend, "points": points}
        )
    for name, threshold, multiplier, benefits in customers_data.TIERS:
        Tier.objects.update_or_create(
            programme=programme,
            threshold=threshold,
            defaults={"name": name, "multiplier": multiplier, "benefits": benefits},
        )
    return programme


def seed_customers(*, count: int = 300, seed: int = 17, now=None) -> CustomerSeed:
    """About `count` customers with three years of purchases across the channels, written
    through the customers services (purchases the way `order.paid` events record them), then
    RFM scores and three merchant segments. A database that has the demo customers (the known
    login) keeps them and only gets its scores and segments recomputed."""
    now = now or timezone.now()
    seed_loyalty_programme()
    report = CustomerSeed()
    if not Customer.objects.filter(email=customers_data.KNOWN_LOGIN_EMAIL).exists():
        with transaction.atomic():  # all or nothing: a failed run leaves no half a demo
            people = customers_data.generate(count, now=now, seed=seed)
            _seed_customer_records(report, people, now=now)
            report.expired = customer_services.points_expire_due(now=now)
            _seed_points_use(report, seed=seed, now=now)
    for slug, name, description, rule in customers_data.SEGMENTS:
        rule_compile(rule)  # a demo rule that stopped compiling should fail loudly here
        Segment.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description, "rule": rule}
        )
    rfm_recompute(now=now)
    report.segments = {
        segment.slug: segment_recompute(segment, now=now)
        for segment in Segment.objects.filter(
            slug__in=[s[0] for s in customers_data.SEGMENTS], is_active=True
        ).order_by("pk")
    }
    return report


def _seed_customer_records(
    report: CustomerSeed, people: list[customers_data.DemoCustomer], *, now
) -> None:
    channels = {c.code: c for c in Channel.objects.all()}
    consent_source = {"pos-shibuya": "staff", "marketplace-jp": "import", "phone-jp": "staff"}
    profiles: dict[int, Customer] = {}
    for person in people:
        channel = channels[person.channel]
        profile = {name: value for name, value in person.profile.items() if value}
        if person.login:
            # Registered from the start: the profile is the account's (a guest profile with
            # the same e-mail would need the e-mailed confirmation link).
            customer = customer_services.account_register(
                password=customers_data.DEMO_PASSWORD,
                channel=channel,
                marketing_consent=person.consents,
                consent_text_version=customers_data.CONSENT_TEXT_VERSION,
                **profile,
            ).customer
            Customer.objects.filter(pk=customer.pk).update(acquired_at=person.acquired_at)
        else:
            customer = customer_services.customer_create(
                channel=channel, acquired_at=person.acquired_at, **profile
            )
        profiles[person.key] = customer
        for address in person.addresses:
            customer_services.address_create(customer, **address)
        if person.login:
            customer_services.loyalty_join(customer, actor="customer")
            report.logins += 1
        else:
            for medium, granted in person.consents.items():
                customer_services.consent_set(
                    customer,
                    medium=medium,
                    granted=granted,
                    source=consent_source.get(person.channel, "checkout"),
                    text_version=customers_data.CONSENT_TEXT_VERSION,
                )
        for medium in person.revoked:
            customer_services.consent_set(
                customer, medium=medium, granted=False, source="unsubscribe_link", actor="customer"
            )
        for code, kind, value in person.identifiers:
            customer_services.identifier_add(
                customer, channel=channels[code], kind=kind, value=value
            )
        if person.tags:
            customer_services.customer_set_tags(customer, person.tags)
        for purchase in sorted(person.purchases, key=lambda p: p.paid_at):
            customer_services.purchase_record(
                order_id=purchase.order_id,
                number=purchase.order_id,
                channel=purchase.channel,
                currency=purchase.currency,
                total=purchase.total,
                paid_at=purchase.paid_at,
                customer_id=customer.pk,
            )
            report.purchases += 1
            if purchase.refunded:
                customer_services.purchase_refund(
                    order_id=purchase.order_id, refunded_total=purchase.refunded
                )
                report.refunds += 1
        report.created += 1
    _backdate(list(profiles.values()), now=now)


def _backdate(customers: list[Customer], *, now) -> None:
    """The services stamp what they write with the current time; a demo with three years of
    history should show its sign-ups, consents and points when they happened. Bulk updates of
    timestamps only: no amount, balance or state changes."""
    ids = [c.pk for c in customers]
    acquired = Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("acquired_at"))
    HistoryEntry.objects.filter(
        customer_id__in=ids,
        kind__in=[HistoryEntry.Kind.CREATED, HistoryEntry.Kind.REGISTERED],
    ).update(created_at=acquired)
    Consent.objects.filter(customer_id__in=ids, granted=True).update(changed_at=acquired)
    ConsentChange.objects.filter(customer_id__in=ids, granted=True).update(occurred_at=acquired)
    LoyaltyAccount.objects.filter(customer_id__in=ids).update(joined_at=acquired)
    get_user_model().objects.filter(customer__in=ids).update(
        date_joined=Subquery(
            Customer.objects.filter(user_id=OuterRef("pk")).values("acquired_at")[:1]
        )
    )
    paid = Purchase.objects.filter(order_id=OuterRef("reference"))
    demo_entries = PointEntry.objects.filter(account__customer_id__in=ids)
    demo_entries.filter(kind=PointEntry.Kind.EARN).update(
        created_at=Subquery(paid.values("paid_at")[:1])
    )
    demo_entries.filter(kind=PointEntry.Kind.REVERSE).update(
        created_at=Subquery(
            paid.values(
                at=Least(
                    F("paid_at") + timedelta(days=6),
                    Value(now, output_field=DateTimeField()),
                    output_field=DateTimeField(),
                )
            )[:1]
        )
    )


def _seed_points_use(report: CustomerSeed, *, seed: int, now) -> None:
    """A few members spend points on their latest order; staff adjust some by hand."""
    rng = random.Random(seed + 1)
    members = list(
        LoyaltyAccount.objects.filter(balance__gte=300)
        .select_related("customer")
        .order_by("customer_id")
    )
    for account in rng.sample(members, min(len(members), max(1, len(members) // 6))):
        latest = account.customer.purchases.order_by("-paid_at").first()
        points = min(account.balance, rng.choice([100, 200, 300, 500, 1000]))
        customer_services.points_redeem(
            account.customer,
            points=points,
            reference=latest.order_id if latest else "",
            reason=f"Used on order {latest.order_number}" if latest else "Used at checkout",
            actor="customer",
        )
        report.redemptions += 1
    everyone = list(LoyaltyAccount.objects.select_related("customer").order_by("customer_id"))
    for points, reason in customers_data.STAFF_ADJUSTMENTS:
        able = [a for a in everyone if points > 0 or a.balance >= 300]
        if not able:
            continue
        account = rng.choice(able)
        account.refresh_from_db(fields=["balance"])
        if account.balance + points < 0:
            continue
        customer_services.points_adjust(
            account.customer, points=points, reason=reason, actor="admin"
        )
        report.adjustments += 1


# --- Orders ----------------------------------------------------------------------------------


@dataclass
class OrderSeed:
    shipping_methods: int = 0
    shipping_rates: int = 0
    discounts: int = 0
    codes: int = 0
    placed: int = 0
    not_placed: int = 0  # planned, but the goods or the buyer were not there
    declined: int = 0
    abandoned: int = 0
    existing: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    payment_statuses: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    flagged: int = 0
    fulfilments: dict[str, int] = field(default_factory=dict)
    tracking_events: int = 0
    late: int = 0
    uncollected: int = 0
    fulfilment_seconds: float = 0.0  # staff and carriers' steps after placement, and the checks
    journeys: list[str] = field(default_factory=list)

    def summary(self) -> str:
        setup = (
            f"{self.shipping_methods} shipping methods ({self.shipping_rates} rates), "
            f"{self.discounts} discounts ({self.codes} codes)"
        )
        if not self.placed:
            return f"{self.existing} orders already there; {setup}."
        channels = ", ".join(f"{code} {n}" for code, n in self.channels.items())
        payments = ", ".join(f"{status} {n}" for status, n in self.payment_statuses.items())
        statuses = ", ".join(f"{status} {n}" for status, n in self.statuses.items())
        missed = f" ({self.not_placed} planned could not be placed)" if self.not_placed else ""
        return (
            f"{self.placed} placed through checkout{missed} ({channels}); payments: {payments}; "
            f"orders: {statuses}, {self.flagged} flagged; {self.declined} declined card(s) and "
            f"{self.abandoned} abandoned cart(s) left open; {setup}."
        )

    def fulfilment_summary(self) -> str:
        states = ", ".join(f"{state} {n}" for state, n in self.fulfilments.items())
        return (
            f"{sum(self.fulfilments.values())} fulfilments ({states}), {self.tracking_events} "
            f"tracking events; {self.late} reported late, {self.uncollected} pickup(s) reported "
            f"uncollected"
        )


@transaction.atomic
def seed_selling_setup(*, now=None) -> OrderSeed:
    """Shipping methods with their rates for every channel, and the discounts with their codes
    (idempotent: definitions are refreshed, usage counts are kept)."""
    now = now or timezone.now()
    report = OrderSeed()
    channels = {c.code: c for c in Channel.objects.all()}
    carriers = {}
    for code, name, template in orders_data.CARRIERS:
        carriers[code], _ = Carrier.objects.update_or_create(
            code=code, defaults={"name": name, "tracking_url_template": template, "is_active": True}
        )
    for position, (codes, code, name, basis, free_over, days, rates, carrier) in enumerate(
        orders_data.SHIPPING_METHODS
    ):
        for channel_code in codes:
            if channel_code not in channels:
                continue
            method, _ = ShippingMethod.objects.update_or_create(
                channel=channels[channel_code],
                code=code,
                defaults={
                    "name": name,
                    "basis": basis,
                    "free_over": free_over,
                    "transit_days": days,
                    "carrier": carriers[carrier],
                    "position": position,
                    "is_active": True,
                },
            )
            report.shipping_methods += 1
            for country, region, threshold, price, transit in rates:
                ShippingRate.objects.update_or_create(
                    method=method,
                    country=country,
                    region=region,
                    from_threshold=threshold,
                    defaults={"price": price, "transit_days": transit},
                )
                report.shipping_rates += 1
    for spec in orders_data.DISCOUNTS:
        same = {"codes__code": spec.code} if spec.code else {"name": spec.name}
        discount = Discount.objects.filter(**same).order_by("pk").first() or Discount()
        discount.name = spec.name
        discount.kind = spec.kind
        discount.value = spec.value
        discount.target = spec.target
        discount.currency = spec.currency
        discount.min_subtotal = spec.min_subtotal
        discount.buy_quantity = spec.buy_quantity
        discount.get_quantity = spec.get_quantity
        discount.per_customer_limit = spec.per_customer_limit
        discount.automatic = spec.automatic
        discount.is_active = True
        discount.valid_until = now + timedelta(days=spec.days_left) if spec.days_left else None
        discount.save()
        discount.channels.set([channels[c] for c in spec.channels if c in channels])
        discount.categories.set(Category.objects.filter(slug__in=spec.categories))
        if spec.code:
            DiscountCode.objects.get_or_create(code=spec.code, defaults={"discount": discount})
        if spec.name == orders_data.WINBACK_NAME and not discount.codes.exists():
            codes_generate(
                discount,
                count=orders_data.WINBACK_CODES,
                prefix=orders_data.WINBACK_PREFIX,
                batch=orders_data.WINBACK_BATCH,
            )
        report.discounts += 1
    report.codes = DiscountCode.objects.count()
    return report


def seed_orders(*, count: int = 60, seed: int = 23, now=None) -> OrderSeed:
    """`count` orders over the last six weeks, placed the way each door places them (the
    storefront's cart and checkout with the test gateway; the call centre's `phone_order_place`;
    the till's `pos_sale`), routed to their locations at placement, then taken further by staff
    and carriers at their own times: payments captured, settled, refunded; orders cancelled,
    held, flagged; parcels picked, packed, shipped with tracking numbers, reported on by the
    carrier and delivered; pickups made ready and collected. Then the beat tasks' checks run
    once: late fulfilments and uncollected pickups are reported. Also a few declined cards and
    abandoned carts. A database that has orders keeps them."""
    now = now or timezone.now()
    report = seed_selling_setup(now=now)
    if count <= 0 or Order.objects.exists():
        report.existing = Order.objects.count()
        return report
    planned, carts = orders_data.plan(count, seed=seed)
    with transaction.atomic():  # all or nothing, like the customers
        shop = _DemoShop(now=now)
        for order in sorted(planned, key=lambda p: (-p.days_ago, p.key)):  # numbers by date
            _seed_order(report, shop, order, now=now)
        for cart in carts:
            _seed_cart(report, shop, cart, now=now)
        started = time.monotonic()
        # What the beat tasks would find now (detect-late-fulfilments, flag-uncollected-pickups).
        report.late = order_services.fulfilments_detect_delays(now=now)
        report.uncollected = order_services.pickups_flag_uncollected(now=now)
        report.fulfilment_seconds += time.monotonic() - started
    orders = Order.objects.all()
    report.placed = orders.count()
    report.channels = _counted(orders, "channel__code")
    report.payment_statuses = _counted(orders, "payment_status")
    report.statuses = _counted(orders, "status")
    report.flagged = orders.filter(flagged=True).count()
    report.fulfilments = _counted(Fulfilment.objects.all(), "state")
    report.tracking_events = TrackingEvent.objects.count()
    report.journeys = _journeys(shop)
    return report


def _journeys(shop: _DemoShop) -> list[str]:
    """Where to try the fulfilment journeys of the README in this demo."""
    found = []
    pending_split = (
        Order.objects.filter(number__in=shop.journeys.get("two parcels to ship", []))
        .prefetch_related("fulfilments__location")
        .first()
    )
    if pending_split is not None:
        parcels = ", ".join(
            f"{f.number} from {f.location.code}" for f in pending_split.fulfilments.all()
        )
        found.append(f"two parcels to ship: order {pending_split.number} ({parcels})")
    hanako_pickup = (
        Fulfilment.objects.filter(
            kind=Fulfilment.Kind.PICKUP,
            state=Fulfilment.State.READY,
            order__customer__email=customers_data.KNOWN_LOGIN_EMAIL,
        )
        .select_related("location")
        .first()
    )
    if hanako_pickup is not None:
        found.append(
            f"pickup ready: {hanako_pickup.number} at {hanako_pickup.location.code}, "
            f"code {hanako_pickup.pickup_code}"
        )
    for label in ("two parcels, one out for delivery", "late", "uncollected", "ship-from-store"):
        numbers = shop.journeys.get(label)
        if numbers:
            found.append(f"{label}: order {', '.join(numbers)}")
    return found


def _counted(queryset, field_name: str) -> dict[str, int]:
    rows = queryset.order_by().values_list(field_name).annotate(n=Count("pk"))
    return dict(sorted(rows, key=lambda row: (-row[1], row[0])))


@contextmanager
def _card_capture(mode: str):
    """Card payments authorized only (`authorize`) or captured at once (`capture`)."""
    before = settings.ORDERS_CARD_CAPTURE
    settings.ORDERS_CARD_CAPTURE = mode
    try:
        yield
    finally:
        settings.ORDERS_CARD_CAPTURE = before


@dataclass
class _Buyer:
    customer: Customer | None  # the cart is theirs (signed in, or picked by the call centre)
    email: str
    phone: str
    address: dict | None


@dataclass
class _Goods:
    price: Decimal
    category: str
    available: int


class _DemoShop:
    """What the seeding picks from: buyers per country and sellable goods per channel and
    pickup store, with the units it has used up so far (so carts ask only for what is there)."""

    def __init__(self, *, now) -> None:
        self.now = now
        self.channels = {c.code: c for c in Channel.objects.all()}
        self.emails = {e.lower() for e in Customer.objects.values_list("email", flat=True) if e}
        self.guests = 0
        addresses: dict[int, dict] = {}
        for address in Address.objects.filter(customer__state=Customer.State.ACTIVE).order_by(
            "customer_id", "-is_default_shipping", "pk"
        ):
            addresses.setdefault(address.customer_id, _address_dict(address))
        self.addresses = addresses
        people = Customer.objects.filter(state=Customer.State.ACTIVE, pk__in=list(addresses))
        self.hanako = people.filter(email=customers_data.KNOWN_LOGIN_EMAIL).first()
        self.people: dict[tuple[str, str], list[Customer]] = {}
        for customer in people.exclude(email=customers_data.KNOWN_LOGIN_EMAIL).order_by("pk"):
            kind = "member" if customer.user_id else "known"
            country = addresses[customer.pk]["country"]
            self.people.setdefault((kind, country), []).append(customer)
        self.goods: dict[str, dict[int, _Goods]] = {}
        self.store_stock: dict[str, dict[int, int]] = {}
        self.showcase = routing_showcase()  # kept out of the other baskets
        self.staff = get_user_model().objects.filter(username="operations").first()
        self.journeys: dict[str, list[str]] = {}

    def country(self, channel: str) -> str:
        return self.channels[channel].country or "JP"

    def buyer(self, rng: random.Random, kind: str, channel: str) -> _Buyer:
        country = self.country(channel)
        if kind == "hanako" and self.hanako is not None:
            return _Buyer(self.hanako, "", "", self.addresses[self.hanako.pk])
        staffed = channel in ("phone-jp", "pos-shibuya")  # the profile is looked up by staff
        pool = self.people.get(("member" if kind in ("hanako", "member") else "known", country))
        if kind != "guest" and pool:
            customer = rng.choice(pool)
            if customer.user_id or staffed:
                return _Buyer(customer, "", customer.phone, self.addresses[customer.pk])
            if customer.email:  # a known customer checking out as a guest, by e-mail
                return _Buyer(None, customer.email, "", self.addresses[customer.pk])
        while True:
            self.guests += 1
            person = orders_data.guest(rng, country, self.guests)
            if person["email"] not in self.emails:
                self.emails.add(person["email"])
                return _Buyer(None, person["email"], person["phone"], person["address"])

    def _goods(self, channel_code: str) -> dict[int, _Goods]:
        if channel_code not in self.goods:
            channel = self.channels[channel_code]
            published = ProductChannelListing.objects.filter(
                Q(available_from__isnull=True) | Q(available_from__lte=self.now),
                Q(available_until__isnull=True) | Q(available_until__gt=self.now),
                channel=channel,
                is_published=True,
            ).values("product_id")
            rows = (
                VariantChannelListing.objects.filter(
                    channel=channel, variant__product_id__in=published
                )
                .order_by("variant_id")
                .values_list("variant_id", "price", "variant__product__category__slug")
            )
            prices = {variant_id: (price, category or "") for variant_id, price, category in rows}
            available = availability_for_channel(channel=channel, variant_ids=list(prices))
            showcase = set(self.showcase.values())
            self.goods[channel_code] = {
                variant_id: _Goods(price, category, available.get(variant_id, 0))
                for variant_id, (price, category) in prices.items()
                if available.get(variant_id, 0) > 0 and variant_id not in showcase
            }
        return self.goods[channel_code]

    def _at_store(self, store: str) -> dict[int, int]:
        if store not in self.store_stock:
            free = F("on_hand") - F("allocated") - F("safety_stock")
            self.store_stock[store] = dict(
                Stock.objects.filter(location__code=store)
                .annotate(free=free)
                .filter(free__gt=0)
                .values_list("variant_id", "free")
            )
        return self.store_stock[store]

    def basket(
        self, rng: random.Random, channel: str, kind: str, store: str = ""
    ) -> list[tuple[int, int]]:
        """(variant id, quantity) lines that the channel (and the pickup store, or the till's
        shelf) can sell now."""
        if kind in ("split", "from-store"):
            roles = ["chiba_only", "osaka_only"] if kind == "split" else ["umeda_only"]
            if not all(role in self.showcase for role in roles):
                return []
            return sorted((self.showcase[role], 1) for role in roles)
        goods = self._goods(channel)
        at_store = self._at_store(store) if store else None
        if kind == "aisle":  # what the till's own shelf lacks, sent home from a warehouse
            shelf = self._at_store(orders_data.TILL[channel])
            goods = {v: g for v, g in goods.items() if shelf.get(v, 0) <= 0}
            kind = "any"

        def left(variant_id: int) -> int:
            units = goods[variant_id].available
            return min(units, at_store.get(variant_id, 0)) if at_store is not None else units

        def pool(category: str = "") -> list[int]:
            return [
                v for v in goods if left(v) > 0 and (not category or goods[v].category == category)
            ]

        lines: dict[int, int] = {}
        everyday = Decimal(4500) if self.country(channel) == "JP" else Decimal(35)

        def one_of(choices: list[int]) -> int:
            """Mostly everyday goods (a parka now and then): baskets of a few thousand yen."""
            cheap = [v for v in choices if goods[v].price <= everyday]
            return rng.choice(cheap if cheap and rng.random() < 0.8 else choices)

        def take(variant_id: int, quantity: int) -> None:
            quantity = min(quantity, left(variant_id))
            if quantity <= 0:
                return
            lines[variant_id] = lines.get(variant_id, 0) + quantity
            goods[variant_id].available -= quantity
            if at_store is not None:
                at_store[variant_id] -= quantity

        if kind == "tshirts" and pool("t-shirts"):
            for _unit in range(3):  # three units, mixed sizes or colours: the third is free
                choices = pool("t-shirts")
                if choices:
                    take(rng.choice(choices), 1)
        elif kind == "tea" and pool("tea"):
            for variant_id in rng.sample(pool("tea"), min(len(pool("tea")), rng.randint(1, 2))):
                take(variant_id, rng.choice([1, 1, 2]))
        elif kind == "big" and pool():
            target = Decimal(9500) if self.country(channel) == "JP" else Decimal(95)
            total = Decimal(0)
            while total < target and len(lines) < 5 and pool():
                variant_id = one_of(pool())
                take(variant_id, rng.choice([1, 2]))
                total = sum((goods[v].price * q for v, q in lines.items()), Decimal(0))
        else:
            for _line in range(rng.choice([1, 1, 1, 2, 2, 3])):
                choices = [v for v in pool() if v not in lines]
                if choices:
                    take(one_of(choices), 2 if rng.random() < 0.2 else 1)
        return sorted(lines.items())

    def code(self, planned: orders_data.PlannedOrder) -> str:
        if planned.code != "winback":
            return planned.code
        unused = DiscountCode.objects.filter(batch=orders_data.WINBACK_BATCH, times_used=0)
        found = unused.order_by("code").first()
        return found.code if found else ""


def _address_dict(address: Address) -> dict:
    return {name: getattr(address, name) for name in CART_ADDRESS_FIELDS}


def _filled_cart(channel: Channel, buyer: _Buyer, lines: list[tuple[int, int]]) -> Cart:
    cart = order_services.cart_create(channel=channel, customer=buyer.customer, email=buyer.email)
    for variant_id, quantity in lines:
        try:
            cart = order_services.cart_line_set(cart, variant_id=variant_id, quantity=quantity)
        except DomainError:
            continue  # sold meanwhile: the buyer goes on without it
    return cart


def _seed_order(
    report: OrderSeed, shop: _DemoShop, planned: orders_data.PlannedOrder, *, now
) -> None:
    rng = random.Random(planned.rng_seed)
    placed_at = now - timedelta(days=planned.days_ago)
    channel = shop.channels.get(planned.channel)
    if channel is None:
        report.not_placed += 1
        return
    buyer = shop.buyer(rng, planned.buyer, planned.channel)
    till = orders_data.TILL.get(planned.channel, "")
    shelf = till if planned.basket == "store" else planned.store
    lines = shop.basket(rng, planned.channel, planned.basket, shelf)
    ships = planned.delivery not in ("pickup", "counter")
    if not lines or (ships and not buyer.address):
        report.not_placed += 1
        return
    since = timezone.now()
    card = planned.payment == PaymentMethod.CARD
    payment = order_services.PaymentInput(
        method=planned.payment, token=orders_data.CARD_OK if card else ""
    )
    authorize_only = planned.outcome in ("authorized", "cancelled_authorized")
    try:
        with _card_capture("authorize" if authorize_only else "capture"):
            if channel.kind == Channel.Kind.POS:
                order = order_services.pos_sale(
                    channel=channel,
                    store=till,
                    lines=_sku_lines(lines),
                    payment=payment,
                    customer=buyer.customer,
                    email=buyer.email,
                    phone=buyer.phone,
                    ship_to=buyer.address if ships else None,
                    shipping_method=planned.delivery if ships else "",
                    actor=shop.staff,
                )
            elif channel.kind == Channel.Kind.PHONE:
                order = order_services.phone_order_place(
                    channel=channel,
                    lines=_sku_lines(lines),
                    payment=payment,
                    customer=buyer.customer,
                    email=buyer.email,
                    phone=buyer.phone,
                    shipping_address=buyer.address if ships else None,
                    shipping_method=planned.delivery if ships else "",
                    pickup_store=planned.store if not ships else "",
                    actor=shop.staff,
                )
            else:
                order = _web_checkout(channel, buyer, lines, planned, shop, payment)
    except DomainError:
        report.not_placed += 1  # a cart it left stays open: one more abandoned cart
        for cart_id in Cart.objects.filter(created_at__gte=since).values_list("pk", flat=True):
            _stamp_cart(cart_id, since, placed_at)
        return
    _stamp_order(order, since, placed_at, placing=True)
    started = time.monotonic()
    _order_afterwards(order, planned, rng, placed_at=placed_at, now=now, shop=shop)
    report.fulfilment_seconds += time.monotonic() - started
    if planned.flow == "pending" and planned.basket == "split":
        shop.journeys.setdefault("two parcels to ship", []).append(order.number)
    elif planned.flow == "split":
        shop.journeys.setdefault("two parcels, one out for delivery", []).append(order.number)
    elif planned.flow in ("late", "uncollected"):
        shop.journeys.setdefault(planned.flow, []).append(order.number)
    elif planned.basket == "from-store":
        shop.journeys.setdefault("ship-from-store", []).append(order.number)


def _sku_lines(lines: list[tuple[int, int]]) -> list[order_services.SkuLine]:
    skus = dict(
        ProductVariant.objects.filter(pk__in=[v for v, _ in lines]).values_list("pk", "sku")
    )
    return [order_services.SkuLine(skus[variant_id], quantity) for variant_id, quantity in lines]


def _web_checkout(
    channel: Channel,
    buyer: _Buyer,
    lines: list[tuple[int, int]],
    planned: orders_data.PlannedOrder,
    shop: _DemoShop,
    payment: order_services.PaymentInput,
) -> Order:
    """The storefront's way: a cart, its lines, details, a code, then checkout."""
    cart = _filled_cart(channel, buyer, lines)
    details: dict = {}
    if planned.delivery == "pickup":
        details["pickup_location"] = planned.store
    else:
        details.update(shipping_address=buyer.address, shipping_method=planned.delivery)
    if buyer.phone:
        details["phone"] = buyer.phone
    code = shop.code(planned)
    if code:
        details["discount_code"] = code
    cart = order_services.cart_update(cart, **details)
    if code and order_services.cart_quote(cart).code_problem:
        cart = order_services.cart_update(cart, discount_code="")  # the buyer removes it
    return order_services.checkout_complete(cart, payment=payment)


NEVER = float("inf")


class _Timeline:
    """Things that happened to one order after it was placed, at hours after placement: run in
    the order they happened (so states change as they did), each stamped with its time. A step
    marked `due` happened even if its time would be in the future (it is then put just before
    now: a refund the plan asked for); the others have simply not happened yet."""

    def __init__(self, order: Order, *, placed_at, now) -> None:
        self.order = order
        self.placed_at = placed_at
        self.age = (now - placed_at).total_seconds() / 3600
        self.steps: list[tuple[float, int, Callable[[], object], bool]] = []

    def add(self, hours: float, action: Callable[[], object], *, due: bool = False) -> None:
        self.steps.append((hours, len(self.steps), action, due))

    def run(self) -> None:
        latest = self.age - 5 / 60
        for hours, _, action, due in sorted(self.steps, key=lambda step: step[:2]):
            if hours >= latest:
                if not due:
                    continue
                hours = latest
            since = timezone.now()
            action()
            _stamp_order(self.order, since, self.placed_at + timedelta(hours=max(hours, 0)))


def _order_afterwards(
    order: Order,
    planned: orders_data.PlannedOrder,
    rng: random.Random,
    *,
    placed_at,
    now,
    shop: _DemoShop,
) -> None:
    """What staff, carriers and buyers did with the order after it was placed, each at its own
    time: first the payment (capture, settle, refund, cancel, hold, flag), which decides when
    the goods may leave; then the goods (see `_fulfil`)."""
    timeline = _Timeline(order, placed_at=placed_at, now=now)
    outcome, method = planned.outcome, planned.payment
    ready = 0.0  # the goods may leave from this hour (NEVER: they may not)

    def settle(note: str):
        return lambda: order_services.payment_settle(
            order, amount=quantize(order.total, order.currency), note=note
        )

    if method == "cod":
        ready = 0.0  # sent at once; the carrier collects on delivery (see _fulfil)
    elif outcome == "settled" and method == "bank_transfer":
        hours = rng.uniform(5, 20)
        timeline.add(hours, settle(orders_data.SETTLE_NOTES[method]), due=True)
        ready = hours + rng.uniform(1, 3)
    elif outcome == "awaiting" and method == "bank_transfer":
        ready = NEVER  # unconfirmed until the transfer arrives
    elif outcome == "authorized":
        if planned.days_ago > 1:  # captured when staff check the order, then sent
            hours = rng.uniform(6, 20)
            amount = quantize(order.authorized_total, order.currency)
            timeline.add(
                hours, lambda: order_services.payment_capture(order, amount=amount), due=True
            )
            ready = hours + rng.uniform(0.5, 2)
        else:
            ready = NEVER
    elif outcome == "partially_refunded":
        share = Decimal(rng.choice([20, 30, 40])) / 100
        amount = quantize(order.total * share, order.currency)
        reason = rng.choice(orders_data.PARTIAL_REFUND_REASONS)
        timeline.add(
            rng.uniform(48, 200),
            lambda: order_services.payment_refund(order, amount=amount, reason=reason),
            due=True,
        )
    elif outcome == "refunded":
        timeline.add(
            rng.uniform(48, 200),
            lambda: order_services.payment_refund(
                order,
                amount=quantize(order.total, order.currency),
                reason=orders_data.FULL_REFUND_REASON,
            ),
            due=True,
        )
    elif outcome in ("cancelled", "cancelled_authorized"):
        reason = orders_data.CANCEL_REASONS[
            "authorized" if outcome == "cancelled_authorized" else method
        ]
        hours = 7 * 24 + rng.uniform(1, 8) if method == "bank_transfer" else rng.uniform(1, 20)
        timeline.add(hours, lambda: order_services.order_cancel(order, reason=reason), due=True)
        ready = NEVER
    elif outcome == "on_hold":
        reason = rng.choice(orders_data.HOLD_REASONS)
        held = rng.uniform(1, 12)
        timeline.add(held, lambda: order_services.order_hold(order, reason=reason), due=True)
        if planned.days_ago > 3:  # sorted out since, and sent
            released = held + rng.uniform(20, 40)
            timeline.add(released, lambda: order_services.order_release(order), due=True)
            ready = released + rng.uniform(1, 3)
        else:
            ready = NEVER
    elif outcome == "flagged":
        reason = rng.choice(orders_data.FLAG_REASONS)
        flagged = rng.uniform(0.5, 6)
        timeline.add(flagged, lambda: order_services.order_flag(order, reason=reason), due=True)
        ready = flagged + rng.uniform(1, 4)  # checked by staff, then sent
    if ready is not NEVER and planned.flow not in ("pending", "late"):
        _fulfil(timeline, order, planned, rng, ready=ready, shop=shop)
    timeline.run()


def _fulfil(
    timeline: _Timeline,
    order: Order,
    planned: orders_data.PlannedOrder,
    rng: random.Random,
    *,
    ready: float,
    shop: _DemoShop,
) -> None:
    """The goods' way, from `ready` hours on: a parcel is picked and packed before its promised
    dispatch and shipped with a tracking number; the carrier reports it (handed over, in
    transit, at the delivery centre, out for delivery, now and then nobody at home) until it is
    delivered about when promised; cash on delivery is settled then. A pickup is made ready at
    the store within hours and collected against its code (paid at the till then, if not
    before). A till sale was handed over at the counter already."""
    fulfilments = list(order.fulfilments.select_related("location", "carrier").order_by("id"))
    destination = destination_of(order)
    transit = delivery_promise.transit_days(order.shipping_method, destination)
    place = (order.shipping_address or {}).get("city", "")
    delivered_hours: list[float] = []
    staff = shop.staff
    for index, fulfilment in enumerate(fulfilments):
        if fulfilment.state == Fulfilment.State.CANCELLED or fulfilment.ship_by is None:
            continue
        promised = (fulfilment.ship_by - timeline.placed_at).total_seconds() / 3600
        if fulfilment.kind == Fulfilment.Kind.PICKUP:
            _pickup(
                timeline,
                order,
                fulfilment,
                planned,
                rng,
                ready=ready,
                promised=promised,
                staff=staff,
            )
            continue
        if fulfilment.kind != Fulfilment.Kind.SHIPMENT:
            continue
        same_day = fulfilment.location.handling_days == 0
        shipped = min(rng.uniform(2, 6) if same_day else rng.uniform(10, 22), promised - 0.5)
        shipped = max(shipped, ready)
        if planned.flow == "split" and index == 1:
            shipped += 26  # this parcel waited a day for a picker: it left late
        picking = max(shipped - rng.uniform(3, 6), ready, 0.1)
        packed = picking + (shipped - picking) * rng.uniform(0.5, 0.9)
        carrier = fulfilment.carrier
        number = orders_data.tracking_number(rng, carrier.code if carrier else "")

        def prepare(fulfilment=fulfilment, state="picking"):
            return lambda: order_services.fulfilment_prepare(fulfilment, state=state, actor=staff)

        if planned.flow in ("picking", "packed"):  # in the warehouse as we speak
            picking = ready + (timeline.age - ready) * 0.5
            timeline.add(picking, prepare())
            if planned.flow == "packed":
                timeline.add(picking + (timeline.age - picking) * 0.5, prepare(state="packed"))
            continue
        timeline.add(picking, prepare())
        timeline.add(packed, prepare(state="packed"))
        timeline.add(
            shipped,
            lambda fulfilment=fulfilment, number=number: order_services.fulfilment_ship(
                fulfilment, tracking_number=number, actor=staff
            ),
        )
        arrives = shipped + 24 * max(transit, 1) - rng.uniform(2, 9)
        if planned.flow == "split" and index == 1:
            arrives = timeline.age + rng.uniform(1, 2.5)  # out for delivery as we speak
        reports = [
            (shipped + rng.uniform(0.3, 1), "info", fulfilment.location.city),
            (shipped + rng.uniform(3, 6), "in_transit", fulfilment.location.city),
            (arrives - rng.uniform(8, 11), "arrived", place),
        ]
        if rng.random() < 0.12:  # nobody at home the first time
            reports += [
                (arrives - rng.uniform(2, 3), "out_for_delivery", place),
                (arrives, "exception", place),
            ]
            arrives += 24
        reports += [
            (arrives - rng.uniform(2, 3), "out_for_delivery", place),
            (arrives, "delivered", place),
        ]
        source = f"{carrier.code} tracking feed" if carrier else "carrier"
        for hours, status, where in reports:
            timeline.add(
                hours,
                _tracking_report(number, carrier, status, where, timeline.placed_at, hours, source),
            )
        delivered_hours.append(arrives)
    if order.payment_method == "cod" and delivered_hours:
        timeline.add(
            max(delivered_hours) + rng.uniform(0.05, 0.2),
            lambda: order_services.payment_settle(
                order,
                amount=quantize(order.total, order.currency),
                note=orders_data.SETTLE_NOTES["cod"],
            ),
        )


def _tracking_report(number, carrier, status, place, placed_at, hours, source):
    description, status = orders_data.TRACKING_REPORTS[status]
    return lambda: order_services.tracking_record(
        order_services.TrackingUpdate(
            tracking_number=number,
            status=status,
            occurred_at=placed_at + timedelta(hours=hours),
            carrier=carrier.code if carrier else "",
            description=description,
            place=place,
        ),
        source=source,
    )


def _pickup(
    timeline: _Timeline,
    order: Order,
    fulfilment: Fulfilment,
    planned: orders_data.PlannedOrder,
    rng: random.Random,
    *,
    ready: float,
    promised: float,
    staff,
) -> None:
    made_ready = max(min(rng.uniform(0.8, 4), promised - 0.5), ready, 0.1)
    timeline.add(made_ready, lambda: order_services.fulfilment_ready(fulfilment, actor=staff))
    if planned.flow == "uncollected" or planned.outcome == "awaiting":
        return  # still on the shelf
    collected = made_ready + rng.uniform(5, 60)
    if order.payment_method == PaymentMethod.PAY_AT_STORE:
        timeline.add(
            collected - 0.02,
            lambda: order_services.payment_settle(
                order,
                amount=quantize(order.total, order.currency),
                note=orders_data.SETTLE_NOTES["pay_at_store"],
            ),
        )

    def collect():
        code = Fulfilment.objects.values_list("pickup_code", flat=True).get(pk=fulfilment.pk)
        order_services.fulfilment_collect(fulfilment, code=code, actor=staff)

    timeline.add(collected, collect)


def _seed_cart(report: OrderSeed, shop: _DemoShop, planned: orders_data.PlannedCart, *, now):
    """A cart left open: its card was declined at checkout, or the buyer just went away."""
    rng = random.Random(planned.rng_seed)
    channel = shop.channels.get(planned.channel)
    if channel is None:
        return
    buyer = shop.buyer(rng, planned.buyer, planned.channel)
    lines = shop.basket(rng, planned.channel, "any")
    if not lines:
        return
    since = timezone.now()
    cart = _filled_cart(channel, buyer, lines)
    if planned.declined and buyer.address:
        method = "ground" if planned.channel == "web-us" else "yamato"
        try:
            cart = order_services.cart_update(
                cart, shipping_address=buyer.address, shipping_method=method
            )
            order_services.checkout_complete(
                cart,
                payment=order_services.PaymentInput(
                    method=PaymentMethod.CARD, token=orders_data.CARD_DECLINED
                ),
            )
        except order_services.PaymentDeclined:
            report.declined += 1
        except DomainError:
            report.abandoned += 1
    else:
        if buyer.address and rng.random() < 0.5:  # got as far as the address
            order_services.cart_update(cart, shipping_address=buyer.address)
        report.abandoned += 1
    _stamp_cart(cart.pk, since, now - timedelta(days=planned.days_ago))


def _stamp_row(model, pk: int, since, values: dict) -> dict:
    """Set each timestamp field that was written since `since` to its value; returns the row."""
    row = model.objects.filter(pk=pk).values("pk", *values).get()
    changed = {
        name: value
        for name, value in values.items()
        if row[name] is not None and row[name] >= since
    }
    if changed:
        model.objects.filter(pk=pk).update(**changed)
    return {**row, **changed}


def _stamp_events(subject_type: str, subject_id: int, since, when, **payload) -> None:
    events = list(
        OutboxEvent.objects.filter(
            subject_type=subject_type, subject_id=str(subject_id), occurred_at__gte=since
        )
    )
    for event in events:
        event.occurred_at = when
        event.payload.update({k: v for k, v in payload.items() if k in event.payload})
    OutboxEvent.objects.bulk_update(events, ["occurred_at", "payload"])


def _stamp_cart(cart_id: int, since, when) -> None:
    """The cart, its payment attempts and its events were written at `when`, not now."""
    _stamp_row(
        Cart,
        cart_id,
        since,
        {
            "created_at": when - timedelta(minutes=7),
            "last_activity_at": when,
            "completed_at": when,
        },
    )
    Payment.objects.filter(cart_id=cart_id, created_at__gte=since).update(created_at=when)
    Transaction.objects.filter(payment__cart_id=cart_id, created_at__gte=since).update(
        created_at=when
    )
    _stamp_events("cart", cart_id, since, when, last_activity_at=when)


def _stamp_order(order: Order, since, when, *, placing: bool = False) -> None:
    """The services stamp what they write with the current time; the demo's orders were placed
    and handled over six weeks. Timestamps only (of the order, its cart, payments, history,
    redemptions, a profile it created and its events): no amount or state changes."""
    row = _stamp_row(
        Order,
        order.pk,
        since,
        {"placed_at": when, "paid_at": when, "cancelled_at": when},
    )
    OrderHistory.objects.filter(order_id=order.pk, created_at__gte=since).update(created_at=when)
    Payment.objects.filter(order_id=order.pk, created_at__gte=since).update(created_at=when)
    Transaction.objects.filter(payment__order_id=order.pk, created_at__gte=since).update(
        created_at=when
    )
    DiscountRedemption.objects.filter(reference=order.number, created_at__gte=since).update(
        created_at=when
    )
    if placing and order.customer_id:  # a profile checkout made, or details it learnt
        Customer.objects.filter(pk=order.customer_id, acquired_at__gte=since).update(
            acquired_at=when
        )
        HistoryEntry.objects.filter(customer_id=order.customer_id, created_at__gte=since).update(
            created_at=when
        )
    if order.cart_id:
        _stamp_cart(order.cart_id, since, when)
    _stamp_fulfilments(order, since, when, placing=placing)
    _stamp_events(
        "order",
        order.pk,
        since,
        when,
        placed_at=row["placed_at"],
        paid_at=when,
        refunded_at=when,
        cancelled_at=when,
    )


def _stamp_fulfilments(order: Order, since, when, *, placing: bool) -> None:
    """The order's fulfilments, their events, tracking reports and stock movements, written
    since `since`, happened at `when`. At placement the promises are made again from `when`
    (dispatch by, estimated delivery) and the routing decision is dated `when`."""
    fields = ["created_at", "ready_at", "shipped_at", "delivered_at", "cancelled_at"]
    changed, promises = [], {}
    destination = destination_of(order) if placing else None
    for fulfilment in Fulfilment.objects.filter(order_id=order.pk).select_related("location"):
        dirty = [
            n
            for n in fields
            if getattr(fulfilment, n) is not None and getattr(fulfilment, n) >= since
        ]
        if not dirty:
            continue
        for name in dirty:
            setattr(fulfilment, name, when)
        if placing and "created_at" in dirty:
            if fulfilment.kind != Fulfilment.Kind.IN_STORE:
                fulfilment.ship_by = delivery_promise.ship_by(fulfilment.location, now=when)
            fulfilment.estimated_delivery = delivery_promise.estimated_delivery(
                fulfilment.location,
                order.shipping_method if fulfilment.kind == Fulfilment.Kind.SHIPMENT else None,
                destination,
                now=when,
            )
            promises[str(fulfilment.pk)] = {
                "ship_by": fulfilment.ship_by,
                "estimated_delivery": fulfilment.estimated_delivery,
            }
        changed.append(fulfilment)
    if changed:
        Fulfilment.objects.bulk_update(changed, [*fields, "ship_by", "estimated_delivery"])
        events = list(
            OutboxEvent.objects.filter(
                subject_type="fulfilment",
                subject_id__in=[str(f.pk) for f in changed],
                occurred_at__gte=since,
            )
        )
        times = {
            "ready_at": when,
            "shipped_at": when,
            "delivered_at": when,
            "collected_at": when,
            "collect_by": when + timedelta(days=settings.ORDERS_PICKUP_COLLECT_DAYS),
        }
        for event in events:
            event.occurred_at = when
            update = {**times, **promises.get(event.subject_id, {})}
            event.payload.update({k: v for k, v in update.items() if k in event.payload})
        OutboxEvent.objects.bulk_update(events, ["occurred_at", "payload"])
    TrackingEvent.objects.filter(fulfilment__order_id=order.pk, recorded_at__gte=since).update(
        recorded_at=when
    )
    StockMovement.objects.filter(created_at__gte=since, reference=order.reference).update(
        created_at=when
    )
    reservations = Reservation.objects.filter(reference=order.reference)
    reservations.filter(created_at__gte=since).update(created_at=when)
    reservations.filter(closed_at__gte=since).update(closed_at=when)
    if placing:
        routing = Order.objects.values_list("routing", flat=True).get(pk=order.pk)
        for decision in routing:
            if decision.get("at", "") >= since.isoformat():
                decision["at"] = when.isoformat()
        Order.objects.filter(pk=order.pk).update(routing=routing)


def dispatch_pending_events(*, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Dispatch in this process every event the seed left undispatched, oldest first, so the
    demo is consistent when the server starts (buyers' purchases and order counts, segments,
    automation) instead of waiting for the worker to work through a backlog.

    The seed publishes about 1,600 events; their after-commit hand-offs to the broker may never
    happen (no worker yet, no broker) and the relay would take them 500 every 15 s. Each event
    is taken with SKIP LOCKED in its own transaction, as the relay takes it, so a worker that is
    already running never dispatches the same event at the same time; the consumers' receipts
    make a late broker delivery a no-op. Events published by consumers are taken in the same
    sweep (their ids are higher). Returns (dispatched, failed); a failed event keeps its
    back-off and is left to the relay, as always."""
    dispatched = failed = 0
    last_id = 0
    while True:
        with transaction.atomic():
            event_id = (
                OutboxEvent.objects.select_for_update(skip_locked=True)
                .filter(dispatched_at__isnull=True, pk__gt=last_id)
                .order_by("id")
                .values_list("id", flat=True)
                .first()
            )
            if event_id is None:
                break
            last_id = event_id
            if event_dispatch(event_id):
                dispatched += 1
            else:
                failed += 1
        if progress and (dispatched + failed) % 500 == 0:
            progress(dispatched + failed)
    return dispatched, failed


def refresh_customer_scores() -> int:
    """RFM scores and segment memberships again, from the purchases the dispatched events
    recorded: a buyer of the seeded orders is then a new customer, not a prospect, as soon as
    the demo starts (the nightly recompute would get there too). Returns the segments."""
    rfm_recompute(now=timezone.now())
    segments = Segment.objects.filter(is_active=True).order_by("pk")
    for segment in segments:
        segment_recompute(segment, now=timezone.now())
    return len(segments)
