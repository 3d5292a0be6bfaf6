"""Every event in the catalogue → one pending delivery per subscribed endpoint.

Runs inside `commerce.events.dispatch`'s transaction with its receipt, and only writes rows: the
requests are made by the webhooks queue after commit, so a slow receiver never holds up event
dispatch. A re-delivered event finds its receipt; the (endpoint, event) unique constraint would
stop a second delivery even without it.
"""

from __future__ import annotations

from automation.webhooks import payloads, services
from commerce.events import register_consumer
from commerce.models import OutboxEvent

CONSUMER = "automation.webhooks"


def on_event(event: OutboxEvent) -> None:
    services.deliveries_enqueue_on_commit(services.deliveries_for_event(event))


def register() -> None:
    register_consumer(name=CONSUMER, event_types=list(payloads.CATALOGUE), handler=on_event)
