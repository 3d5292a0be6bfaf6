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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
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


def publish(
    *, type: str, subject_type: str, subject_id: Any, payload: dict[str, Any] | None = None
) -> OutboxEvent:
    """Record an event in the current transaction; it is dispatched after commit.

    Call it inside the service's `transaction.atomic()`: if that rolls back, the event never
    existed.
    """
    now = timezone.now()
    event = OutboxEvent.objects.create(
        type=type,
        subject_type=subject_type,
        subject_id=str(subject_id),
        payload=payload or {},
        occurred_at=now,
        next_attempt_at=now + timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS),
    )
    transaction.on_commit(partial(send_to_broker, event.pk))
    return event


def send_to_broker(event_id: int) -> bool:
    """Hand an event to the workers. Never raises: on failure the relay dispatches it later.

    Connects at most once: left to itself, kombu retries a refused connection with sleeps for
    `broker_connection_timeout` (6 s per event with Redis down) whatever `retry` says.
    """
    from commerce.celery import app  # kernel composition module; imported late to avoid a cycle

    timeout = settings.OUTBOX_PUBLISH_TIMEOUT
    try:
        with app.pool.acquire(block=True, timeout=timeout) as connection:
            connection.ensure_connection(max_retries=0)
            app.send_task(
                "commerce.dispatch_event",
                args=[event_id],
                connection=connection,
                retry=False,
                timeout=timeout,
            )
    except Exception as exc:  # the broker is down or slow: the relay will pick it up
        logger.warning("Event %s left to the outbox relay: %s", event_id, exc)
        return False
    return True


def dispatch(event_id: int) -> bool:
    """Run every consumer of an event that has not handled it yet. True when all have.

    Each consumer runs in its own transaction with its receipt; one failing consumer does not
    undo the others, and the event is retried later with a growing back-off.
    """
    event = OutboxEvent.objects.filter(pk=event_id).first()
    if event is None or event.dispatched_at is not None:
        return event is not None
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
        OutboxEvent.objects.filter(pk=event_id).update(
            attempts=F("attempts") + 1, last_error="\n".join(errors), next_attempt_at=now + backoff
        )
        return False
    OutboxEvent.objects.filter(pk=event_id, dispatched_at__isnull=True).update(dispatched_at=now)
    return True


def relay(*, batch: int | None = None) -> int:
    """Dispatch events whose after-commit hand-off did not happen (broker down, process died).

    Safe in several processes at once: each takes the next pending event with SKIP LOCKED, so two
    relays never take the same one. One event per transaction, so consumers' effects commit (and
    their row locks go) event by event. Returns the number of events now fully dispatched.
    """
    done = 0
    for _ in range(batch or settings.OUTBOX_RELAY_BATCH):
        with transaction.atomic():
            event_id = (
                OutboxEvent.objects.select_for_update(skip_locked=True)
                .filter(dispatched_at__isnull=True, next_attempt_at__lte=timezone.now())
                .order_by("next_attempt_at", "id")
                .values_list("id", flat=True)
                .first()
            )
            if event_id is None:
                break
            # A failure pushes next_attempt_at forward, so the loop never takes it again.
            done += dispatch(event_id)
    return done
