"""Messages through the real event path: the services publish, `commerce.events.dispatch` runs
the consumers, the sweeper sends what is due through Django's locmem backend (mail.outbox) and
the recording provider for SMS and LINE."""

from __future__ import annotations

from datetime import datetime

import pytest

from automation.messages.providers import RecordingProvider
from automation.messages.services import messages_send_due
from automation.models import Message
from commerce import events
from commerce.models import OutboxEvent
from tests.fulfilment.conftest import (  # noqa: F401 (fixtures re-used by this package)
    JP_ADDRESS,
    Omni,
    ledger_reconciles,
    omni,
    shop,
    web_order,
)


def dispatch_all() -> int:
    """Run every consumer on every event not dispatched yet, as the workers would."""
    count = 0
    for event_id in (
        OutboxEvent.objects.filter(dispatched_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    ):
        events.dispatch(event_id)
        count += 1
    return count


def deliver(now: datetime | None = None) -> int:
    """Dispatch the events, then send whatever messages are due."""
    dispatch_all()
    return messages_send_due(now=now)


def messages(**filters) -> list[Message]:
    return list(Message.objects.filter(**filters).order_by("id"))


@pytest.fixture(autouse=True)
def _recorded() -> None:
    RecordingProvider.sent.clear()


__all__ = ["JP_ADDRESS", "Omni", "deliver", "dispatch_all", "messages", "omni", "web_order"]
