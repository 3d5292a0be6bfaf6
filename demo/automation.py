"""The demo's automation: every ready-made rule switched on (competitor repricing in shadow for
a day's look first is what a careful merchant does; the demo has it active to show approvals),
the discounts and the partner endpoint they use, and a history in the run log: an abandoned cart
reminded, competitor prices followed and one change waiting for approval, shoppers waiting for a
sold-out product, and a saved simulation.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from automation.models import (
    Approval,
    BackInStockRequest,
    ComputedTrigger,
    Rule,
    RuleRun,
    SimulationReport,
    StaffAlert,
    WebhookEndpoint,
)
from automation.rules import library
from automation.rules.services import back_in_stock_request, rule_publish, rule_save
from automation.rules.simulation import simulate
from automation.rules.triggers import carts_abandoned_sweep
from automation.webhooks.services import endpoint_create
from catalog.models import ProductVariant, VariantChannelListing
from catalog.services import competitor_price_record
from commerce.models import Channel
from customers.models import Customer
from inventory.models import SupplierItem
from orders import services as order_services
from orders.models import Cart, Discount

PARTNER = "Fulfilment partner"
# The seed's history has hundreds of customers joining the loyalty programme: a merchant switches
# the welcome on for new members, not to mail the whole past (flood protection would stop it).
SWITCHED_ON_AFTER_HISTORY = ("welcome",)
DEMO_SEGMENT = "high-spenders-jpy-email"


def seed_automation_settings() -> list[Rule]:
    """Before the seed's events are dispatched: the rules, so the seeded history runs them."""
    Discount.objects.get_or_create(
        name="Cart comeback 10%", defaults={"kind": Discount.Kind.PERCENTAGE, "value": Decimal(10)}
    )
    Discount.objects.get_or_create(
        name="Welcome 500 yen",
        defaults={"kind": Discount.Kind.FIXED, "value": Decimal(500), "currency": "JPY"},
    )
    if not WebhookEndpoint.objects.filter(name=PARTNER).exists():
        # Subscribed to nothing it would get anyway: only the rule hands it paid orders.
        endpoint_create(name=PARTNER, url=settings.DEMO_WEBHOOK_URL, event_types=["order.refunded"])
    rules = []
    for key in library.LIBRARY:
        if key in SWITCHED_ON_AFTER_HISTORY:
            continue
        rule = Rule.objects.filter(template=key).first() or library.install(key, status="active")
        rules.append(rule)
    campaign = Rule.objects.get(template="vip_campaign")
    if (campaign.definition.get("audience") or {}).get("segment") != DEMO_SEGMENT:
        rule_save(
            rule=campaign,
            extra={"audience": {"segment": DEMO_SEGMENT, "consent": "email", "channel": "web-jp"}},
        )
        rule_publish(rule=campaign)
    # Events for the seed's dispatch to run through the rules: an abandoned cart, a rival's
    # prices. Once: a second seed_demo adds neither again.
    now = timezone.now()
    with transaction.atomic():
        _created, first = ComputedTrigger.objects.get_or_create(key="demo:automation-history")
        if first:
            _abandoned_cart(now)
            web_jp = Channel.objects.filter(code="web-jp").first()
            if web_jp is not None:
                _competitor_prices(web_jp)
                _sell_out(web_jp)
        carts_abandoned_sweep(now=now)
    return rules


def _abandoned_cart(now) -> Cart | None:
    hanako = Customer.objects.filter(email="hanako@example.jp").first()
    web_jp = Channel.objects.filter(code="web-jp").first()
    variant = (
        VariantChannelListing.objects.filter(channel=web_jp)
        .select_related("variant")
        .order_by("variant__sku")
        .first()
    )
    if hanako is None or web_jp is None or variant is None:
        return None
    cart = order_services.cart_create(channel=web_jp, customer=hanako, email=hanako.email)
    order_services.cart_line_set(cart, sku=variant.variant.sku, quantity=1, add=True)
    Cart.objects.filter(pk=cart.pk).update(last_activity_at=now - timedelta(hours=2))
    return cart


def _competitor_prices(web_jp: Channel) -> int:
    """A rival undercuts three products with a known cost: two follow within the rails, one
    (a big drop) waits for approval."""
    costs = dict(
        SupplierItem.objects.filter(variant__channel_listings__channel=web_jp).values_list(
            "variant_id", "cost"
        )
    )
    listings = VariantChannelListing.objects.filter(
        channel=web_jp, variant_id__in=list(costs)
    ).select_related("variant")
    # Room above the floor (cost + 20 %) for a rival's cut to be followed: good margins only.
    roomy = sorted(
        (item for item in listings if costs[item.variant_id] < item.price * Decimal("0.6")),
        key=lambda item: item.variant.sku,
    )[:3]
    recorded = 0
    for number, listing in enumerate(roomy):
        variant = listing.variant
        cut = Decimal("0.85") if number == 2 else Decimal("0.97")
        competitor_price_record(
            variant=variant,
            channel=web_jp,
            competitor="rival-mall",
            price=(listing.price * cut).quantize(Decimal(1)),
        )
        recorded += 1
    return recorded


def _sell_out(web_jp: Channel) -> None:
    """One costed product sells out everywhere (a count of zero at every location): the sold-out
    rule takes it off the web shop, drafts its purchase order and tells staff."""
    from inventory.models import Stock
    from inventory.services import stock_adjust

    costed = SupplierItem.objects.filter(variant__channel_listings__channel=web_jp).values(
        "variant_id"
    )
    stocked = Stock.objects.filter(variant_id__in=costed, on_hand__gt=0, allocated=0)
    variant_id = stocked.order_by("-variant__sku").values_list("variant_id", flat=True).first()
    for stock in Stock.objects.filter(variant_id=variant_id, on_hand__gt=0):
        stock_adjust(
            variant_id=stock.variant_id,
            location_id=stock.location_id,
            delta=-(stock.on_hand - stock.allocated),
            note="demo: sold out",
        )


def seed_automation() -> str:
    """After the seed's events were dispatched: the rules a merchant switches on for what comes
    next (welcome), shoppers waiting for a product the sold-out rule took off sale, a saved
    simulation, and the summary. Publishes no event."""
    now = timezone.now()
    for key in SWITCHED_ON_AFTER_HISTORY:
        if not Rule.objects.filter(template=key).exists():
            library.install(key, status="active")
    web_jp = Channel.objects.filter(code="web-jp").first()
    hidden = RuleRun.objects.filter(
        rule__template="sold_out", status=RuleRun.Status.SUCCEEDED
    ).values_list("product_id", flat=True)
    waiting = 0
    variant = ProductVariant.objects.filter(product_id__in=list(hidden)).order_by("sku").first()
    if variant is not None and web_jp is not None:
        for email in ("aiko.tanaka@example.jp", "ken.sato@example.jp"):
            back_in_stock_request(variant=variant, channel=web_jp, email=email, language="ja")
        waiting = BackInStockRequest.objects.filter(notified_at__isnull=True).count()
    rule = Rule.objects.filter(template="fraud_alert").first()
    if rule is not None and not SimulationReport.objects.filter(rule=rule).exists():
        SimulationReport.objects.create(
            rule=rule,
            since=now - timedelta(days=30),
            report=simulate(rule, since=now - timedelta(days=30)),
        )
    runs = RuleRun.objects.count()
    acted = RuleRun.objects.exclude(status=RuleRun.Status.SKIPPED).count()
    return (
        f"Automation: {Rule.objects.filter(status=Rule.Status.ACTIVE).count()} rules on, {runs} runs "
        f"logged ({acted} acted or waiting), {StaffAlert.objects.count()} staff alerts, "
        f"{Approval.objects.filter(status=Approval.Status.PENDING).count()} approval(s) pending, "
        f"{waiting} back-in-stock requests waiting"
    )
