"""What the storefront sees: availability per channel and per location, and the in-stock filter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db.models import QuerySet
from django.utils import timezone

from catalog.models import Product, ProductVariant
from commerce.models import Channel
from inventory.models import Reservation, Stock, StockLocation
from inventory.selectors import (
    _sellable_units,
    _sellable_units_orm,
    availability_by_location,
    availability_for_channel,
    product_in_stock_condition,
)
from inventory.services import stock_reserve
from tests.factories import ProductFactory, ProductVariantFactory
from tests.inventory.conftest import StockLocationFactory, bundle_of, line, receive

pytestmark = pytest.mark.django_db


@dataclass
class Shop:
    """Locations around one channel.

    | location  | serves channel | counts online | pickup | active | priority |
    | shop      | yes            | no            | yes    | yes    | 5        |
    | main-wh   | yes            | yes           | no     | yes    | 10       |
    | annex-wh  | yes            | yes           | no     | yes    | 20       |
    | closed    | yes            | yes           | no     | no     | 1        |
    | elsewhere | no             | yes           | no     | yes    | 100      |
    """

    channel: Channel
    shop: StockLocation
    warehouse: StockLocation
    annex: StockLocation
    closed: StockLocation
    elsewhere: StockLocation


@pytest.fixture
def shop(channel, warehouse, annex) -> Shop:
    return Shop(
        channel=channel,
        shop=StockLocationFactory(
            code="shop", store=True, offline=True, routing_priority=5, channels=[channel]
        ),
        warehouse=warehouse,
        annex=annex,
        closed=StockLocationFactory(
            code="closed", inactive=True, routing_priority=1, channels=[channel]
        ),
        elsewhere=StockLocationFactory(code="elsewhere"),
    )


def set_safety_stock(variant: ProductVariant, location: StockLocation, units: int) -> None:
    Stock.objects.filter(variant=variant, location=location).update(safety_stock=units)


def by_location(**kwargs) -> list[tuple[str, int, int]]:
    return [
        (row.location.code, row.available, row.on_hand)
        for row in availability_by_location(**kwargs)
    ]


def in_stock(channel: Channel) -> QuerySet[Product]:
    return Product.objects.filter(product_in_stock_condition(channel=channel))


# --- Numbers ----------------------------------------------------------------------------------


def test_availability_subtracts_allocations_holds_and_safety_stock(shop, variant):
    for location, units in [
        (shop.warehouse, 10),
        (shop.annex, 5),
        (shop.shop, 7),
        (shop.elsewhere, 9),
    ]:
        receive(variant, location, units)
    receive(variant, shop.closed, 6)
    stock_reserve(channel=shop.channel, lines=[line(variant, 3)], reference="order:1", kind="order")
    stock_reserve(channel=shop.channel, lines=[line(variant, 2)], reference="cart:a")
    set_safety_stock(variant, shop.warehouse, 1)
    unstocked = ProductVariantFactory(sku="NONE")

    assert availability_for_channel(
        channel=shop.channel, variant_ids=[variant.pk, unstocked.pk]
    ) == {
        variant.pk: 10 - 3 - 2 - 1 + 5,
        unstocked.pk: 0,
    }
    assert by_location(variant_id=variant.pk, channel=shop.channel) == [
        ("shop", 7, 7),
        ("main-wh", 4, 10),
        ("annex-wh", 5, 5),
    ]
    assert by_location(variant_id=variant.pk) == [
        ("shop", 7, 7),
        ("main-wh", 4, 10),
        ("annex-wh", 5, 5),
        ("elsewhere", 9, 9),
    ]
    assert by_location(variant_id=variant.pk, channel=shop.channel, pickup_only=True) == [
        ("shop", 7, 7)
    ]
    assert by_location(variant_id=unstocked.pk, channel=shop.channel) == [
        ("shop", 0, 0),
        ("main-wh", 0, 0),
        ("annex-wh", 0, 0),
    ]


def test_the_hand_written_statement_and_the_orm_give_the_same_figures(shop, variant):
    """PostgreSQL runs the storefront's stock as one hand-written statement; other databases
    (the embedded demo's SQLite) the ORM query. Both must say the same."""
    other = ProductVariantFactory(sku="OTHER")
    for location, units in [(shop.warehouse, 10), (shop.annex, 5), (shop.closed, 6)]:
        receive(variant, location, units)
        receive(other, location, 2)
    stock_reserve(channel=shop.channel, lines=[line(variant, 3)], reference="order:1", kind="order")
    stock_reserve(
        channel=shop.channel, lines=[line(variant, 2), line(other, 4)], reference="cart:a"
    )
    expired = stock_reserve(channel=shop.channel, lines=[line(variant, 1)], reference="cart:b")
    Reservation.objects.filter(pk__in=[r.pk for r in expired]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    set_safety_stock(variant, shop.warehouse, 1)
    ids = [variant.pk, other.pk, ProductVariantFactory(sku="NONE").pk]

    by_sql = _sellable_units(shop.channel.pk, ids)
    assert by_sql == _sellable_units_orm(shop.channel.pk, ids)
    assert by_sql == {variant.pk: 10 - 3 - 2 - 1 + 5, other.pk: 0}


def test_availability_never_goes_negative(shop, variant):
    receive(variant, shop.warehouse, 2)
    receive(variant, shop.annex, 4)
    set_safety_stock(variant, shop.warehouse, 5)

    assert availability_for_channel(channel=shop.channel, variant_ids=[variant.pk]) == {
        variant.pk: 4
    }
    assert by_location(variant_id=variant.pk, channel=shop.channel)[1:] == [
        ("main-wh", 0, 2),
        ("annex-wh", 4, 4),
    ]


def test_availability_of_a_bundle_is_what_its_scarcest_component_allows(shop):
    tee = ProductVariantFactory(sku="TEE")
    mug = ProductVariantFactory(sku="MUG")
    gift_set = bundle_of({tee: 1, mug: 2}, sku="GIFT-SET")
    empty_set = bundle_of({tee: 1, ProductVariantFactory(sku="NEVER"): 1}, sku="EMPTY-SET")
    receive(tee, shop.warehouse, 5)
    receive(tee, shop.annex, 1)
    receive(mug, shop.warehouse, 4)
    receive(mug, shop.annex, 3)
    receive(mug, shop.shop, 10)

    assert availability_for_channel(
        channel=shop.channel, variant_ids=[gift_set.pk, empty_set.pk, tee.pk, mug.pk]
    ) == {gift_set.pk: min(6 // 1, 7 // 2), empty_set.pk: 0, tee.pk: 6, mug.pk: 7}
    assert by_location(variant_id=gift_set.pk, channel=shop.channel) == [
        ("shop", 0, 0),
        ("main-wh", 2, 2),
        ("annex-wh", 1, 1),
    ]


def test_availability_takes_a_fixed_number_of_queries(
    shop, django_assert_num_queries, django_assert_max_num_queries
):
    variants = [ProductVariantFactory() for _ in range(5)]
    for variant in variants:
        receive(variant, shop.warehouse, 3)
        receive(variant, shop.annex, 3)
    gift_set = bundle_of({variants[0]: 1, variants[1]: 1})

    with django_assert_num_queries(2):
        availability_for_channel(
            channel=shop.channel, variant_ids=[v.pk for v in variants] + [gift_set.pk]
        )
    with django_assert_max_num_queries(4):
        availability_by_location(variant_id=gift_set.pk, channel=shop.channel)


# --- In-stock filter --------------------------------------------------------------------------


def test_in_stock_condition_keeps_products_with_sellable_stock(shop):
    def product_with(
        *units_at: tuple[StockLocation, int], name: str
    ) -> tuple[Product, ProductVariant]:
        variant = ProductVariantFactory(product=ProductFactory(name=name))
        for location, units in units_at:
            receive(variant, location, units)
        return variant.product, variant

    stocked, _ = product_with((shop.annex, 1), name="stocked")
    product_with(name="never stocked")
    _, held = product_with((shop.warehouse, 2), name="held in a cart")
    stock_reserve(channel=shop.channel, lines=[line(held, 2)], reference="cart:a")
    _, allocated = product_with((shop.warehouse, 3), name="allocated")
    stock_reserve(
        channel=shop.channel, lines=[line(allocated, 3)], reference="order:1", kind="order"
    )
    _, safe = product_with((shop.warehouse, 2), name="safety stock only")
    set_safety_stock(safe, shop.warehouse, 2)
    product_with((shop.shop, 5), name="in the shop only")
    product_with((shop.elsewhere, 5), name="elsewhere only")
    two_variants, _ = product_with(name="one of two variants")
    receive(ProductVariantFactory(product=two_variants), shop.warehouse, 1)

    assert sorted(in_stock(shop.channel).values_list("name", flat=True)) == [
        "one of two variants",
        "stocked",
    ]
    assert stocked in in_stock(shop.channel)


def test_in_stock_condition_counts_a_bundle_by_its_components(shop):
    tee = ProductVariantFactory(sku="TEE")
    mug = ProductVariantFactory(sku="MUG")
    complete = bundle_of({tee: 1, mug: 2}, product=ProductFactory(name="complete"))
    incomplete = bundle_of({tee: 1, mug: 3}, product=ProductFactory(name="incomplete"))
    receive(tee, shop.warehouse, 1)
    receive(mug, shop.warehouse, 2)

    names = set(in_stock(shop.channel).values_list("name", flat=True))

    assert {"complete", "incomplete"} & names == {"complete"}
    assert availability_for_channel(
        channel=shop.channel, variant_ids=[complete.pk, incomplete.pk]
    ) == {
        complete.pk: 1,
        incomplete.pk: 0,
    }


def test_in_stock_condition_agrees_with_availability_for_a_bundle_split_over_locations(shop):
    tee = ProductVariantFactory(sku="TEE")
    mug = ProductVariantFactory(sku="MUG")
    gift_set = bundle_of({tee: 1, mug: 2}, product=ProductFactory(name="gift set"))
    receive(tee, shop.warehouse, 1)
    receive(mug, shop.warehouse, 1)
    receive(mug, shop.annex, 1)
    assert availability_for_channel(channel=shop.channel, variant_ids=[gift_set.pk]) == {
        gift_set.pk: 1
    }

    listed = in_stock(shop.channel).filter(pk=gift_set.product_id).exists()
    stock_reserve(channel=shop.channel, lines=[line(gift_set, 1)], reference="cart:a")

    # The "in stock" filter must show what can be bought, and one set just was.
    assert listed
    assert not in_stock(shop.channel).filter(pk=gift_set.product_id).exists()
    assert availability_for_channel(channel=shop.channel, variant_ids=[gift_set.pk]) == {
        gift_set.pk: 0
    }
