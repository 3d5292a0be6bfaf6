"""The demo is consistent the moment its server starts: `seed_demo` dispatches the events it
published (about 1,600 with the default sizes) before it ends, so the buyers of the seeded orders
have their purchases, order counts and segments without waiting for a worker's backlog.

One seed for the whole module (a seed takes many seconds): it runs in a transaction of its own
that is rolled back when the module ends, and each test runs inside it (a savepoint), so the
tests see the seeded data and leave nothing behind.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, Q

from commerce.models import EventReceipt, OutboxEvent
from customers.models import Customer, Purchase
from orders.models import Order

SEED = {"products": 30, "customers": 20, "orders": 30}


@pytest.fixture(scope="module")
def seed_output(django_db_setup, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            out, err = io.StringIO(), io.StringIO()
            call_command("seed_demo", **SEED, stdout=out, stderr=err)
            assert err.getvalue() == ""
            yield out.getvalue()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def seeded(seed_output: str, db) -> str:
    return seed_output


def test_seed_demo_leaves_no_event_undispatched(seeded):
    published = OutboxEvent.objects.count()

    assert published > 100
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 0
    assert OutboxEvent.objects.filter(attempts__gt=0).count() == 0
    # Said as it happens, with the count.
    assert f"Events: {published} dispatched in " in seeded
    assert EventReceipt.objects.filter(consumer__startswith="customers").exists()


def test_seed_demo_buyers_have_their_orders_counted_when_the_demo_starts(seeded):
    paid = Order.objects.filter(paid_at__isnull=False, customer__isnull=False)
    assert paid.count() > 5

    # Every paid order is a purchase of its buyer ...
    assert set(Purchase.objects.values_list("order_id", flat=True)) >= {
        str(pk) for pk in paid.values_list("pk", flat=True)
    }
    # ... every customer's order count is their purchases ...
    counted = Customer.objects.annotate(n=Count("purchases"))
    assert [(c.email, c.order_count) for c in counted if c.order_count != c.n] == []
    # ... and no one who bought is still a prospect with no orders.
    buyers = Customer.objects.filter(pk__in=paid.values("customer"))
    assert not buyers.filter(Q(order_count=0) | Q(rfm_segment="prospect")).exists()
    assert not buyers.filter(scores_computed_at__isnull=True).exists()


def test_seed_demo_has_sent_the_seeded_orders_messages_and_points_a_webhook_at_the_receiver(
    seeded, settings
):
    from automation.models import Message, WebhookEndpoint

    # Everyone we can write to, but marketplace buyers (the marketplace confirms its orders).
    placed = (
        Order.objects.exclude(channel__kind="marketplace")
        .filter(Q(email__gt="") | Q(customer__email__gt=""))
        .count()
    )
    confirmations = Message.objects.filter(kind="order_confirmation", status="sent")
    assert confirmations.count() == placed > 0
    # Shipped mails carry their tracking link; nothing is left failed.
    shipped = Message.objects.filter(kind="shipped", status="sent")
    assert shipped.exists() and all("http" in m.body_text for m in shipped)
    assert not Message.objects.filter(status="failed").exists()
    assert "Messages: " in seeded and " sent for the seeded orders" in seeded
    [endpoint] = WebhookEndpoint.objects.filter(name="Demo 3PL (local receiver)")
    assert endpoint.url == settings.DEMO_WEBHOOK_URL and "order.paid" in endpoint.event_types


def test_seed_demo_has_every_ready_made_rule_on_and_a_history_in_the_run_log(seeded):
    from automation.models import Message, Rule, RuleRun
    from automation.rules.library import LIBRARY

    assert set(
        Rule.objects.filter(status=Rule.Status.ACTIVE).values_list("template", flat=True)
    ) == set(LIBRARY)
    statuses = set(RuleRun.objects.values_list("status", flat=True))
    assert {RuleRun.Status.SUCCEEDED, RuleRun.Status.SKIPPED} <= statuses
    # The demo customer's cart was abandoned: reminded, and the second reminder is waiting.
    reminder = Message.objects.get(kind="abandoned_cart", recipient="hanako@example.jp")
    assert reminder.status in (Message.Status.SENT, Message.Status.QUEUED)
    hanako = reminder.customer_id
    assert (
        RuleRun.objects.get(rule__template="abandoned_cart", customer_id=hanako).status
        == RuleRun.Status.WAITING
    )
    assert "Automation: 10 rules on" in seeded
    # A product sold out everywhere: off the web shop by automation, with shoppers waiting.
    from automation.models import Approval, AutomationHide, BackInStockRequest

    assert AutomationHide.objects.filter(restored_at__isnull=True).exists()
    assert BackInStockRequest.objects.filter(notified_at__isnull=True).count() == 2
    # A rival's big cut waits for staff; the small ones were followed.
    assert Approval.objects.filter(status=Approval.Status.PENDING).count() == 1
