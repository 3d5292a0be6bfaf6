"""The other ready-made automations, each seen working end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from automation.models import Message, RuleRun, StaffAlert
from automation.rules.library import install
from automation.rules.triggers import time_rules_tick
from automation.webhooks.services import deliveries_due, delivery_attempt
from customers.models import ConsentSource, Customer, LoyaltyProgramme, Segment, SegmentMembership
from customers.services import loyalty_join
from customers.services.consent import consent_set
from orders import services
from orders.models import Discount, DiscountCode, Order
from tests.automation_webhooks.conftest import Receiver, endpoint_make, receiver  # noqa: F401

from .conftest import JP_ADDRESS, deliver, dispatch_all, web_order

R = RuleRun.Status


@pytest.fixture(autouse=True)
def _no_quiet_hours(settings) -> None:
    settings.MESSAGES_QUIET_HOURS = (0, 0)


def test_welcome_sends_a_code_and_products_bought_by_similar_customers(omni):
    LoyaltyProgramme.objects.create(name="Friends")
    Discount.objects.create(
        name="Welcome 500 yen", kind=Discount.Kind.FIXED, value=Decimal(500), currency="JPY"
    )
    install("welcome", status="active")
    # Another shopper bought the tee and the matcha together; ours bought the tee.
    other = Customer.objects.create(email="other@example.jp")
    ours = Customer.objects.create(email="hanako@example.jp", language="ja")
    consent_set(ours, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    for customer, lines in (
        (other, [("TEE-RED-M", 1), ("TEA-MATCHA-100", 1)]),
        (ours, [("TEE-RED-M", 1)]),
    ):
        order = web_order(omni, lines)
        Order.objects.filter(pk=order.pk).update(customer=customer)
    dispatch_all()
    loyalty_join(ours)
    deliver()
    message = Message.objects.get(kind="welcome")
    code = DiscountCode.objects.get(customer=ours)
    assert code.code in message.body_text
    assert "抹茶" in message.body_text or "Matcha" in message.body_text
    loyalty_join(ours)  # joining again is no new run: the rule runs once per customer
    deliver()
    assert Message.objects.filter(kind="welcome").count() == 1


def test_late_delivery_flags_tells_the_customer_once_and_alerts_staff(omni):
    install("late_delivery", status="active")
    order = web_order(omni, [("TEE-RED-M", 1)])
    deliver()
    (parcel,) = order.fulfilments.all()
    services.fulfilments_detect_delays(now=parcel.ship_by + timedelta(hours=3))
    deliver()
    order.refresh_from_db()
    assert order.flagged
    assert Message.objects.filter(kind="delay_notice", order=order).count() == 1
    assert (
        StaffAlert.objects.filter(order_id=order.pk, title__startswith="Late delivery").count() == 1
    )
    assert RuleRun.objects.get(rule__template="late_delivery").status == R.SUCCEEDED


def test_a_paid_order_goes_to_the_fulfilment_partner_once(omni, receiver: Receiver):  # noqa: F811
    endpoint_make(
        receiver, event_types=["order.refunded"], name="Fulfilment partner"
    )  # only the rule sends it order.paid
    install("order_paid_partner", status="active")
    order = web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    dispatch_all()
    for delivery_id in deliveries_due():
        delivery_attempt(delivery_id)
    bodies = [json.loads(r.body) for r in receiver.requests]
    paid = [b for b in bodies if b["type"] == "order.paid"]
    assert len(paid) == 1 and paid[0]["data"]["number"] == order.number
    assert receiver.requests[0].headers["webhook-id"]


def test_a_suspicious_first_order_is_held_with_an_alert(omni):
    install("fraud_alert", status="active")
    services.cart_create  # noqa: B018 (the real checkout places the order)
    address = {**JP_ADDRESS}
    order = web_order(omni, [("TEE-RED-M", 20)], address=address)  # 59,600 yen, a first order
    Order.objects.filter(pk=order.pk).update(billing_address={**address, "region": "北海道"})
    dispatch_all()
    run = RuleRun.objects.get(rule__template="fraud_alert")
    # Placed-event conditions read the order fresh: the billing region is now far away.
    order.refresh_from_db()
    assert run.status == R.SUCCEEDED, run.reason
    assert order.status == Order.Status.ON_HOLD
    assert StaffAlert.objects.filter(order_id=order.pk, title__startswith="Possible fraud").exists()


def test_a_small_order_is_not_held(omni):
    install("fraud_alert", status="active")
    order = web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    run = RuleRun.objects.get(rule__template="fraud_alert")
    assert run.status == R.SKIPPED and "order.fraud_score" in run.reason
    order.refresh_from_db()
    assert order.status != Order.Status.ON_HOLD


def test_a_campaign_reaches_each_consenting_member_once_in_pages(omni, settings):
    rule = install("vip_campaign", status="active")
    vip = Segment.objects.create(name="VIP", slug="vip", rule={})
    members = []
    for number in range(5):
        customer = Customer.objects.create(email=f"vip{number}@example.jp", language="ja")
        SegmentMembership.objects.create(segment=vip, customer=customer)
        members.append(customer)
    for customer in members[:4]:
        consent_set(customer, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    monday_10_tokyo = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
    rule.published_version.published_at = monday_10_tokyo - timedelta(days=1)
    rule.published_version.save()
    assert (
        time_rules_tick(now=monday_10_tokyo - timedelta(minutes=1), page=3) == 0
    )  # Sunday's slot is before publishing
    assert time_rules_tick(now=monday_10_tokyo + timedelta(minutes=1), page=3) == 3
    assert time_rules_tick(now=monday_10_tokyo + timedelta(minutes=2), page=3) == 1
    assert time_rules_tick(now=monday_10_tokyo + timedelta(minutes=3), page=3) == 0
    deliver(now=monday_10_tokyo + timedelta(minutes=5))
    sent = Message.objects.filter(kind="campaign")
    assert sorted(m.recipient for m in sent) == [f"vip{n}@example.jp" for n in range(4)]
    assert all(m.category == "marketing" for m in sent)


def test_a_parcel_in_transit_past_its_estimate_is_late_once_with_a_new_estimate(omni):
    install("late_delivery", status="active")
    order = web_order(omni, [("TEE-RED-M", 1)])
    deliver()
    (parcel,) = order.fulfilments.all()
    services.fulfilment_ship(parcel, tracking_number="1234-5678-9012")
    deliver()
    parcel.refresh_from_db()
    after = timezone.make_aware(
        datetime.combine(parcel.estimated_delivery + timedelta(days=2), datetime.min.time())
    )
    assert services.fulfilments_detect_delays(now=after) == 1
    assert services.fulfilments_detect_delays(now=after + timedelta(hours=1)) == 0
    deliver()
    notice = Message.objects.get(kind="delay_notice", order=order)
    assert "配送業者" in notice.body_text or "on its way" in notice.body_text
    order.refresh_from_db()
    assert order.flagged and "in transit" in order.flag_reason
    assert (
        StaffAlert.objects.filter(order_id=order.pk, title__startswith="Late delivery").count() == 1
    )
