"""Orders placed while the broker's Redis is stopped and started five times (issue #12).

The real stack but the web server: checkout through the API on PostgreSQL (committed, so another
process sees it), a real `celery worker` subprocess on a Redis of the test's own, and the relay
sent through that broker as beat sends it. Each stop finds the worker busy with a task and
waiting for more, as production workers usually are. The Redis keeps nothing across a restart,
so what was queued in it is gone too: the relay must find it in the outbox.

Every order answers 201, every worker process is still alive at the end, and every event is
dispatched, each consumer's receipt there exactly once.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from rest_framework.test import APIClient

from commerce import events
from commerce.celery import app as celery_app
from commerce.models import EventReceipt, OutboxEvent
from orders.models import Order
from tests.commerce.conftest import RedisServer
from tests.conftest import HTTPS
from tests.orders_access.conftest import cart_ready
from tests.resilience.conftest import broker_counts, celery_worker, database_url, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

RESTARTS = 5
DRAIN_TIMEOUT = 30


def checkout(email: str) -> int:
    """A guest's order through the storefront API: cart, line, address, completion."""
    api = APIClient(**HTTPS)
    token = cart_ready(api, email=email)
    response = api.post(
        f"/api/v1/carts/{token}/complete/",
        {"payment": {"method": "card", "token": "tok_visa"}},
        format="json",
    )
    return response.status_code


def undispatched() -> int:
    return OutboxEvent.objects.filter(dispatched_at__isnull=True).count()


def relay_through_the_broker() -> bool:
    """What beat does every 15 s: ask a worker to run the relay. False when Redis refuses."""
    try:
        celery_app.send_task("commerce.relay_outbox", retry=False)
    except Exception:  # the broker may still be coming back
        return False
    return True


def test_orders_placed_through_five_redis_restarts_are_all_taken_and_every_event_dispatched_once(
    own_broker: RedisServer, shop, tmp_path, settings
):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 1  # the relay may take an event 1 s after it was made
    answers = []

    with celery_worker(
        broker_url=own_broker.url, log_dir=tmp_path, database=database_url()
    ) as worker:
        pool = worker.pool_pids()
        assert len(pool) == 2, worker.tail()

        for restart in range(RESTARTS):
            # A long task running (taken, not acknowledged) when Redis goes: one process busy,
            # the other waiting for work. Taken also means the worker is back from the last
            # restart.
            celery_app.send_task("tests.sleep", args=[4])
            taken = wait_until(lambda: broker_counts(own_broker)[1] >= 1, timeout=20)
            assert taken, f"the worker did not come back after restart {restart}:\n{worker.tail()}"
            answers.append(checkout(f"before-{restart}@example.jp"))
            idle = wait_until(lambda: broker_counts(own_broker) == (0, 1), timeout=10)
            assert idle, worker.tail()  # the order's events handed off and dispatched
            own_broker.stop()
            answers += [checkout(f"during-{restart}-{n}@example.jp") for n in range(2)]
            own_broker.start()

        def drained() -> bool:
            relay_through_the_broker()
            return undispatched() == 0

        all_dispatched = wait_until(drained, timeout=DRAIN_TIMEOUT, interval=1)
        time.sleep(1)  # a hand-off delivered late finds its event dispatched and does nothing
        alive = worker.all_alive(pool)
        log = worker.tail()
        unrecoverable = "Unrecoverable error" in worker.log()

    assert answers == [201] * (3 * RESTARTS)
    assert Order.objects.count() == 3 * RESTARTS
    assert alive, f"a worker process died:\n{log}"
    assert not unrecoverable, log
    assert all_dispatched, f"{undispatched()} events not dispatched:\n{log}"
    expected = Counter(
        (event.pk, consumer.name)
        for event in OutboxEvent.objects.all()
        for consumer in events.consumers_for(event.type)
    )
    receipts = Counter(EventReceipt.objects.values_list("event_id", "consumer"))
    assert receipts == expected
    placed = OutboxEvent.objects.filter(type="order.placed").count()
    assert placed == 3 * RESTARTS
