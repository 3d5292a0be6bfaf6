"""Demo data, written through each app's services like any other data."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import DateTimeField, F, OuterRef, Subquery, Value
from django.db.models.functions import Least
from django.utils import timezone
from rest_framework.authtoken.models import Token

from catalog import services as catalog_services
from catalog.importing import ImportReport, catalog_import, open_text
from catalog.models import (
    Attribute,
    AttributeChoice,
    BundleComponent,
    Category,
    Product,
    ProductType,
    ProductVariant,
    TaxClass,
)
from commerce.models import Channel
from customers import services as customer_services
from customers.models import (
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
from demo import catalog_data, customers_data, inventory_data
from inventory import services as inventory_services
from inventory.models import (
    PurchaseOrder,
    Stock,
    StockLocation,
    StockMovement,
    StockPolicy,
    Supplier,
    SupplierItem,
)
from orders.models import TaxRate


@dataclass
class DemoLogins:
    admin_username: str
    admin_password: str
    staff_username: str
    staff_password: str
    staff_token: str


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
    token, _ = Token.objects.get_or_create(user=staff)
    return DemoLogins("admin", "admin", "catalogue", "catalogue", token.key)


def seed_inventory(*, seed: int = 11) -> int:
    """Locations, opening stock (some items low or sold out), suppliers and a few purchase
    orders. Opening stock is a count, so it is in the ledger like any other change. Returns the
    number of stock rows counted; a database that already has stock keeps it."""
    import random

    from django.db.models import Q

    rng = random.Random(seed)
    channels = {c.code: c for c in Channel.objects.all()}
    locations = {}
    for (
        code,
        name,
        kind,
        region,
        city,
        postal,
        ships,
        pickup,
        online,
        priority,
        served,
    ) in inventory_data.LOCATIONS:
        location, _ = StockLocation.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "region": region,
                "city": city,
                "postal_code": postal,
                "country": "US" if code == "wh-newjersey" else "JP",
                "time_zone": "America/New_York" if code == "wh-newjersey" else "Asia/Tokyo",
                "ships_to_customers": ships,
                "pickup_enabled": pickup,
                "counts_for_online": online,
                "routing_priority": priority,
            },
        )
        location.channels.set([channels[c] for c in served if c in channels])
        locations[code] = location
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


def seed_sales_history(*, sales: int = 300, seed: int = 13) -> int:
    """Shipped sales from the Chiba warehouse, so that demand, low-stock signals and
    replenishment have something to show. (Orders themselves arrive with the orders app.)"""
    import random

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
    import random

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
