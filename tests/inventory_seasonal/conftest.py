"""Fixtures for seasonal thresholds and idempotent purchase-order drafts: a small category tree,
locations, suppliers, a clock that can be set, and the ledger check after every test."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from catalog.models import Category, ProductVariant
from commerce.models import Channel
from inventory.models import StockLocation
from inventory.selectors import stock_reconcile
from tests.factories import CategoryFactory, ChannelFactory, ProductFactory, ProductVariantFactory
from tests.inventory.conftest import StockLocationFactory

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture(autouse=True)
def ledger_reconciles(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the database, every counter is the sum of its ledger."""
    uses_db = request.node.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db"} & set(request.fixturenames)
    )
    if not uses_db:
        yield
        return
    request.getfixturevalue("db")
    yield
    assert stock_reconcile() == []


@pytest.fixture
def merchant_in_tokyo(settings) -> None:
    """The merchant's time zone, in which a seasonal rule's days begin and end."""
    settings.TIME_ZONE = "Asia/Tokyo"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, merchant_in_tokyo) -> Callable[..., None]:
    """`clock(datetime)` stops the time at that (aware) moment; `clock(date)` at noon in Tokyo.

    The tests here pass `on=`/`now=` where the code takes them; the ledger reads the time
    itself, so for it the clock is set the way a frozen clock would: `timezone.now`."""

    def set_to(moment: datetime.date | datetime.datetime) -> None:
        if not isinstance(moment, datetime.datetime):
            moment = datetime.datetime.combine(moment, datetime.time(12), tzinfo=TOKYO)
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return set_to


@dataclass
class Tree:
    """apparel > t-shirts > long-sleeve, and kitchen at the root."""

    apparel: Category
    t_shirts: Category
    long_sleeve: Category
    kitchen: Category


@pytest.fixture
def tree(db) -> Tree:
    apparel = CategoryFactory(slug="apparel", name="Apparel")
    t_shirts = CategoryFactory(slug="t-shirts", name="T-shirts", parent=apparel)
    long_sleeve = CategoryFactory(slug="long-sleeve", name="Long sleeve", parent=t_shirts)
    kitchen = CategoryFactory(slug="kitchen", name="Kitchen")
    return Tree(apparel, t_shirts, long_sleeve, kitchen)


def variant_in(category: Category | None, sku: str) -> ProductVariant:
    return ProductVariantFactory(product=ProductFactory(category=category), sku=sku)


@pytest.fixture
def tee(tree: Tree) -> ProductVariant:
    """In apparel > t-shirts."""
    return variant_in(tree.t_shirts, "TEE-RED-M")


@pytest.fixture
def tee_blue(tree: Tree) -> ProductVariant:
    """Another variant of a t-shirt (a product of its own, in the same category)."""
    return variant_in(tree.t_shirts, "TEE-BLUE-M")


@pytest.fixture
def long_sleeve(tree: Tree) -> ProductVariant:
    """In apparel > t-shirts > long-sleeve."""
    return variant_in(tree.long_sleeve, "LS-GREY-L")


@pytest.fixture
def mug(tree: Tree) -> ProductVariant:
    """In kitchen, outside the apparel tree."""
    return variant_in(tree.kitchen, "MUG-WHITE")


@pytest.fixture
def channel(db) -> Channel:
    return ChannelFactory(code="web-seasonal")


@pytest.fixture
def warehouse(channel: Channel) -> StockLocation:
    return StockLocationFactory(code="tokyo-dc", routing_priority=10, channels=[channel])


@pytest.fixture
def store(channel: Channel) -> StockLocation:
    return StockLocationFactory(code="shibuya", routing_priority=5, store=True, channels=[channel])
