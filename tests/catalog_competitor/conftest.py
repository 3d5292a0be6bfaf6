"""Helpers for the competitor price feed and the price log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commerce.models import OutboxEvent

COMPETITOR_CHANGED = "price.competitor_changed"
PRICE_CHANGED = "variant.price_changed"
# A fixed past instant, so that observations sort and compare exactly.
MORNING = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)  # 09:30 in Tokyo


def events_of(type_: str) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=type_).order_by("id"))


@pytest.fixture
def tee_red(catalogue):
    """TEE-RED-M: 2980 JPY in web-jp, 19.99 USD in web-us."""
    return catalogue.tee_red
