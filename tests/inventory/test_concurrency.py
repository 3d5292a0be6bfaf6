"""Reservations, adjustments and counts racing on the same stock rows, in real threads on
PostgreSQL: no oversell, no partial reservation, no lost update, no deadlock.

Every thread starts on a barrier so that the calls really overlap. Lock contention that the
services retry is logged by `inventory.services.ledger`; the tests collect those records and
insist there was no deadlock among them (every writer locks rows in the same order).
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import Counter, defaultdict
from datetime import timedelta
from functools import partial

import pytest
from django.db.models import Sum
from django.utils import timezone

from inventory.errors import InsufficientStock
from inventory.models import Reservation, Stock, StockMovement
from inventory.selectors import availability_for_channel, stock_reconcile
from inventory.services import (
    StockLevel,
    stock_adjust,
    stock_release,
    stock_reserve,
    stock_set_levels,
    stock_ship,
)
from inventory.tasks import expire_cart_holds
from tests.factories import ChannelFactory, ProductVariantFactory
from tests.inventory.conftest import StockLocationFactory, line, receive, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

LEDGER_LOGGER = "inventory.services.ledger"


@pytest.fixture
def contention(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The retry records of the stock services (the log handler sees every thread)."""
    caplog.set_level(logging.INFO, logger=LEDGER_LOGGER)
    return caplog


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the services retried during the test's call phase (read when asked: pytest starts
    a new list of records for each phase)."""
    return [r.getMessage() for r in caplog.records if r.name == LEDGER_LOGGER]


def assert_no_deadlock(caplog: pytest.LogCaptureFixture) -> None:
    assert [m for m in retries(caplog) if "deadlock" in m] == []


def units(kind: str, **filters) -> dict[int, int]:
    """Active units per stock row of one kind of reservation."""
    return dict(
        Reservation.objects.filter(kind=kind, state=Reservation.State.ACTIVE, **filters)
        .values_list("stock_id")
        .annotate(total=Sum("quantity"))
        .values_list("stock_id", "total")
    )


def assert_unbroken_ledger(stock: Stock) -> list[StockMovement]:
    """The row's ledger is one chain: each change starts from the previous one's result (a lost
    update breaks it), and the chain ends at the row's counters. Returns the movements."""
    movements = list(StockMovement.objects.filter(stock=stock).order_by("pk"))
    for previous, current in itertools.pairwise(movements):
        assert (current.on_hand_before, current.allocated_before) == (
            previous.on_hand_after,
            previous.allocated_after,
        ), (previous, current)
    assert (movements[-1].on_hand_after, movements[-1].allocated_after) == (
        stock.on_hand,
        stock.allocated,
    )
    return movements


@pytest.mark.parametrize("kind", ["order", "cart"])
def test_stock_reserve_never_oversells_under_concurrency(kind, contention):
    channel = ChannelFactory()
    variant = ProductVariantFactory(sku="RACE-1")
    first = StockLocationFactory(code="first", routing_priority=1, channels=[channel])
    second = StockLocationFactory(code="second", routing_priority=2, channels=[channel])
    receive(variant, first, 6)
    receive(variant, second, 4)

    outcomes = run_concurrently(
        [
            partial(
                stock_reserve,
                channel=channel,
                lines=[line(variant, 1)],
                reference=f"{kind}:{n}",
                kind=kind,
            )
            for n in range(50)
        ]
    )

    failures = [o for o in outcomes if isinstance(o, BaseException)]
    successes = [o for o in outcomes if not isinstance(o, BaseException)]
    assert [type(f).__name__ for f in failures] == ["InsufficientStock"] * 40, failures
    assert {
        (f.code, f.extra["sku"], f.extra["requested"], f.extra["available"]) for f in failures
    } == {("insufficient_stock", "RACE-1", 1, 0)}
    assert len(successes) == 10
    assert all(len(reservations) == 1 for reservations in successes)
    assert Reservation.objects.filter(state=Reservation.State.ACTIVE).count() == 10
    stocks = {s.location.code: s for s in Stock.objects.select_related("location")}
    held = units(kind)
    assert {code: held[s.pk] for code, s in stocks.items()} == {"first": 6, "second": 4}
    expected_allocated = {"first": 6, "second": 4} if kind == "order" else {"first": 0, "second": 0}
    assert {code: s.allocated for code, s in stocks.items()} == expected_allocated
    assert {code: s.on_hand for code, s in stocks.items()} == {"first": 6, "second": 4}
    assert availability_for_channel(channel=channel, variant_ids=[variant.pk]) == {variant.pk: 0}
    assert stock_reconcile() == []
    assert_no_deadlock(contention)


@pytest.mark.parametrize("kind", ["order", "cart"])
def test_stock_reserve_of_several_skus_in_any_order_is_all_or_nothing(kind, contention):
    channel = ChannelFactory()
    first = StockLocationFactory(code="first", routing_priority=1, channels=[channel])
    second = StockLocationFactory(code="second", routing_priority=2, channels=[channel])
    skus = [ProductVariantFactory(sku=f"MULTI-{n}") for n in range(3)]
    supply = {skus[0]: (10, 5), skus[1]: (6, 6), skus[2]: (9, 0)}
    for variant, (at_first, at_second) in supply.items():
        receive(variant, first, at_first)
        if at_second:
            receive(variant, second, at_second)
    # skus[2] has no row at `second` yet: the racing reservations create it.
    rng = random.Random(20240607)
    requests = []
    for n in range(20):
        lines = [line(variant, rng.randint(1, 3), f"l{i}") for i, variant in enumerate(skus)]
        rng.shuffle(lines)
        if n % 5 == 0:
            # Each line of the same SKU fits alone; together they ask for more than there is.
            total = sum(supply[skus[1]])
            lines += [line(skus[1], total - 2, "big-a"), line(skus[1], 3, "big-b")]
            rng.shuffle(lines)
        requests.append((f"{kind}:{n}", lines))

    outcomes = run_concurrently(
        [
            partial(stock_reserve, channel=channel, lines=lines, reference=reference, kind=kind)
            for reference, lines in requests
        ]
    )

    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert {type(e) for e in errors} <= {InsufficientStock}, errors
    succeeded = [
        req for req, o in zip(requests, outcomes, strict=True) if not isinstance(o, BaseException)
    ]
    failed = [
        req for req, o in zip(requests, outcomes, strict=True) if isinstance(o, BaseException)
    ]
    # The over-asking requests always fail, and the rest compete for more than there is.
    assert {ref for ref, _ in requests[::5]} <= {ref for ref, _ in failed}
    assert succeeded
    skus_by_id = {v.pk: v.sku for v in skus}
    # Nothing is released during the race, so what a refusal saw can only have shrunk since:
    # a refusal while there was enough would show as more available now than it reported.
    left = availability_for_channel(channel=channel, variant_ids=list(skus_by_id))
    for (_reference, lines), outcome in zip(requests, outcomes, strict=True):
        if isinstance(outcome, InsufficientStock):
            short = outcome.extra["variant_id"]
            demand = sum(r.quantity for r in lines if r.variant_id == short)
            assert outcome.code == "insufficient_stock"
            assert outcome.extra["sku"] == skus_by_id[short]
            assert outcome.extra["requested"] == demand
            assert outcome.extra["available"] < demand
            assert left[short] <= outcome.extra["available"]
    assert Reservation.objects.filter(reference__in=[ref for ref, _ in failed]).count() == 0
    requested = Counter()
    for _reference, lines in succeeded:
        for r in lines:
            requested[r.variant_id] += r.quantity
    reserved = Counter()
    for variant_id, quantity in Reservation.objects.filter(
        state=Reservation.State.ACTIVE
    ).values_list("variant_id", "quantity"):
        reserved[variant_id] += quantity
    assert reserved == requested
    for reference, lines in succeeded:
        per_line = defaultdict(int)
        for variant_id, line_reference, quantity in Reservation.objects.filter(
            reference=reference
        ).values_list("variant_id", "line_reference", "quantity"):
            per_line[(variant_id, line_reference)] += quantity
        assert per_line == {(r.variant_id, r.line_reference): r.quantity for r in lines}
    held = units(kind)
    for stock in Stock.objects.all():
        assert (
            stock.on_hand - stock.allocated - (0 if kind == "order" else held.get(stock.pk, 0)) >= 0
        )
        assert stock.allocated == (held.get(stock.pk, 0) if kind == "order" else 0)
    assert stock_reconcile() == []
    assert_no_deadlock(contention)


def test_adjustments_counts_and_shipments_racing_lose_no_update(contention):
    channel = ChannelFactory()
    warehouse = StockLocationFactory(code="wh", routing_priority=1, channels=[channel])
    tee = ProductVariantFactory(sku="TEE")
    mug = ProductVariantFactory(sku="MUG")
    receive(tee, warehouse, 100)
    receive(mug, warehouse, 100)

    def sell(n: int) -> int:
        lines = [line(tee, 1), line(mug, 1)]
        if n % 2:
            lines.reverse()
        stock_reserve(channel=channel, lines=lines, reference=f"order:{n}", kind="order")
        return stock_ship(reference=f"order:{n}")

    calls = [
        *(
            partial(stock_adjust, variant_id=tee.pk, location_id=warehouse.pk, delta=1)
            for _ in range(10)
        ),
        *(
            partial(stock_adjust, variant_id=mug.pk, location_id=warehouse.pk, delta=-1)
            for _ in range(10)
        ),
        *(partial(sell, n) for n in range(10)),
        partial(
            stock_set_levels,
            levels=[
                StockLevel(variant_id=mug.pk, location_id=warehouse.pk, quantity=60),
                StockLevel(variant_id=tee.pk, location_id=warehouse.pk, quantity=50),
            ],
            reason="count_correction",
            reference="count:1",
        ),
    ]
    order = list(range(len(calls)))
    random.Random(7).shuffle(order)

    outcomes = run_concurrently([calls[i] for i in order])

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    for variant, counted, adjustment in ((tee, 50, 1), (mug, 60, -1)):
        stock = Stock.objects.get(variant=variant, location=warehouse)
        movements = assert_unbroken_ledger(stock)
        reasons = Counter(m.reason for m in movements)
        assert reasons == {
            "receipt": 1,
            "adjustment": 10,
            "reservation": 10,
            "shipment": 10,
            "count_correction": 1,
        }
        [count] = [m for m in movements if m.reason == "count_correction"]
        assert count.on_hand_after == counted
        after_count = [m for m in movements if m.pk > count.pk]
        expected = counted + sum(m.on_hand_delta for m in after_count)
        assert expected == counted + adjustment * sum(
            m.reason == "adjustment" for m in after_count
        ) - sum(m.reason == "shipment" for m in after_count)
        assert (stock.on_hand, stock.allocated) == (expected, 0)
        assert stock.on_hand == sum(m.on_hand_delta for m in movements)
    assert Reservation.objects.filter(state=Reservation.State.SHIPPED).count() == 20
    assert stock_reconcile() == []
    assert_no_deadlock(contention)


def test_adjustments_and_shipments_racing_after_a_count_end_where_serial_order_would(contention):
    channel = ChannelFactory()
    warehouse = StockLocationFactory(code="wh", routing_priority=1, channels=[channel])
    variant = ProductVariantFactory(sku="TEE")
    receive(variant, warehouse, 100)
    stock_set_levels(
        levels=[StockLevel(variant_id=variant.pk, location_id=warehouse.pk, quantity=40)],
        reason="count_correction",
    )

    def sell(n: int) -> int:
        stock_reserve(
            channel=channel, lines=[line(variant, 1)], reference=f"order:{n}", kind="order"
        )
        return stock_ship(reference=f"order:{n}")

    outcomes = run_concurrently(
        [
            *(
                partial(stock_adjust, variant_id=variant.pk, location_id=warehouse.pk, delta=2)
                for _ in range(12)
            ),
            *(
                partial(stock_adjust, variant_id=variant.pk, location_id=warehouse.pk, delta=-1)
                for _ in range(8)
            ),
            *(partial(sell, n) for n in range(15)),
        ]
    )

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    stock = Stock.objects.get(variant=variant, location=warehouse)
    assert (stock.on_hand, stock.allocated) == (40 + 12 * 2 - 8 - 15, 0)
    movements = assert_unbroken_ledger(stock)
    assert stock.on_hand == sum(m.on_hand_delta for m in movements)
    assert stock_reconcile() == []
    assert_no_deadlock(contention)


def test_expiring_holds_while_their_carts_reserve_again_does_not_deadlock(contention):
    channel = ChannelFactory()
    warehouse = StockLocationFactory(code="wh", routing_priority=1, channels=[channel])
    tee = ProductVariantFactory(sku="TEE")
    mug = ProductVariantFactory(sku="MUG")
    receive(tee, warehouse, 30)
    receive(mug, warehouse, 30)
    carts = [f"cart:{n}" for n in range(12)]
    for reference in carts:
        stock_reserve(channel=channel, lines=[line(tee, 1), line(mug, 1)], reference=reference)
    Reservation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    outcomes = run_concurrently(
        [
            *(
                partial(
                    stock_reserve,
                    channel=channel,
                    lines=[line(mug, 2), line(tee, 1)],
                    reference=reference,
                )
                for reference in carts[:8]
            ),
            *(partial(stock_release, reference=reference) for reference in carts[8:]),
            *(expire_cart_holds for _ in range(4)),
        ]
    )

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert sorted(
        Reservation.objects.filter(state=Reservation.State.ACTIVE).values_list(
            "reference", "variant__sku", "quantity"
        )
    ) == sorted(
        [
            (reference, sku, quantity)
            for reference in carts[:8]
            for sku, quantity in (("MUG", 2), ("TEE", 1))
        ]
    )
    assert Reservation.objects.filter(state=Reservation.State.RELEASED).count() == 24
    assert availability_for_channel(channel=channel, variant_ids=[tee.pk, mug.pk]) == {
        tee.pk: 30 - 8,
        mug.pk: 30 - 16,
    }
    assert_no_deadlock(contention)


def test_one_cart_reserving_again_from_several_threads_keeps_one_set_of_holds(contention):
    channel = ChannelFactory()
    warehouse = StockLocationFactory(code="wh", routing_priority=1, channels=[channel])
    tee = ProductVariantFactory(sku="TEE")
    receive(tee, warehouse, 50)
    stock_reserve(channel=channel, lines=[line(tee, 1)], reference="cart:a")

    outcomes = run_concurrently(
        [
            partial(stock_reserve, channel=channel, lines=[line(tee, 2)], reference="cart:a")
            for _ in range(8)
        ]
    )

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert list(
        Reservation.objects.filter(state=Reservation.State.ACTIVE).values_list(
            "reference", "quantity"
        )
    ) == [("cart:a", 2)]
    assert availability_for_channel(channel=channel, variant_ids=[tee.pk]) == {tee.pk: 48}
    assert_no_deadlock(contention)


def test_one_new_cart_reserved_from_several_threads_keeps_the_last_holds(contention):
    channel = ChannelFactory()
    warehouse = StockLocationFactory(code="wh", routing_priority=1, channels=[channel])
    variants = [ProductVariantFactory(sku=f"SKU-{n}") for n in range(8)]
    for variant in variants:
        receive(variant, warehouse, 5)

    # No two calls touch the same stock row: only the cart itself can make them queue.
    outcomes = run_concurrently(
        [
            partial(stock_reserve, channel=channel, lines=[line(variant, 1)], reference="cart:a")
            for variant in variants
        ]
    )

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert Reservation.objects.filter(state=Reservation.State.ACTIVE).count() == 1
    assert Reservation.objects.filter(state=Reservation.State.RELEASED).count() == 7
    assert (
        sum(
            availability_for_channel(channel=channel, variant_ids=[v.pk for v in variants]).values()
        )
        == 8 * 5 - 1
    )
    assert_no_deadlock(contention)


def test_releasing_and_shipping_one_order_at_once_does_it_once(contention):
    channel = ChannelFactory()
    first = StockLocationFactory(code="first", routing_priority=1, channels=[channel])
    second = StockLocationFactory(code="second", routing_priority=2, channels=[channel])
    tee = ProductVariantFactory(sku="TEE")
    receive(tee, first, 2)
    receive(tee, second, 2)
    stock_reserve(channel=channel, lines=[line(tee, 3)], reference="order:1", kind="order")

    outcomes = run_concurrently(
        [
            *(partial(stock_release, reference="order:1") for _ in range(4)),
            *(partial(stock_ship, reference="order:1") for _ in range(4)),
        ]
    )

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    released, shipped = sum(outcomes[:4]), sum(outcomes[4:])
    assert released + shipped == 3
    movements = Counter(StockMovement.objects.values_list("reason", flat=True))
    assert movements["release"] + movements["shipment"] == 2  # one per location
    assert Reservation.objects.filter(state=Reservation.State.ACTIVE).count() == 0
    assert sorted(Stock.objects.values_list("location__code", "on_hand", "allocated")) in (
        [("first", 2, 0), ("second", 2, 0)],  # all released
        [("first", 0, 0), ("second", 1, 0)],  # all shipped
        [("first", 2, 0), ("second", 1, 0)],  # one location each way
        [("first", 0, 0), ("second", 2, 0)],
    )
    assert_no_deadlock(contention)
