"""Fixtures for transfers, purchasing and replenishment: locations, suppliers, stock put in
through the ledger, and a check after every test that the ledger still explains every counter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import factory
import pytest

from catalog.models import ProductVariant
from commerce.models import Channel, OutboxEvent
from inventory.models import Stock, StockLocation, StockMovement, Supplier, SupplierItem
from inventory.selectors import stock_reconcile
from inventory.services import ReserveLine, stock_adjust, stock_reserve, stock_ship
from tests.factories import ChannelFactory, ProductVariantFactory


class StockLocationFactory(factory.django.DjangoModelFactory):
    """An active warehouse unless a trait says otherwise."""

    class Meta:
        model = StockLocation
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"location-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    kind = StockLocation.Kind.WAREHOUSE

    class Params:
        store = factory.Trait(kind=StockLocation.Kind.STORE, pickup_enabled=True)
        dropship = factory.Trait(kind=StockLocation.Kind.DROPSHIP)
        inactive = factory.Trait(is_active=False)


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"supplier-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())

    class Params:
        inactive = factory.Trait(is_active=False)


class SupplierItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupplierItem

    supplier = factory.SubFactory(SupplierFactory)
    variant = factory.SubFactory(ProductVariantFactory)
    cost = Decimal("100.000")


@pytest.fixture(autouse=True)
def ledger_reconciles(db) -> Iterator[None]:
    """After each test, every counter is the sum of its ledger (checked before the test's
    database is rolled back or flushed)."""
    yield
    assert stock_reconcile() == []


@pytest.fixture
def channel(db) -> Channel:
    return ChannelFactory(code="web-jp", name="Web shop Japan")


@pytest.fixture
def warehouse(channel: Channel) -> StockLocation:
    location = StockLocationFactory(code="tokyo-dc", name="Tokyo DC", routing_priority=10)
    location.channels.add(channel)
    return location


@pytest.fixture
def store(channel: Channel) -> StockLocation:
    location = StockLocationFactory(code="shibuya", name="Shibuya store", store=True)
    location.channels.add(channel)
    return location


@pytest.fixture
def tee(db) -> ProductVariant:
    return ProductVariantFactory(sku="TEE-RED-M")


@pytest.fixture
def mug(db) -> ProductVariant:
    return ProductVariantFactory(sku="MUG-WHITE")


@dataclass(frozen=True)
class Level:
    on_hand: int
    allocated: int


def level(variant: ProductVariant, location: StockLocation) -> Level | None:
    """A stock row's counters, or None when the row does not exist."""
    row = Stock.objects.filter(variant=variant, location=location).values_list(
        "on_hand", "allocated"
    )
    found = row.first()
    return Level(*found) if found else None


def put(variant: ProductVariant, location: StockLocation, units: int) -> None:
    """Stock received through the ledger, as a goods-in clerk books it."""
    stock_adjust(
        variant_id=variant.pk,
        location_id=location.pk,
        delta=units,
        reason=StockMovement.Reason.RECEIPT,
        reference="opening",
    )


def sell(
    channel: Channel,
    variant: ProductVariant,
    location: StockLocation,
    units: int,
    *,
    reference: str,
    ship: bool = True,
) -> None:
    """An order allocated at `location` and, unless `ship` is False, shipped."""
    stock_reserve(
        channel=channel,
        lines=[ReserveLine(variant_id=variant.pk, quantity=units)],
        reference=reference,
        kind="order",
        preferred_location_id=location.pk,
    )
    if ship:
        stock_ship(reference=reference)


def movements(**filters) -> list[tuple[str, str, str, int, int]]:
    """Ledger rows as (reason, sku, location, on-hand change, allocated change), oldest first."""
    return [
        (m.reason, m.stock.variant.sku, m.stock.location.code, m.on_hand_delta, m.allocated_delta)
        for m in StockMovement.objects.filter(**filters)
        .select_related("stock__variant", "stock__location")
        .order_by("id")
    ]


def outbox(*types: str) -> list[tuple[str, str, dict]]:
    """Published events of these types as (type, subject id, payload), oldest first."""
    return [
        (e.type, e.subject_id, e.payload)
        for e in OutboxEvent.objects.filter(type__in=types).order_by("id")
    ]
