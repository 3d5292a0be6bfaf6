"""Low-stock signals: each crossing of a threshold publishes one event, and expired cart holds
stop counting at once and are tidied by the beat task."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone

from catalog.models import Product
from commerce.models import OutboxEvent
from inventory.models import Reservation, Stock
from inventory.selectors import availability_for_channel, product_in_stock_condition
from inventory.services import (
    StockLevel,
    stock_adjust,
    stock_release,
    stock_reserve,
    stock_set_levels,
)
from inventory.tasks import expire_cart_holds
from tests.factories import ChannelFactory, ProductVariantFactory
from tests.inventory.conftest import (
    StockLocationFactory,
    last_event_id,
    line,
    low_stock_threshold_set,
    receive,
    run_concurrently,
    stock_at,
    stock_events,
)

RESTOCKED = ("stock.restocked", "in_stock")
RESTOCKED_LOW = ("stock.restocked", "low")
LOW = ("stock.low", "low")
OUT = ("stock.out", "out")


def in_stock(channel, product) -> bool:
    return (
        Product.objects.filter(pk=product.pk)
        .filter(product_in_stock_condition(channel=channel))
        .exists()
    )


# --- Threshold crossings ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["order", "cart"])
def test_each_threshold_crossing_publishes_one_event(channel, warehouse, variant, kind):
    low_stock_threshold_set(variant, 5)
    receive(variant, warehouse, 10)
    assert stock_events() == [RESTOCKED]

    def reserve(reference: str, quantity: int) -> None:
        stock_reserve(
            channel=channel, lines=[line(variant, quantity)], reference=reference, kind=kind
        )

    steps = [
        (partial(reserve, "a", 1), 9, []),
        (partial(reserve, "b", 6), 3, [LOW]),  # past the threshold in one step: one event
        (partial(reserve, "c", 1), 2, []),  # staying low (and above zero): nothing more
        (partial(reserve, "d", 2), 0, [OUT]),
        (partial(stock_release, reference="b"), 6, [RESTOCKED]),  # from out straight to in stock
        (partial(reserve, "e", 1), 5, [LOW]),  # at the threshold is low, and it is low again
        (partial(stock_release, reference="e"), 6, [RESTOCKED]),
        (partial(reserve, "f", 6), 0, [OUT]),  # from in stock straight to out: no low on the way
        (partial(stock_release, reference="f"), 6, [RESTOCKED]),
        (partial(reserve, "g", 6), 0, [OUT]),
        (partial(stock_release, reference="d"), 2, [RESTOCKED_LOW]),  # back from out, but low
        (partial(stock_release, reference="c"), 3, []),
        (partial(stock_release, reference="c"), 3, []),  # a release that changes nothing
    ]
    for number, (step, available, expected) in enumerate(steps):
        before = last_event_id()

        step()

        assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {
            variant.pk: available
        }, number
        assert stock_events(after_id=before) == expected, number


@pytest.mark.django_db
def test_threshold_event_carries_the_level(channel, warehouse, variant):
    low_stock_threshold_set(variant, 5)
    receive(variant, warehouse, 10)
    before = last_event_id()

    stock_reserve(channel=channel, lines=[line(variant, 7)], reference="order:1", kind="order")

    [event] = OutboxEvent.objects.filter(pk__gt=before)
    stock = stock_at(variant, warehouse)
    assert (event.type, event.subject_type, event.subject_id) == (
        "stock.low",
        "stock",
        str(stock.pk),
    )
    assert event.payload == {
        "variant_id": variant.pk,
        "sku": "INV-TEE-M",
        "location": "main-wh",
        "available": 3,
        "threshold": 5,
        "on_hand": 10,
        "level": "low",
    }
    assert stock.signal == Stock.Signal.LOW


@pytest.mark.django_db
def test_threshold_of_a_stock_row_overrides_the_variants(channel, warehouse, variant):
    low_stock_threshold_set(variant, 5)
    receive(variant, warehouse, 10)
    Stock.objects.filter(variant=variant, location=warehouse).update(low_stock_threshold=2)
    before = last_event_id()

    stock_reserve(channel=channel, lines=[line(variant, 7)], reference="cart:a")
    quiet = stock_events(after_id=before)
    stock_reserve(channel=channel, lines=[line(variant, 1)], reference="cart:b")

    assert quiet == []
    assert stock_events(after_id=before) == [LOW]
    assert OutboxEvent.objects.filter(pk__gt=before).get().payload["threshold"] == 2


@pytest.mark.django_db
def test_default_threshold_is_five(channel, warehouse, variant):
    receive(variant, warehouse, 6)
    before = last_event_id()

    stock_reserve(channel=channel, lines=[line(variant, 1)], reference="cart:a")

    assert stock_events(after_id=before) == [LOW]


@pytest.mark.django_db
def test_adjustments_and_counts_publish_crossings_per_location(channel, warehouse, annex, variant):
    low_stock_threshold_set(variant, 5)
    receive(variant, warehouse, 10)
    receive(variant, annex, 10)
    before = last_event_id()

    stock_adjust(variant_id=variant.pk, location_id=warehouse.pk, delta=-6, note="water damage")
    stock_set_levels(
        levels=[
            StockLevel(variant_id=variant.pk, location_id=warehouse.pk, quantity=0),
            StockLevel(variant_id=variant.pk, location_id=annex.pk, quantity=8),
        ]
    )

    assert [
        (e.type, e.payload["location"], e.payload["available"])
        for e in OutboxEvent.objects.filter(pk__gt=before).order_by("pk")
    ] == [("stock.low", "main-wh", 4), ("stock.out", "main-wh", 0)]


@pytest.mark.django_db(transaction=True)
def test_racing_reservations_publish_each_crossing_once():
    channel = ChannelFactory()
    warehouse = StockLocationFactory(code="wh", routing_priority=1, channels=[channel])
    variant = ProductVariantFactory(sku="RACE-SIGNAL")
    low_stock_threshold_set(variant, 5)
    receive(variant, warehouse, 10)
    before = last_event_id()

    outcomes = run_concurrently(
        [
            partial(
                stock_reserve,
                channel=channel,
                lines=[line(variant, 1)],
                reference=f"order:{n}",
                kind="order",
            )
            for n in range(12)
        ]
    )

    assert sorted(type(o).__name__ for o in outcomes if isinstance(o, BaseException)) == [
        "InsufficientStock",
        "InsufficientStock",
    ]
    assert stock_events(after_id=before) == [LOW, OUT]
    assert [
        e.payload["available"] for e in OutboxEvent.objects.filter(pk__gt=before).order_by("pk")
    ] == [
        5,
        0,
    ]


# --- Expired cart holds ------------------------------------------------------------------------


@pytest.mark.django_db
def test_expired_cart_hold_stops_counting_at_once_and_the_task_closes_it(
    channel, warehouse, variant
):
    receive(variant, warehouse, 2)
    [hold] = stock_reserve(channel=channel, lines=[line(variant, 2)], reference="cart:a")
    assert stock_events() == [RESTOCKED_LOW, OUT]
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 0}
    assert not in_stock(channel, variant.product)

    Reservation.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    # No task has run: the hold is still active, and already does not count.
    hold.refresh_from_db()
    assert hold.state == Reservation.State.ACTIVE
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 2}
    assert in_stock(channel, variant.product)
    before = last_event_id()

    closed = expire_cart_holds()

    hold.refresh_from_db()
    assert closed == 1
    assert hold.state == Reservation.State.RELEASED
    assert hold.closed_at is not None
    assert stock_events(after_id=before) == [RESTOCKED_LOW]
    assert stock_at(variant, warehouse).signal == Stock.Signal.LOW
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 2}
    before = last_event_id()
    assert expire_cart_holds() == 0
    assert stock_events(after_id=before) == []


@pytest.mark.django_db
def test_cart_hold_with_a_short_ttl_lets_another_cart_have_the_stock(channel, warehouse, variant):
    receive(variant, warehouse, 2)
    stock_reserve(
        channel=channel,
        lines=[line(variant, 2)],
        reference="cart:a",
        ttl=timedelta(milliseconds=300),
    )
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 0}

    time.sleep(0.35)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="cart:b")
    before = last_event_id()
    closed = expire_cart_holds()

    assert closed == 1
    assert sorted(Reservation.objects.values_list("reference", "state")) == [
        ("cart:a", "released"),
        ("cart:b", "active"),
    ]
    # The freed units went to cart:b: still out, so nothing to announce.
    assert stock_events(after_id=before) == []
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 0}


@pytest.mark.django_db
def test_expire_cart_holds_leaves_unexpired_holds_and_order_allocations(
    channel, warehouse, variant
):
    receive(variant, warehouse, 10)
    stock_reserve(channel=channel, lines=[line(variant, 1)], reference="cart:old")
    stock_reserve(channel=channel, lines=[line(variant, 1)], reference="cart:new")
    stock_reserve(channel=channel, lines=[line(variant, 1)], reference="order:1", kind="order")
    Reservation.objects.filter(reference="cart:old").update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    assert expire_cart_holds() == 1

    assert sorted(Reservation.objects.values_list("reference", "state")) == [
        ("cart:new", "active"),
        ("cart:old", "released"),
        ("order:1", "active"),
    ]
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 8}
