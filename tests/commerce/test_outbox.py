"""The transactional outbox, on the real PostgreSQL and Redis of `./dev test`.

Consumers' effects are rows written inside their handlers (see `Consumers` in conftest), so
"exactly once" below means exactly one committed row per event and consumer.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from commerce import events
from commerce.celery import app as celery_app
from commerce.models import EventReceipt, OutboxEvent
from tests.commerce.conftest import BROKER_QUEUE

pytestmark = pytest.mark.usefixtures("broker_queue")


def run_concurrently(*calls: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Run each call in its own thread, all released at once; return their results in order.

    Each thread closes its database connection when done, so none outlives the test.
    """
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


def wait_until(condition: Callable[[], bool], *, timeout: float = 10) -> bool:
    """Poll `condition` until it holds or `timeout` seconds passed; return whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def receipts(event: OutboxEvent) -> list[str]:
    return sorted(EventReceipt.objects.filter(event=event).values_list("consumer", flat=True))


def spy_on_send_to_broker(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record what each after-commit hand-off to the broker returned (it still really runs)."""
    returned: list[bool] = []
    send_to_broker = events.send_to_broker

    def spy(event_id: int) -> bool:
        returned.append(send_to_broker(event_id))
        return returned[-1]

    monkeypatch.setattr(events, "send_to_broker", spy)
    return returned


# --- publish --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_publish_rolled_back_is_never_stored_nor_dispatched(broker_queue, consumers, settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    consumers.add("outbox-test-effect", "test.rolled_back")
    queued_before = broker_queue.llen(BROKER_QUEUE)

    with pytest.raises(RuntimeError, match="the write failed"), transaction.atomic():
        event = events.publish(type="test.rolled_back", subject_type="test", subject_id=1)
        raise RuntimeError("the write failed")
    relayed = events.relay()

    assert OutboxEvent.objects.filter(type="test.rolled_back").count() == 0
    assert relayed == 0
    assert consumers.effects(event, "outbox-test-effect") == 0
    assert queued_before == 0
    assert broker_queue.llen(BROKER_QUEUE) == 0


@pytest.mark.django_db(transaction=True)
def test_publish_sends_one_dispatch_message_after_commit(broker_queue):
    queued_before = broker_queue.llen(BROKER_QUEUE)

    with transaction.atomic():
        event = events.publish(
            type="test.committed", subject_type="test", subject_id=7, payload={"n": 1}
        )
        queued_before_commit = broker_queue.llen(BROKER_QUEUE)

    assert (queued_before, queued_before_commit) == (0, 0)
    assert broker_queue.llen(BROKER_QUEUE) == 1
    message = json.loads(broker_queue.lindex(BROKER_QUEUE, 0))
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert message["headers"]["task"] == "commerce.dispatch_event"
    assert (args, kwargs) == ([event.pk], {})
    stored = OutboxEvent.objects.get(pk=event.pk)
    assert (stored.type, stored.subject_id, stored.payload) == ("test.committed", "7", {"n": 1})
    assert stored.dispatched_at is None


# --- dispatch -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dispatch_twice_reaches_each_consumer_once(consumers):
    consumers.add("outbox-test-a", "test.twice")
    consumers.add("outbox-test-b", "test.twice")
    event = events.publish(type="test.twice", subject_type="test", subject_id=1)

    first = events.dispatch(event.pk)
    second = events.dispatch(event.pk)

    event.refresh_from_db()
    assert (first, second) == (True, True)
    assert event.dispatched_at is not None
    assert consumers.effects(event, "outbox-test-a") == 1
    assert consumers.effects(event, "outbox-test-b") == 1
    assert receipts(event) == ["outbox-test-a", "outbox-test-b"]


@pytest.mark.django_db
def test_dispatch_redelivered_before_marked_dispatched_has_no_second_effect(consumers):
    consumers.add("outbox-test-a", "test.redelivered")
    consumers.add("outbox-test-b", "test.redelivered")
    event = events.publish(type="test.redelivered", subject_type="test", subject_id=1)
    events.dispatch(event.pk)
    # As if the process died after the consumers committed, before the event was marked.
    OutboxEvent.objects.filter(pk=event.pk).update(dispatched_at=None)

    redelivered = events.dispatch(event.pk)

    event.refresh_from_db()
    assert redelivered is True
    assert event.dispatched_at is not None
    assert consumers.effects(event, "outbox-test-a") == 1
    assert consumers.effects(event, "outbox-test-b") == 1
    assert receipts(event) == ["outbox-test-a", "outbox-test-b"]


@pytest.mark.django_db(transaction=True)
def test_dispatch_in_two_threads_at_once_reaches_each_consumer_once(consumers):
    # The sleep keeps each consumer's transaction open while the other thread gets there.
    consumers.add("outbox-test-a", "test.concurrent", delay=0.2)
    consumers.add("outbox-test-b", "test.concurrent", delay=0.2)
    event = events.publish(type="test.concurrent", subject_type="test", subject_id=1)

    results = run_concurrently(lambda: events.dispatch(event.pk), lambda: events.dispatch(event.pk))

    event.refresh_from_db()
    assert results == [True, True]
    assert event.dispatched_at is not None
    assert consumers.effects(event, "outbox-test-a") == 1
    assert consumers.effects(event, "outbox-test-b") == 1
    assert receipts(event) == ["outbox-test-a", "outbox-test-b"]


@pytest.mark.django_db
def test_dispatch_with_a_failing_consumer_retries_only_that_one(consumers):
    broken = threading.Event()
    broken.set()
    consumers.add("outbox-test-bad", "test.partial", fail=broken)
    consumers.add("outbox-test-good", "test.partial")
    event = events.publish(type="test.partial", subject_type="test", subject_id=1)
    before = timezone.now()

    dispatched = events.dispatch(event.pk)

    after = timezone.now()
    event.refresh_from_db()
    assert dispatched is False
    assert event.dispatched_at is None
    assert event.attempts == 1
    assert event.last_error == "outbox-test-bad: RuntimeError('outbox-test-bad is broken')"
    assert before + timedelta(seconds=30) <= event.next_attempt_at <= after + timedelta(seconds=30)
    assert consumers.effects(event, "outbox-test-bad") == 0
    assert consumers.effects(event, "outbox-test-good") == 1
    assert receipts(event) == ["outbox-test-good"]

    broken.clear()
    OutboxEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    relayed = events.relay()

    event.refresh_from_db()
    assert relayed == 1
    assert event.dispatched_at is not None
    assert event.attempts == 1
    assert consumers.effects(event, "outbox-test-bad") == 1
    assert consumers.effects(event, "outbox-test-good") == 1
    assert receipts(event) == ["outbox-test-bad", "outbox-test-good"]


# --- relay ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_relay_in_two_threads_at_once_dispatches_each_event_once(consumers):
    consumers.add("outbox-test-x", "test.relayed", delay=0.02)
    consumers.add("outbox-test-y", "test.relayed")
    past = timezone.now() - timedelta(seconds=1)
    pending = OutboxEvent.objects.bulk_create(
        OutboxEvent(
            type="test.relayed",
            subject_type="test",
            subject_id=str(n),
            occurred_at=past,
            next_attempt_at=past,
        )
        for n in range(30)
    )

    def relay_until_nothing_left() -> int:
        dispatched = 0
        while done := events.relay(batch=5):
            dispatched += done
        return dispatched

    dispatched_by = run_concurrently(relay_until_nothing_left, relay_until_nothing_left)

    assert sum(dispatched_by) == 30
    assert min(dispatched_by) > 0, f"one relay did all the work: {dispatched_by}"
    assert OutboxEvent.objects.filter(type="test.relayed", dispatched_at__isnull=True).count() == 0
    assert EventReceipt.objects.filter(event__type="test.relayed").count() == 60
    effects = {
        (event.pk, name): consumers.effects(event, name)
        for event in pending
        for name in ("outbox-test-x", "outbox-test-y")
    }
    assert effects == dict.fromkeys(effects, 1)


# --- with a real broker and worker ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_publish_with_broker_down_commits_promptly_and_relay_dispatches_later(
    own_broker, broker_queue, consumers, embedded_worker, settings, monkeypatch
):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    consumers.add("outbox-test-effect", "test.broker_down")
    handed_over = spy_on_send_to_broker(monkeypatch)
    own_queue = own_broker.client()
    with transaction.atomic():
        warm_up = events.publish(type="test.broker_down", subject_type="test", subject_id="up")
    assert handed_over == [True]
    assert own_queue.llen(BROKER_QUEUE) == 1, "the app does not publish to our Redis"
    assert broker_queue.llen(BROKER_QUEUE) == 0
    own_queue.close()

    own_broker.stop()
    written, seconds = [], []
    for n in range(2):  # the second write no longer finds a pooled connection to fail fast on
        started = time.monotonic()
        with transaction.atomic():
            written.append(
                events.publish(type="test.broker_down", subject_type="test", subject_id=n)
            )
        seconds.append(time.monotonic() - started)

    assert handed_over == [True, False, False]
    assert max(seconds) < 3, f"writes took {seconds} s with the broker down"
    stored = OutboxEvent.objects.filter(pk__in=[event.pk for event in written])
    assert [event.dispatched_at for event in stored] == [None, None]

    own_broker.start()
    with embedded_worker():
        celery_app.send_task("commerce.relay_outbox")
        relayed = wait_until(
            lambda: (
                not OutboxEvent.objects.filter(
                    type="test.broker_down", dispatched_at__isnull=True
                ).exists()
            )
        )

        resent = events.send_to_broker(written[0].pk)  # the app publishes again, unrestarted

    assert relayed, "the relay did not dispatch the events within 10 s"
    assert resent is True
    for event in [warm_up, *written]:
        assert consumers.effects(event, "outbox-test-effect") == 1
        assert receipts(event) == ["outbox-test-effect"]


@pytest.mark.django_db(transaction=True)
def test_publish_after_commit_is_dispatched_by_a_worker(broker_queue, consumers, embedded_worker):
    consumers.add("outbox-test-effect", "test.end_to_end")

    with embedded_worker():
        with transaction.atomic():
            event = events.publish(type="test.end_to_end", subject_type="test", subject_id=1)
        dispatched = wait_until(
            lambda: OutboxEvent.objects.filter(pk=event.pk, dispatched_at__isnull=False).exists()
        )

    assert dispatched, "the worker did not dispatch the event within 10 s"
    assert consumers.effects(event, "outbox-test-effect") == 1
    assert receipts(event) == ["outbox-test-effect"]
    assert broker_queue.llen(BROKER_QUEUE) == 0
