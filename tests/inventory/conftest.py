"""Fixtures for the inventory tests: locations, stock put in through the ledger, real threads.

Every test here that touches the database ends by reconciling the ledger (`stock_reconcile()`
must be empty): whatever a test did to stock, the counters must still be the sum of their
movements and `allocated` the sum of the active order reservations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import factory
import pytest
from django.db import connections

from catalog.models import BundleComponent, ProductVariant
from commerce.models import Channel, OutboxEvent
from inventory import events as inventory_events
from inventory.models import Stock, StockLocation, StockPolicy
from inventory.selectors import stock_reconcile
from inventory.services import ReserveLine, stock_adjust
from tests.factories import ChannelFactory, ProductVariantFactory

STOCK_EVENTS = (
    inventory_events.STOCK_LOW,
    inventory_events.STOCK_OUT,
    inventory_events.STOCK_RESTOCKED,
)


# --- Factories and helpers --------------------------------------------------------------------


class StockLocationFactory(factory.django.DjangoModelFactory):
    """An active warehouse that counts for online sales; `channels` takes Channel rows."""

    class Meta:
        model = StockLocation
        django_get_or_create = ["code"]
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"loc-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    kind = StockLocation.Kind.WAREHOUSE
    routing_priority = 100

    class Params:
        store = factory.Trait(kind=StockLocation.Kind.STORE, pickup_enabled=True)
        offline = factory.Trait(counts_for_online=False)
        inactive = factory.Trait(is_active=False)

    @factory.post_generation
    def channels(self, create: bool, extracted: Iterable[Channel] | None, **kwargs: Any) -> None:
        if create and extracted:
            self.channels.set(extracted)


def receive(variant: ProductVariant, location: StockLocation, quantity: int) -> Stock:
    """Put `quantity` units on hand the way goods come in: a receipt through the ledger."""
    return stock_adjust(
        variant_id=variant.pk, location_id=location.pk, delta=quantity, reason="receipt"
    )


def stock_at(variant: ProductVariant, location: StockLocation) -> Stock:
    return Stock.objects.get(variant=variant, location=location)


def low_stock_threshold_set(variant: ProductVariant, threshold: int) -> StockPolicy:
    return StockPolicy.objects.update_or_create(
        variant=variant, defaults={"low_stock_threshold": threshold}
    )[0]


def bundle_of(components: dict[ProductVariant, int], **variant_fields: Any) -> ProductVariant:
    """A bundle variant sold as `quantity` units of each component."""
    bundle = ProductVariantFactory(**variant_fields)
    for component, quantity in components.items():
        BundleComponent.objects.create(bundle=bundle, component=component, quantity=quantity)
    return bundle


def line(variant: ProductVariant, quantity: int, line_reference: str = "") -> ReserveLine:
    return ReserveLine(variant_id=variant.pk, quantity=quantity, line_reference=line_reference)


def stock_events(after_id: int = 0) -> list[tuple[str, str]]:
    """(type, level) of the stock events published after outbox row `after_id`, oldest first."""
    return [
        (event.type, event.payload["level"])
        for event in OutboxEvent.objects.filter(type__in=STOCK_EVENTS, pk__gt=after_id).order_by(
            "pk"
        )
    ]


def last_event_id() -> int:
    return OutboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def run_concurrently(calls: list[Callable[[], Any]], *, timeout: float = 60) -> list[Any]:
    """Run each call in its own thread, all released together by a barrier so they really race.

    Returns, in order, each call's result or the exception it raised. Each thread closes its
    database connection when done, so none outlives the test.
    """
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[index] = call()
        except BaseException as exc:  # reported to the test as the outcome
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    return outcomes


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def channel(db) -> Channel:
    return ChannelFactory(code="web-inventory")


@pytest.fixture
def warehouse(channel: Channel) -> StockLocation:
    """The first choice for the channel (routing priority 10)."""
    return StockLocationFactory(code="main-wh", routing_priority=10, channels=[channel])


@pytest.fixture
def annex(channel: Channel) -> StockLocation:
    """The second choice for the channel (routing priority 20)."""
    return StockLocationFactory(code="annex-wh", routing_priority=20, channels=[channel])


@pytest.fixture
def variant(db) -> ProductVariant:
    return ProductVariantFactory(sku="INV-TEE-M")


@pytest.fixture(autouse=True)
def ledger_reconciles(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the database, the stock ledger must balance.

    Requesting `db` here (the database fixtures honour the test's own `django_db` marker, so a
    `transaction=True` test stays transactional) makes this teardown run before the test
    database is rolled back or flushed, while the test's rows are still there to check.
    """
    uses_db = request.node.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db"} & set(request.fixturenames)
    )
    if not uses_db:
        yield
        return
    request.getfixturevalue("db")
    yield
    assert stock_reconcile() == []
