"""Purchases learnt from `order.paid` / `order.refunded`, delivered through the real outbox.

Events are published with `commerce.events.publish` in a transaction, as `orders` does, and
handed to `commerce.events.dispatch`, as the worker and the relay do.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from commerce.events import dispatch
from commerce.models import EventReceipt, OutboxEvent
from customers import events as customer_events
from customers.consumers import PURCHASES
from customers.models import Customer, CustomerSpend, PointEntry, Purchase
from tests.customers.factories import (
    account_of,
    events_of,
    last_event_id,
    ledger,
    order_id,
    publish_order_paid,
    publish_order_refunded,
)


def test_the_same_order_paid_event_delivered_twice_earns_points_once(programme, alice, web_jp):
    order = order_id()
    event = publish_order_paid(order, "12000", customer_id=alice.pk, channel=web_jp.code)

    assert dispatch(event.pk) is True
    assert dispatch(event.pk) is True
    # A worker that died after the consumer committed but before the event was marked done:
    # the event is delivered again, and the receipt must stop a second effect.
    OutboxEvent.objects.filter(pk=event.pk).update(dispatched_at=None)
    assert dispatch(event.pk) is True

    purchase = Purchase.objects.get(order_id=order)
    assert (purchase.customer_id, purchase.total, purchase.channel) == (
        alice.pk,
        Decimal("12000"),
        web_jp,
    )
    assert purchase.order_number == f"N-{order}"
    assert ledger(alice) == [(PointEntry.Kind.EARN, 120, order)]
    assert EventReceipt.objects.filter(event=event, consumer=PURCHASES).count() == 1
    alice.refresh_from_db()
    assert (alice.order_count, alice.lifetime_value, alice.primary_currency) == (
        1,
        Decimal("12000"),
        "JPY",
    )


def test_two_events_for_the_same_order_record_one_purchase(programme, alice):
    order = order_id()
    first = publish_order_paid(order, "8000", customer_id=alice.pk)
    second = publish_order_paid(order, "8000", customer_id=alice.pk)

    assert dispatch(first.pk) is True
    assert dispatch(second.pk) is True

    assert Purchase.objects.filter(order_id=order).count() == 1
    assert ledger(alice) == [(PointEntry.Kind.EARN, 80, order)]
    assert account_of(alice).balance == 80
    alice.refresh_from_db()
    assert alice.order_count == 1
    assert CustomerSpend.objects.get(customer=alice).total_spent == Decimal("8000")


def test_a_refund_that_arrives_before_the_payment_is_retried_until_the_payment_is_in(
    programme, alice
):
    order = order_id()
    refunded = publish_order_refunded(order, refunded_total="5000")

    assert dispatch(refunded.pk) is False
    refunded.refresh_from_db()
    assert refunded.dispatched_at is None
    assert refunded.attempts == 1
    assert order in refunded.last_error
    assert not Purchase.objects.filter(order_id=order).exists()
    assert not EventReceipt.objects.filter(
        event=refunded, consumer="customers.purchases.refunds"
    ).exists()

    paid = publish_order_paid(order, "10000", customer_id=alice.pk)
    assert dispatch(paid.pk) is True
    assert dispatch(refunded.pk) is True

    purchase = Purchase.objects.get(order_id=order)
    assert purchase.refunded == Decimal("5000")
    assert ledger(alice) == [
        (PointEntry.Kind.EARN, 100, order),
        (PointEntry.Kind.REVERSE, -50, order),
    ]
    alice.refresh_from_db()
    assert alice.lifetime_value == Decimal("5000")
    refunded.refresh_from_db()
    assert refunded.dispatched_at is not None


def test_refund_events_by_amount_add_up_and_a_redelivery_adds_nothing(programme, alice):
    order = order_id()
    dispatch(publish_order_paid(order, "10000", customer_id=alice.pk).pk)
    first = publish_order_refunded(order, amount="2000")
    second = publish_order_refunded(order, amount="3000")

    for event in (first, second, first):
        OutboxEvent.objects.filter(pk=event.pk).update(dispatched_at=None)
        assert dispatch(event.pk) is True

    assert Purchase.objects.get(order_id=order).refunded == Decimal("5000")
    assert account_of(alice).balance == 50


def test_an_order_paid_with_only_an_e_mail_creates_a_guest_profile(programme, web_jp):
    before = last_event_id()
    order = order_id()
    event = publish_order_paid(
        order,
        "3000",
        email="  Guest.Buyer@Example.COM ",
        first_name="Hanako",
        last_name="Yamada",
        channel=web_jp.code,
    )

    assert dispatch(event.pk) is True

    guest = Customer.objects.get(email="guest.buyer@example.com")
    assert guest.is_guest
    assert (guest.first_name, guest.last_name, guest.language) == ("Hanako", "Yamada", "ja")
    assert guest.acquired_channel == web_jp
    assert list(guest.purchases.values_list("order_id", flat=True)) == [order]
    assert account_of(guest).balance == 30
    [created] = events_of(customer_events.CUSTOMER_CREATED, after_id=before)
    assert created.payload == {
        "customer_id": guest.pk,
        "email": "guest.buyer@example.com",
        "channel": web_jp.code,
        "guest": True,
    }


def test_an_order_paid_with_a_known_e_mail_is_credited_to_that_customer(programme, alice):
    event = publish_order_paid(order_id(), "4000", email="ALICE@example.com", phone="090-1234-5678")

    assert dispatch(event.pk) is True

    assert Customer.objects.count() == 1
    alice.refresh_from_db()
    assert alice.order_count == 1
    assert alice.phone == "+819012345678"  # a blank filled from the order
    assert account_of(alice).balance == 40


def test_an_unusable_phone_on_a_paid_order_does_not_stop_it_being_recorded(programme):
    order = order_id()
    event = publish_order_paid(order, "2000", email="walkin@example.com", phone="12")

    assert dispatch(event.pk) is True

    customer = Customer.objects.get(email="walkin@example.com")
    assert customer.phone == ""
    assert Purchase.objects.get(order_id=order).customer == customer


def test_an_anonymous_till_sale_records_nothing_and_its_refund_is_not_retried(programme):
    order = order_id()
    paid = publish_order_paid(order, "1500")

    assert dispatch(paid.pk) is True
    assert not Purchase.objects.exists()
    assert not Customer.objects.exists()

    assert dispatch(publish_order_refunded(order, refunded_total="1500").pk) is True


def test_statistics_follow_purchases_in_several_currencies(programme, alice):
    now = timezone.now()
    for days_ago, total, currency in [(40, "5000", "JPY"), (20, "7000", "JPY"), (10, "30", "USD")]:
        event = publish_order_paid(
            order_id(),
            total,
            currency=currency,
            customer_id=alice.pk,
            paid_at=now - timedelta(days=days_ago),
        )
        assert dispatch(event.pk) is True

    alice.refresh_from_db()
    assert alice.order_count == 3
    assert alice.primary_currency == "JPY"  # more orders in yen
    assert (alice.lifetime_value, alice.average_order_value) == (Decimal("12000"), Decimal("6000"))
    assert alice.average_days_between_orders == Decimal("15.0")
    # Churn risk from: max(2 x 15 days, 30 days) after the last order.
    assert alice.churn_risk_from == alice.last_order_at + timedelta(days=30)
    spend = {s.currency: (s.order_count, s.total_spent) for s in alice.spend.all()}
    assert spend == {"JPY": (2, Decimal("12000")), "USD": (1, Decimal("30"))}
    assert account_of(alice).balance == 50 + 70 + 30
