"""The ready-made automations: rules merchants switch on, change and copy. Each is an ordinary
rule written in the same lines a merchant would write (docs/automation.md shows them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from automation.models import Rule


@dataclass(frozen=True)
class ReadyMade:
    key: str
    name: Any
    description: Any
    trigger: str
    steps: str
    conditions: str = ""
    guard: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    reentry: str = Rule.Reentry.EVERY_TIME
    reentry_days: int = 0


LIBRARY: dict[str, ReadyMade] = {
    rule.key: rule
    for rule in (
        ReadyMade(
            "abandoned_cart",
            _("Abandoned cart"),
            _(
                "A cart with contact details left idle (60 minutes by default) and no order: a "
                "reminder with the items, and a day later a single-use code valid 72 hours. "
                "Ends the moment the shopper orders. Phone and POS carts are never included."
            ),
            "cart.abandoned",
            conditions="cart.ordered = false\ncart.has_contact = true",
            guard="cart.state = open\ncart.ordered = false",
            steps=(
                "send_message kind=abandoned_cart\n"
                "wait 24h\n"
                'issue_code discount="Cart comeback 10%" expires_hours=72\n'
                "send_message kind=abandoned_cart_offer"
            ),
            extra={"subject": "cart", "exit_on": ["order.placed"]},
        ),
        ReadyMade(
            "welcome",
            _("Welcome on loyalty join"),
            _(
                "A welcome message with a two-week code and products picked from what others who bought the same things bought."
            ),
            "loyalty.joined",
            steps=(
                'issue_code discount="Welcome 500 yen" expires_hours=336\n'
                "send_message kind=welcome with=recommendations"
            ),
            extra={"subject": "customer"},
            reentry=Rule.Reentry.ONCE,
        ),
        ReadyMade(
            "sold_out",
            _("Sold out: hide, alternatives, purchase order"),
            _(
                "When a variant has no stock left anywhere: take it off the web shop, draft a "
                "purchase order to its supplier and tell staff, with in-stock alternatives."
            ),
            "stock.out",
            conditions="variant.available <= 0",
            steps=(
                "hide_product channel=web-jp\n"
                "draft_purchase_order\n"
                'alert_staff title="Sold out" with=alternatives channel=web-jp'
            ),
            extra={"subject": "variant"},
        ),
        ReadyMade(
            "back_in_stock",
            _("Back in stock: restore and tell who asked"),
            _(
                "When stock comes back: put back on sale only what automation took off, and tell each shopper who asked, once."
            ),
            "stock.restocked",
            steps="restore_product channel=web-jp\nnotify_back_in_stock channel=web-jp",
            extra={"subject": "variant"},
        ),
        ReadyMade(
            "order_paid_partner",
            _("Order paid → fulfilment partner"),
            _(
                "Hand each paid delivery order to the fulfilment partner's webhook (the confirmation with its upsell block is the order confirmation message)."
            ),
            "order.paid",
            conditions="order.is_pickup = false",
            steps='call_webhook endpoint="Fulfilment partner"',
            extra={"subject": "order"},
        ),
        ReadyMade(
            "late_delivery",
            _("Late delivery"),
            _(
                "A parcel late against its promise: flag the order, tell the customer with the new estimate, and alert staff."
            ),
            "fulfilment.delayed",
            steps=(
                'flag_order reason="Late delivery"\n'
                "send_message kind=delay_notice\n"
                'alert_staff title="Late delivery"'
            ),
            extra={"subject": "order"},
        ),
        ReadyMade(
            "competitor_repricing",
            _("Competitor repricing"),
            _(
                "Follow a competitor's lower price within a floor (cost + 20 %), 10 % a step, 15 % a day, 6 h apart; changes over 8 % wait for approval."
            ),
            "price.competitor_changed",
            conditions="event.competitor_price < event.our_price",
            steps="adjust_price floor_margin=20 undercut=10 max_step=10 max_day=15 cooldown_hours=6 approval_above=8",
            extra={"subject": "variant"},
        ),
        ReadyMade(
            "peak_season_stock",
            _("Low stock → purchase order"),
            _(
                "When stock falls under its threshold (seasonal thresholds apply in their dates), draft a purchase order and tell staff."
            ),
            "stock.low",
            steps='draft_purchase_order\nalert_staff title="Low stock"',
            extra={"subject": "variant"},
        ),
        ReadyMade(
            "vip_campaign",
            _("Weekly campaign to VIP customers"),
            _(
                "Every Monday at 10:00 Tokyo time, a message to the VIP segment with marketing consent; caps and quiet hours apply per person."
            ),
            "schedule",
            steps='send_message kind=campaign medium=email text="New arrivals for our best customers this week."',
            extra={
                "subject": "customer",
                "schedule": {"at": "10:00", "weekdays": ["mon"], "time_zone": "Asia/Tokyo"},
                "audience": {"segment": "vip", "consent": "email", "channel": "web-jp"},
            },
        ),
        ReadyMade(
            "fraud_alert",
            _("Fraud alert"),
            _(
                "Score each placed order on simple signals (first order of high value, billing and shipping apart, declined payments, many orders to one address); hold it and alert staff at 60 points."
            ),
            "order.placed",
            conditions="order.fraud_score >= 60",
            steps='hold_order reason="Fraud check"\nalert_staff title="Possible fraud"',
            extra={"subject": "order"},
        ),
    )
}


@transaction.atomic
def install(key: str, *, status: str = Rule.Status.DRAFT, name: str | None = None) -> Rule:
    """A copy of a ready-made automation as a rule of the merchant's, published."""
    from automation.rules.services import rule_publish, rule_save, rule_set_status

    ready = LIBRARY[key]
    rule = rule_save(
        name=str(name or ready.name),
        description=str(ready.description),
        trigger=ready.trigger,
        conditions_text=ready.conditions,
        guard_text=ready.guard,
        steps_text=ready.steps,
        extra=ready.extra,
        reentry=ready.reentry,
        reentry_days=ready.reentry_days,
        template=key,
    )
    rule_publish(rule=rule)
    if status != Rule.Status.DRAFT:
        rule_set_status(rule=rule, status=status)
    return rule
