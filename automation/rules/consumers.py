"""The rule engine subscribes to every event type a rule may start from or wait for."""

from __future__ import annotations

from automation.rules.engine import on_event
from automation.rules.triggers import trigger_types
from commerce.events import register_consumer

CONSUMER = "automation.rules"


def register() -> None:
    register_consumer(name=CONSUMER, event_types=list(trigger_types()), handler=on_event)
