"""Domain events through a transactional outbox.

`publish` writes the event in the caller's transaction and, after commit, hands its id to Celery
with a short timeout; anything that fails there is left to `relay`, a beat task. `dispatch` runs
every registered consumer of the event once: each consumer writes an `EventReceipt` in the same
transaction as its effect, so a second delivery finds the receipt and does nothing.

Consumers must only touch the database; whatever leaves the process (e-mail, webhooks) they
queue as their own task, which then runs after their transaction commits.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from commerce.models import EventReceipt, OutboxEvent

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]


@dataclass(frozen=True)
class Consumer:
    name: str
    handler: Handler


_consumers: dict[str, list[Consumer]] = defaultdict(list)


def register_consumer(*, name: str, event_types: list[str], handler: Handler) -> None:
    """Subscribe `handler` to events. Apps call this from `AppConfig.ready()`.

    `name` is stored with every receipt: keep it stable, or handled events run again.
    """
    for event_type in event_types:
        if any(existing.name == name for existing in _consumers[event_type]):
            continue
        _consumers[event_type].append(Consumer(name=name, handler=handler))


def unregister_consumer(*, name: str) -> None:
    for consumers in _consumers.values():
        consumers[:] = [c for c in consumers if c.name != name]


def consumers_for(event_type: str) -> list[Consumer]:
    return list(_consumers.get(event_type, ()))


# (run id, depth) of the automation rule run whose action is executing, if any.
_causation: ContextVar[tuple[int, int] | None] = ContextVar("causation", default=None)


@contextmanager
def caused_by(*, run_id: int, depth: int) -> Iterator[None]:
    """Events published inside carry the run that caused them and its causation depth."""
    token = _causation.set((run_id, depth))
    try:
        yield
    finally:
        _causation.reset(token)


def publish(
    *, type: str, subject_type: str, subject_id: Any, payload: dict[str, Any] | None = None
) -> OutboxEvent:
    """Record an event in the current transaction; it is dispatched after commit.

    Call it inside the service's `transaction.atomic()`: if that rolls back, the event never
    existed.
    """
    now = timezone.now()
    run_id, depth = _causation.get() or (None, 0)
    event = OutboxEvent.objects.create(
        type=type,
        subject_type=subject_type,
        subject_id=str(subject_id),
        payload=payload or {},
        caused_by_run=run_id,
        causation_depth=depth,
        occurred_at=now,
        next_attempt_at=now + timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS),
    )
    transaction.on_commit(partial(send_to_broker, event.pk))
    return event


def send_to_broker(event_id: int) -> bool:
    """Hand an event to the workers. Never raises: on failure the relay dispatches it later."""
    return send_task_quietly("commerce.dispatch_event", event_id)


def send_task_quietly(task: str, *args: Any, queue: str | None = None) -> bool:
    """Send a task after commit without ever holding the caller: False (and a warning) when
    the broker is down or slow, for work that a beat sweeper picks up anyway.

    Connects at most once: left to itself, kombu retries a refused connection with sleeps for
    `broker_connection_timeout` (6 s per event with Redis down) whatever `retry` says.
    """
    from commerce.celery import app  # kernel composition module; imported late to avoid a cycle

    timeout = settings.OUTBOX_PUBLISH_TIMEOUT
    try:
        with app.pool.acquire(block=True, timeout=timeout) as connection:
            connection.ensure_connection(max_retries=0)
            app.send_task(
                task,
                args=list(args),
                queue=queue,
                connection=connection,
                retry=False,
                timeout=timeout,
            )
    except Exception as exc:  # the broker is down or slow: the sweeper will pick it up
        logger.warning("%s%r left to the sweeper: %s", task, args, exc)
        return False
    return True


def dispatch(event_id: int) -> bool:
    """Run every consumer of an event that has not handled it yet. True when all have.

    Each consumer runs in its own transaction with its receipt; one failing consumer does not
    undo the others, and the event is retried later with a growing back-off. After
    OUTBOX_MAX_ATTEMPTS failed attempts it is dead-lettered: the relay no longer takes it, and
    it waits in the admin for staff to fix the cause and retry it (`outbox_event_retry`).
    """
    event = OutboxEvent.objects.filter(pk=event_id).first()
    if event is None or event.dispatched_at is not None:
        return event is not None
    if event.dead_lettered_at is not None:
        return False  # a late broker delivery: only a retry brings it back
    errors = []
    for consumer in consumers_for(event.type):
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        EventReceipt.objects.create(consumer=consumer.name, event=event)
                except IntegrityError:
                    continue  # handled before: a re-delivery must have no second effect
                consumer.handler(event)
        except Exception as exc:
            logger.exception("Consumer %s failed on event %s", consumer.name, event_id)
            errors.append(f"{consumer.name}: {exc!r}")
    now = timezone.now()
    if errors:
        backoff = timedelta(seconds=min(30 * 2**event.attempts, 3600))
        # Counted in the database: two deliveries of one event may fail at the same time.
        OutboxEvent.objects.filter(pk=event_id).update(
            attempts=F("attempts") + 1,
            last_error="\n".join(errors),
            next_attempt_at=now + backoff,
            dead_lettered_at=Case(
                When(attempts__gte=settings.OUTBOX_MAX_ATTEMPTS - 1, then=Value(now)),
                default=F("dead_lettered_at"),
            ),
        )
        if event.attempts + 1 >= settings.OUTBOX_MAX_ATTEMPTS:
            logger.error(
                "Event %s (%s) dead-lettered after %s failed attempts",
                event_id,
                event.type,
                event.attempts + 1,
            )
        return False
    OutboxEvent.objects.filter(pk=event_id, dispatched_at__isnull=True).update(dispatched_at=now)
    return True


def redeliver(event_id: int, *, consumer_name: str) -> bool:
    """Run one consumer on an event again (`replay_events`): True when it ran now, False when
    it had handled the event before (its receipt stands, so the effect stays once). Raises
    what the consumer raises, after rolling its work back."""
    event = OutboxEvent.objects.get(pk=event_id)
    consumer = next((c for c in consumers_for(event.type) if c.name == consumer_name), None)
    if consumer is None:
        return False
    with transaction.atomic():
        try:
            with transaction.atomic():
                EventReceipt.objects.create(consumer=consumer.name, event=event)
        except IntegrityError:
            return False
        consumer.handler(event)
    return True


def consumer_names() -> list[str]:
    return sorted({c.name for consumers in _consumers.values() for c in consumers})


def relay(*, batch: int | None = None) -> int:
    """Dispatch events whose after-commit hand-off did not happen (broker down, process died).

    Safe in several processes at once: each takes the next pending event with SKIP LOCKED, so two
    relays never take the same one. One event per transaction, so consumers' effects commit (and
    their row locks go) event by event. Dead-lettered events are left alone. Returns the number
    of events now fully dispatched.
    """
    done = 0
    for _ in range(batch or settings.OUTBOX_RELAY_BATCH):
        with transaction.atomic():
            event_id = (
                OutboxEvent.objects.select_for_update(skip_locked=True)
                .filter(
                    dispatched_at__isnull=True,
                    dead_lettered_at__isnull=True,
                    next_attempt_at__lte=timezone.now(),
                )
                .order_by("next_attempt_at", "id")
                .values_list("id", flat=True)
                .first()
            )
            if event_id is None:
                break
            # A failure pushes next_attempt_at forward, so the loop never takes it again.
            done += dispatch(event_id)
    return done


@dataclass(frozen=True)
class RetryResult:
    retried: list[int]
    skipped: list[int]  # not dead letters: dispatched already, or still being retried


def outbox_event_retry(*, event_ids: list[int]) -> RetryResult:
    """Give dead-lettered events a fresh set of OUTBOX_MAX_ATTEMPTS tries, starting now.

    Only events that are dead-lettered and not dispatched are touched; the rows are locked so a
    retry cannot race a second retry. Consumers that handled an event before keep their receipt
    and do not run again. After commit each event is handed to the workers; if the broker is
    down, the relay takes it.
    """
    with transaction.atomic():
        ids = list(
            OutboxEvent.objects.select_for_update()
            .filter(pk__in=event_ids, dispatched_at__isnull=True, dead_lettered_at__isnull=False)
            .order_by("id")
            .values_list("id", flat=True)
        )
        OutboxEvent.objects.filter(pk__in=ids).update(
            dead_lettered_at=None, attempts=0, next_attempt_at=timezone.now()
        )
        for event_id in ids:
            transaction.on_commit(partial(send_to_broker, event_id))
    return RetryResult(retried=ids, skipped=sorted(set(event_ids) - set(ids)))
