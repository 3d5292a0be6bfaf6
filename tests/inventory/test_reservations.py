"""Reserving stock for carts and orders: where it is taken from, all-or-nothing, release, ship."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from commerce.models import OutboxEvent
from inventory.errors import InsufficientStock, InvalidStockOperation
from inventory.models import Reservation, Stock, StockMovement
from inventory.selectors import availability_for_channel
from inventory.services import stock_hold_convert, stock_release, stock_reserve, stock_ship
from tests.factories import ProductVariantFactory
from tests.inventory.conftest import (
    StockLocationFactory,
    bundle_of,
    line,
    receive,
    stock_at,
)

pytestmark = pytest.mark.django_db


def taken(reference: str, state: str = Reservation.State.ACTIVE) -> list[tuple[str, str, int]]:
    """(sku, location code, quantity) of a reference's reservations, sorted."""
    return sorted(
        Reservation.objects.filter(reference=reference, state=state).values_list(
            "variant__sku", "location__code", "quantity"
        )
    )


def snapshot() -> tuple[list, int, int, int]:
    """Everything a failed reservation must leave untouched."""
    return (
        sorted(Stock.objects.values_list("pk", "on_hand", "allocated", "signal")),
        Reservation.objects.count(),
        StockMovement.objects.count(),
        OutboxEvent.objects.count(),
    )


# --- Where stock is taken from ------------------------------------------------------------------


def test_stock_reserve_prefers_one_location_that_has_every_line(channel, warehouse, annex):
    tee = ProductVariantFactory(sku="TEE")
    mug = ProductVariantFactory(sku="MUG")
    receive(tee, warehouse, 5)
    receive(tee, annex, 5)
    receive(mug, annex, 5)

    stock_reserve(
        channel=channel, lines=[line(tee, 1), line(mug, 1)], reference="order:1", kind="order"
    )

    assert taken("order:1") == [("MUG", "annex-wh", 1), ("TEE", "annex-wh", 1)]
    assert stock_at(tee, warehouse).allocated == 0
    assert stock_at(tee, annex).allocated == 1


def test_stock_reserve_takes_each_variant_from_one_location_when_none_has_everything(
    channel, warehouse, annex
):
    tee = ProductVariantFactory(sku="TEE")
    mug = ProductVariantFactory(sku="MUG")
    receive(tee, warehouse, 2)
    receive(mug, warehouse, 5)
    receive(tee, annex, 5)

    stock_reserve(
        channel=channel, lines=[line(tee, 3), line(mug, 3)], reference="order:1", kind="order"
    )

    assert taken("order:1") == [("MUG", "main-wh", 3), ("TEE", "annex-wh", 3)]


def test_stock_reserve_splits_in_routing_priority_order_when_no_location_has_enough(channel):
    tee = ProductVariantFactory(sku="TEE")
    third = StockLocationFactory(code="third", routing_priority=30, channels=[channel])
    first = StockLocationFactory(code="first", routing_priority=10, channels=[channel])
    second = StockLocationFactory(code="second", routing_priority=20, channels=[channel])
    for location in (third, first, second):
        receive(tee, location, 3)

    reservations = stock_reserve(
        channel=channel, lines=[line(tee, 5, "line-1")], reference="order:1", kind="order"
    )

    assert taken("order:1") == [("TEE", "first", 3), ("TEE", "second", 2)]
    assert {r.line_reference for r in reservations} == {"line-1"}
    assert [stock_at(tee, loc).allocated for loc in (first, second, third)] == [3, 2, 0]
    assert sorted(
        StockMovement.objects.filter(reason="reservation").values_list(
            "stock__location__code", "allocated_delta", "allocated_before", "allocated_after"
        )
    ) == [("first", 3, 0, 3), ("second", 2, 0, 2)]


@pytest.mark.parametrize(
    ("at_warehouse", "at_annex", "expected"),
    [
        (5, 5, [("INV-TEE-M", "annex-wh", 3)]),
        (2, 2, [("INV-TEE-M", "annex-wh", 2), ("INV-TEE-M", "main-wh", 1)]),
        # One location for the whole reservation still beats splitting to honour the preference.
        (5, 2, [("INV-TEE-M", "main-wh", 3)]),
    ],
)
def test_stock_reserve_takes_the_preferred_location_first(
    channel, warehouse, annex, variant, at_warehouse, at_annex, expected
):
    receive(variant, warehouse, at_warehouse)
    receive(variant, annex, at_annex)

    stock_reserve(
        channel=channel,
        lines=[line(variant, 3)],
        reference="order:1",
        kind="order",
        preferred_location_id=annex.pk,
    )

    assert taken("order:1") == expected


def test_stock_reserve_never_uses_a_location_that_does_not_serve_the_channel(
    channel, warehouse, variant
):
    elsewhere = StockLocationFactory(code="elsewhere", routing_priority=1)
    receive(variant, elsewhere, 10)
    receive(variant, warehouse, 1)
    before = snapshot()

    with pytest.raises(InsufficientStock) as error:
        stock_reserve(channel=channel, lines=[line(variant, 2)], reference="order:1", kind="order")
    with pytest.raises(InvalidStockOperation) as preferred_error:
        stock_reserve(
            channel=channel,
            lines=[line(variant, 2)],
            reference="order:1",
            kind="order",
            preferred_location_id=elsewhere.pk,
        )

    assert error.value.extra == {
        "sku": "INV-TEE-M",
        "variant_id": variant.pk,
        "requested": 2,
        "available": 1,
    }
    assert preferred_error.value.errors == {
        "location": ["This location does not serve the channel."]
    }
    assert snapshot() == before


def test_stock_reserve_uses_a_location_not_counting_online_only_when_preferred(
    channel, warehouse, variant
):
    store = StockLocationFactory(
        code="shop", store=True, offline=True, routing_priority=1, channels=[channel]
    )
    receive(variant, store, 4)
    receive(variant, warehouse, 1)

    with pytest.raises(InsufficientStock) as error:
        stock_reserve(channel=channel, lines=[line(variant, 2)], reference="cart:a")
    stock_reserve(
        channel=channel,
        lines=[line(variant, 2)],
        reference="cart:b",
        preferred_location_id=store.pk,
    )

    assert error.value.extra["available"] == 1
    assert taken("cart:a") == []
    assert taken("cart:b") == [("INV-TEE-M", "shop", 2)]


def test_stock_reserve_respects_safety_stock(channel, warehouse, variant):
    receive(variant, warehouse, 10)
    Stock.objects.filter(variant=variant, location=warehouse).update(safety_stock=3)

    with pytest.raises(InsufficientStock) as error:
        stock_reserve(channel=channel, lines=[line(variant, 8)], reference="order:1", kind="order")
    stock_reserve(channel=channel, lines=[line(variant, 7)], reference="order:2", kind="order")

    assert error.value.extra["available"] == 7
    assert taken("order:1") == []
    assert taken("order:2") == [("INV-TEE-M", "main-wh", 7)]
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 0}


# --- All or nothing -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cart", "order"])
def test_stock_reserve_sums_two_lines_of_one_sku(channel, warehouse, annex, variant, kind):
    receive(variant, warehouse, 3)
    receive(variant, annex, 2)
    before = snapshot()

    with pytest.raises(InsufficientStock) as error:
        stock_reserve(
            channel=channel,
            lines=[line(variant, 3, "a"), line(variant, 3, "b")],
            reference="x:1",
            kind=kind,
        )

    assert error.value.code == "insufficient_stock"
    assert error.value.status == 409
    assert error.value.extra == {
        "sku": "INV-TEE-M",
        "variant_id": variant.pk,
        "requested": 6,
        "available": 5,
    }
    assert str(error.value) == "Only 5 of SKU INV-TEE-M are available; 6 were requested."
    assert snapshot() == before


def test_stock_reserve_spreads_a_split_variant_over_its_lines(channel, warehouse, annex, variant):
    receive(variant, warehouse, 3)
    receive(variant, annex, 2)

    stock_reserve(
        channel=channel,
        lines=[line(variant, 2, "a"), line(variant, 3, "b")],
        reference="order:1",
        kind="order",
    )

    assert sorted(
        Reservation.objects.values_list("line_reference", "location__code", "quantity")
    ) == [("a", "main-wh", 2), ("b", "annex-wh", 2), ("b", "main-wh", 1)]
    assert [stock_at(variant, loc).allocated for loc in (warehouse, annex)] == [3, 2]


def test_stock_reserve_reserves_a_bundle_as_its_components(channel, warehouse):
    tee = ProductVariantFactory(sku="TEE")
    mug = ProductVariantFactory(sku="MUG")
    gift_set = bundle_of({tee: 1, mug: 2}, sku="GIFT-SET")
    receive(tee, warehouse, 5)
    receive(mug, warehouse, 5)

    stock_reserve(
        channel=channel, lines=[line(gift_set, 2, "line-1")], reference="order:1", kind="order"
    )

    assert sorted(
        Reservation.objects.values_list("variant__sku", "line_reference", "quantity")
    ) == [("MUG", "line-1", 4), ("TEE", "line-1", 2)]
    assert (stock_at(tee, warehouse).allocated, stock_at(mug, warehouse).allocated) == (2, 4)
    assert not Stock.objects.filter(variant=gift_set).exists()


def test_stock_reserve_reserves_no_component_of_a_bundle_that_cannot_be_completed(
    channel, warehouse
):
    tee = ProductVariantFactory(sku="TEE")
    mug = ProductVariantFactory(sku="MUG")
    gift_set = bundle_of({tee: 1, mug: 2}, sku="GIFT-SET")
    receive(tee, warehouse, 5)
    receive(mug, warehouse, 3)
    before = snapshot()

    with pytest.raises(InsufficientStock) as error:
        stock_reserve(channel=channel, lines=[line(gift_set, 2)], reference="order:1", kind="order")

    assert (
        error.value.extra["sku"],
        error.value.extra["requested"],
        error.value.extra["available"],
    ) == (
        "MUG",
        4,
        3,
    )
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [0, -1])
def test_stock_reserve_refuses_a_line_below_one(channel, warehouse, variant, quantity):
    receive(variant, warehouse, 5)
    before = snapshot()

    with pytest.raises(InvalidStockOperation) as error:
        stock_reserve(channel=channel, lines=[line(variant, quantity)], reference="cart:a")

    assert error.value.errors == {"quantity": ["Must be at least 1."]}
    assert snapshot() == before


def test_stock_reserve_refuses_nothing_to_reserve(channel, warehouse):
    with pytest.raises(InvalidStockOperation) as error:
        stock_reserve(channel=channel, lines=[], reference="cart:a")

    assert error.value.errors == {"lines": ["Nothing to reserve."]}


# --- Carts and orders ---------------------------------------------------------------------------


def test_stock_reserve_cart_hold_expires_and_writes_no_ledger(
    channel, warehouse, variant, settings
):
    settings.INVENTORY_CART_HOLD_SECONDS = 600
    receive(variant, warehouse, 5)
    movements = StockMovement.objects.count()
    started = timezone.now()

    [hold] = stock_reserve(channel=channel, lines=[line(variant, 2)], reference="cart:a")

    hold.refresh_from_db()
    assert (hold.kind, hold.state, hold.quantity) == ("cart", "active", 2)
    assert (
        started + timedelta(seconds=600)
        <= hold.expires_at
        <= timezone.now() + timedelta(seconds=600)
    )
    assert stock_at(variant, warehouse).allocated == 0
    assert StockMovement.objects.count() == movements
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 3}


def test_stock_reserve_cart_hold_takes_the_given_ttl(channel, warehouse, variant):
    receive(variant, warehouse, 5)
    started = timezone.now()

    [hold] = stock_reserve(
        channel=channel, lines=[line(variant, 1)], reference="cart:a", ttl=timedelta(seconds=90)
    )

    assert (
        started + timedelta(seconds=90) <= hold.expires_at <= timezone.now() + timedelta(seconds=90)
    )


def test_stock_reserve_again_replaces_the_carts_earlier_holds(channel, warehouse, variant):
    mug = ProductVariantFactory(sku="MUG")
    receive(variant, warehouse, 3)
    receive(mug, warehouse, 3)
    stock_reserve(channel=channel, lines=[line(variant, 3)], reference="cart:a")

    # All three units are held by this very cart: replacing its holds frees them first.
    stock_reserve(channel=channel, lines=[line(variant, 3), line(mug, 1)], reference="cart:a")

    assert taken("cart:a") == [("INV-TEE-M", "main-wh", 3), ("MUG", "main-wh", 1)]
    assert taken("cart:a", Reservation.State.RELEASED) == [("INV-TEE-M", "main-wh", 3)]
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk, mug.pk]) == {
        variant.pk: 0,
        mug.pk: 2,
    }


def test_stock_reserve_failing_again_keeps_the_carts_holds(channel, warehouse, variant):
    receive(variant, warehouse, 3)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="cart:a")

    with pytest.raises(InsufficientStock):
        stock_reserve(channel=channel, lines=[line(variant, 4)], reference="cart:a")

    assert taken("cart:a") == [("INV-TEE-M", "main-wh", 2)]
    assert taken("cart:a", Reservation.State.RELEASED) == []


def test_stock_reserve_order_converts_the_carts_holds(channel, warehouse, variant):
    receive(variant, warehouse, 2)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="cart:a")
    with pytest.raises(InsufficientStock):
        stock_reserve(channel=channel, lines=[line(variant, 1)], reference="cart:b")

    stock_reserve(
        channel=channel,
        lines=[line(variant, 2)],
        reference="order:1",
        kind="order",
        replaces_reference="cart:a",
    )

    assert taken("cart:a") == []
    assert taken("cart:a", Reservation.State.CONVERTED) == [("INV-TEE-M", "main-wh", 2)]
    assert taken("order:1") == [("INV-TEE-M", "main-wh", 2)]
    stock = stock_at(variant, warehouse)
    assert (stock.on_hand, stock.allocated) == (2, 2)
    assert list(
        StockMovement.objects.filter(reason="reservation").values_list(
            "reference", "on_hand_delta", "allocated_delta"
        )
    ) == [("order:1", 0, 2)]
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 0}


def test_stock_hold_convert_takes_the_holds_over_in_place(channel, warehouse, variant):
    receive(variant, warehouse, 3)
    stock_reserve(channel=channel, lines=[line(variant, 2, "INV-TEE-M")], reference="cart:a")

    converted = stock_hold_convert(
        hold_reference="cart:a",
        reference="order:1",
        lines=[line(variant, 2, "INV-TEE-M")],
        location_ids={warehouse.pk},
    )

    assert [(r.kind, r.reference, r.quantity) for r in converted] == [("order", "order:1", 2)]
    assert taken("cart:a") == []
    assert taken("order:1") == [("INV-TEE-M", "main-wh", 2)]
    stock = stock_at(variant, warehouse)
    assert (stock.on_hand, stock.allocated) == (3, 2)
    assert list(
        StockMovement.objects.filter(reason="reservation").values_list(
            "reference", "allocated_delta", "allocated_before", "allocated_after"
        )
    ) == [("order:1", 2, 0, 2)]
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 1}


@pytest.mark.parametrize("why", ["expired", "other quantity", "location no longer serves"])
def test_stock_hold_convert_changes_nothing_when_the_holds_do_not_stand(
    channel, warehouse, variant, why
):
    receive(variant, warehouse, 3)
    stock_reserve(channel=channel, lines=[line(variant, 2, "INV-TEE-M")], reference="cart:a")
    if why == "expired":
        Reservation.objects.filter(reference="cart:a").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    before = snapshot()

    converted = stock_hold_convert(
        hold_reference="cart:a",
        reference="order:1",
        lines=[line(variant, 3 if why == "other quantity" else 2, "INV-TEE-M")],
        location_ids=set() if why == "location no longer serves" else {warehouse.pk},
    )

    assert converted is None
    assert snapshot() == before
    assert taken("order:1") == []


def test_stock_reserve_order_keeps_the_carts_holds_when_it_fails(channel, warehouse, variant):
    receive(variant, warehouse, 2)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="cart:a")

    with pytest.raises(InsufficientStock):
        stock_reserve(
            channel=channel,
            lines=[line(variant, 3)],
            reference="order:1",
            kind="order",
            replaces_reference="cart:a",
        )

    assert taken("cart:a") == [("INV-TEE-M", "main-wh", 2)]
    assert stock_at(variant, warehouse).allocated == 0


# --- Release and ship ---------------------------------------------------------------------------


def test_stock_release_twice_changes_nothing_the_second_time(channel, warehouse, annex, variant):
    receive(variant, warehouse, 2)
    receive(variant, annex, 2)
    stock_reserve(channel=channel, lines=[line(variant, 3)], reference="order:1", kind="order")

    first = stock_release(reference="order:1", note="customer cancelled")
    second = stock_release(reference="order:1")

    assert (first, second) == (3, 0)
    assert taken("order:1") == []
    assert taken("order:1", Reservation.State.RELEASED) == [
        ("INV-TEE-M", "annex-wh", 1),
        ("INV-TEE-M", "main-wh", 2),
    ]
    assert sorted(
        StockMovement.objects.filter(reason="release").values_list(
            "stock__location__code", "allocated_delta", "allocated_after", "note"
        )
    ) == [("annex-wh", -1, 0, "customer cancelled"), ("main-wh", -2, 0, "customer cancelled")]
    assert [stock_at(variant, loc).allocated for loc in (warehouse, annex)] == [0, 0]


def test_stock_release_of_a_cart_frees_its_holds_without_ledger(channel, warehouse, variant):
    receive(variant, warehouse, 2)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="cart:a")
    movements = StockMovement.objects.count()

    released = stock_release(reference="cart:a")

    assert released == 2
    assert StockMovement.objects.count() == movements
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 2}


def test_stock_ship_decrements_on_hand_and_allocated(channel, warehouse, variant):
    receive(variant, warehouse, 5)
    stock_reserve(channel=channel, lines=[line(variant, 3)], reference="order:1", kind="order")

    shipped = stock_ship(reference="order:1")

    assert shipped == 3
    stock = stock_at(variant, warehouse)
    assert (stock.on_hand, stock.allocated) == (2, 0)
    assert taken("order:1") == []
    assert taken("order:1", Reservation.State.SHIPPED) == [("INV-TEE-M", "main-wh", 3)]
    assert list(
        StockMovement.objects.filter(reason="shipment").values_list(
            "reference",
            "on_hand_delta",
            "allocated_delta",
            "on_hand_before",
            "on_hand_after",
            "allocated_before",
            "allocated_after",
        )
    ) == [("order:1", -3, -3, 5, 2, 3, 0)]
    assert stock_ship(reference="order:1") == 0
    assert stock_release(reference="order:1") == 0


def test_stock_ship_part_of_an_allocation(channel, warehouse, variant):
    mug = ProductVariantFactory(sku="MUG")
    receive(variant, warehouse, 5)
    receive(mug, warehouse, 5)
    stock_reserve(
        channel=channel,
        lines=[line(variant, 3, "l1"), line(mug, 2, "l2")],
        reference="order:1",
        kind="order",
    )

    shipped = stock_ship(reference="order:1", quantities={variant.pk: 2})

    assert shipped == 2
    assert taken("order:1") == [("INV-TEE-M", "main-wh", 1), ("MUG", "main-wh", 2)]
    assert taken("order:1", Reservation.State.SHIPPED) == [("INV-TEE-M", "main-wh", 2)]
    stock = stock_at(variant, warehouse)
    assert (stock.on_hand, stock.allocated) == (3, 1)

    assert stock_ship(reference="order:1") == 3

    assert taken("order:1") == []
    assert [
        (s.on_hand, s.allocated) for s in (stock_at(variant, warehouse), stock_at(mug, warehouse))
    ] == [
        (2, 0),
        (3, 0),
    ]


def test_stock_ship_from_one_location_of_a_split_allocation(channel, warehouse, annex, variant):
    receive(variant, warehouse, 2)
    receive(variant, annex, 2)
    stock_reserve(channel=channel, lines=[line(variant, 3)], reference="order:1", kind="order")

    shipped = stock_ship(reference="order:1", location_id=annex.pk)

    assert shipped == 1
    assert taken("order:1") == [("INV-TEE-M", "main-wh", 2)]
    assert [
        (s.on_hand, s.allocated) for s in (stock_at(variant, warehouse), stock_at(variant, annex))
    ] == [
        (2, 2),
        (1, 0),
    ]


def test_stock_ship_refuses_more_than_allocated(channel, warehouse, variant):
    receive(variant, warehouse, 5)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="order:1", kind="order")
    before = snapshot()

    with pytest.raises(InvalidStockOperation) as error:
        stock_ship(reference="order:1", quantities={variant.pk: 3})

    assert error.value.errors == {
        "quantities": [f"More than is allocated for variant {variant.pk}."]
    }
    assert snapshot() == before


def test_stock_ship_ignores_cart_holds(channel, warehouse, variant):
    receive(variant, warehouse, 5)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="cart:a")

    assert stock_ship(reference="cart:a") == 0

    assert stock_at(variant, warehouse).on_hand == 5
    assert taken("cart:a") == [("INV-TEE-M", "main-wh", 2)]
