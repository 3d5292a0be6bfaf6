"""Staff stock operations (adjustments, counts) through the ledger, and its reconciliation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import CommandError, call_command

from commerce.models import OutboxEvent
from inventory.errors import InvalidStockOperation
from inventory.models import Reservation, Stock, StockMovement
from inventory.selectors import Drift, stock_reconcile
from inventory.services import StockLevel, stock_adjust, stock_reserve, stock_set_levels
from tests.factories import ProductVariantFactory, StaffFactory
from tests.inventory.conftest import line, receive, stock_at

pytestmark = pytest.mark.django_db


def snapshot() -> tuple[list, int, int]:
    return (
        sorted(Stock.objects.values_list("pk", "on_hand", "allocated", "signal")),
        StockMovement.objects.count(),
        OutboxEvent.objects.count(),
    )


def movement_figures(movement: StockMovement) -> tuple:
    return (
        movement.reason,
        movement.on_hand_delta,
        movement.allocated_delta,
        movement.on_hand_before,
        movement.on_hand_after,
        movement.allocated_before,
        movement.allocated_after,
    )


# --- Adjustments ------------------------------------------------------------------------------


def test_stock_adjust_creates_the_row_and_writes_the_movement(warehouse, variant):
    staff = StaffFactory()

    received = stock_adjust(
        variant_id=variant.pk, location_id=warehouse.pk, delta=5, reason="receipt", reference="PO-1"
    )
    damaged = stock_adjust(
        variant_id=variant.pk, location_id=warehouse.pk, delta=-2, note="crushed box", actor=staff
    )

    assert (received.pk, damaged.on_hand, damaged.allocated) == (damaged.pk, 3, 0)
    assert stock_at(variant, warehouse).on_hand == 3
    assert [
        (*movement_figures(m), m.reference, m.note, m.actor)
        for m in StockMovement.objects.order_by("pk")
    ] == [
        ("receipt", 5, 0, 0, 5, 0, 0, "PO-1", "", None),
        ("adjustment", -2, 0, 5, 3, 0, 0, "", "crushed box", staff),
    ]


def test_stock_adjust_records_no_anonymous_actor(warehouse, variant):
    stock_adjust(variant_id=variant.pk, location_id=warehouse.pk, delta=1, actor=AnonymousUser())

    assert StockMovement.objects.get().actor is None


def test_stock_adjust_refuses_to_go_below_zero(warehouse, variant):
    receive(variant, warehouse, 3)
    before = snapshot()

    with pytest.raises(InvalidStockOperation) as error:
        stock_adjust(variant_id=variant.pk, location_id=warehouse.pk, delta=-4)

    assert error.value.code == "invalid"
    assert error.value.status == 400
    assert error.value.errors == {"delta": ["Only 3 on hand; cannot remove 4."]}
    assert snapshot() == before


def test_stock_adjust_refuses_a_zero_change(warehouse, variant):
    receive(variant, warehouse, 3)
    before = snapshot()

    with pytest.raises(InvalidStockOperation) as error:
        stock_adjust(variant_id=variant.pk, location_id=warehouse.pk, delta=0)

    assert error.value.errors == {"delta": ["The change must not be zero."]}
    assert snapshot() == before


@pytest.mark.parametrize("reason", ["shipment", "reservation", "transfer_in", "nonsense"])
def test_stock_adjust_refuses_a_reason_that_is_not_an_adjustment(warehouse, variant, reason):
    receive(variant, warehouse, 3)
    before = snapshot()

    with pytest.raises(InvalidStockOperation) as error:
        stock_adjust(variant_id=variant.pk, location_id=warehouse.pk, delta=1, reason=reason)

    assert error.value.errors == {"reason": [f"{reason} is not an adjustment reason."]}
    assert snapshot() == before


@pytest.mark.parametrize("reason", ["return_restock", "count_correction", "sync"])
def test_stock_adjust_accepts_every_adjustment_reason(warehouse, variant, reason):
    stock_adjust(variant_id=variant.pk, location_id=warehouse.pk, delta=2, reason=reason)

    assert list(StockMovement.objects.values_list("reason", "on_hand_delta")) == [(reason, 2)]


# --- Counts -----------------------------------------------------------------------------------


def test_stock_set_levels_writes_only_the_rows_that_changed(channel, warehouse, annex, variant):
    mug = ProductVariantFactory(sku="MUG")
    receive(variant, warehouse, 5)
    receive(variant, annex, 3)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="order:1", kind="order")
    assert stock_at(variant, warehouse).allocated == 2
    counted_before = StockMovement.objects.count()
    staff = StaffFactory()

    movements = stock_set_levels(
        levels=[
            StockLevel(variant_id=variant.pk, location_id=annex.pk, quantity=3),
            StockLevel(variant_id=variant.pk, location_id=warehouse.pk, quantity=7),
            StockLevel(variant_id=mug.pk, location_id=warehouse.pk, quantity=4),
        ],
        reason="count_correction",
        reference="count:2024-06",
        note="June count",
        actor=staff,
    )

    assert [(m.stock.variant.sku, m.stock.location.code) for m in movements] == [
        ("INV-TEE-M", "main-wh"),
        ("MUG", "main-wh"),
    ]
    assert [
        (*movement_figures(m), m.reference, m.note, m.actor)
        for m in StockMovement.objects.filter(pk__in=[m.pk for m in movements]).order_by("pk")
    ] == [
        ("count_correction", 2, 0, 5, 7, 2, 2, "count:2024-06", "June count", staff),
        ("count_correction", 4, 0, 0, 4, 0, 0, "count:2024-06", "June count", staff),
    ]
    assert StockMovement.objects.count() == counted_before + 2
    assert [
        (s.on_hand, s.allocated)
        for s in (stock_at(variant, warehouse), stock_at(variant, annex), stock_at(mug, warehouse))
    ] == [
        (7, 2),
        (3, 0),
        (4, 0),
    ]


def test_stock_set_levels_lowers_on_hand(warehouse, variant):
    receive(variant, warehouse, 9)

    [movement] = stock_set_levels(
        levels=[StockLevel(variant_id=variant.pk, location_id=warehouse.pk, quantity=0)],
        reason="sync",
    )

    assert movement_figures(movement) == ("sync", -9, 0, 9, 0, 0, 0)
    assert stock_at(variant, warehouse).on_hand == 0


def test_stock_set_levels_with_nothing_changed_writes_nothing(warehouse, variant):
    receive(variant, warehouse, 4)
    before = snapshot()

    movements = stock_set_levels(
        levels=[StockLevel(variant_id=variant.pk, location_id=warehouse.pk, quantity=4)]
    )

    assert movements == []
    assert snapshot() == before


def test_stock_set_levels_is_all_or_nothing_on_a_negative_count(warehouse, annex, variant):
    receive(variant, warehouse, 4)
    before = snapshot()

    with pytest.raises(InvalidStockOperation) as error:
        stock_set_levels(
            levels=[
                StockLevel(variant_id=variant.pk, location_id=warehouse.pk, quantity=9),
                StockLevel(variant_id=variant.pk, location_id=annex.pk, quantity=-1),
            ]
        )

    assert error.value.errors == {"quantity": ["A counted quantity cannot be negative."]}
    assert snapshot() == before


def test_stock_set_levels_refuses_other_reasons(warehouse, variant):
    with pytest.raises(InvalidStockOperation) as error:
        stock_set_levels(
            levels=[StockLevel(variant_id=variant.pk, location_id=warehouse.pk, quantity=1)],
            reason="adjustment",
        )

    assert error.value.errors == {"reason": ["Use count_correction or sync."]}
    assert not Stock.objects.exists()


# --- Reconciliation ---------------------------------------------------------------------------


def test_stock_reconcile_is_empty_when_the_books_balance(channel, warehouse, variant, capsys):
    receive(variant, warehouse, 5)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="order:1", kind="order")

    drift = stock_reconcile()
    call_command("reconcile_stock")

    assert drift == []
    assert capsys.readouterr().out == "The stock ledger reconciles: no drift.\n"


def test_stock_reconcile_finds_a_counter_changed_behind_the_ledgers_back(
    channel, warehouse, annex, variant, capsys
):
    receive(variant, warehouse, 5)
    receive(variant, annex, 5)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="order:1", kind="order")
    stock = stock_at(variant, warehouse)
    Stock.objects.filter(pk=stock.pk).update(on_hand=9)

    drift = stock_reconcile()
    with pytest.raises(CommandError) as error:
        call_command("reconcile_stock")

    assert drift == [
        Drift(
            stock_id=stock.pk,
            sku="INV-TEE-M",
            location="main-wh",
            on_hand=9,
            ledger_on_hand=5,
            allocated=2,
            ledger_allocated=2,
            order_reservations=2,
        )
    ]
    assert str(error.value) == "1 stock row(s) drift from the ledger."
    assert capsys.readouterr().out == (
        "INV-TEE-M @ main-wh: on hand 9 (ledger 5), allocated 2 (ledger 2, order reservations 2)\n"
    )

    # Put it back, or the ledger check after this test fails.
    Stock.objects.filter(pk=stock.pk).update(on_hand=5)
    call_command("reconcile_stock")


def test_stock_reconcile_finds_an_allocation_without_its_reservations(channel, warehouse, variant):
    receive(variant, warehouse, 5)
    stock_reserve(channel=channel, lines=[line(variant, 2)], reference="order:1", kind="order")
    Reservation.objects.filter(reference="order:1").update(quantity=1)

    drift = stock_reconcile()

    assert [(d.sku, d.allocated, d.ledger_allocated, d.order_reservations) for d in drift] == [
        ("INV-TEE-M", 2, 2, 1)
    ]
    Reservation.objects.filter(reference="order:1").update(quantity=2)
