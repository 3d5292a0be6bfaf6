"""Transfers between locations: drafted, dispatched (stock leaves), received (stock arrives)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from commerce.models import OutboxEvent
from inventory import events as inventory_events
from inventory.errors import InsufficientStock, InvalidStockOperation, InvalidTransition
from inventory.models import Reservation, Stock, StockMovement, Transfer, TransferLine
from inventory.services import (
    ReserveLine,
    stock_reserve,
    transfer_cancel,
    transfer_create,
    transfer_dispatch,
    transfer_receive,
)
from tests.inventory_purchasing.conftest import Level, level, movements, outbox, put, sell

TRANSFER_EVENTS = (inventory_events.TRANSFER_DISPATCHED, inventory_events.TRANSFER_RECEIVED)


def test_transfer_create_drafts_the_lines_and_moves_nothing(warehouse, store, tee, mug):
    put(tee, warehouse, 10)

    transfer = transfer_create(
        source=warehouse, destination=store, lines=[(tee.pk, 4), (mug.pk, 2)], note="Weekend"
    )

    transfer.refresh_from_db()
    assert (transfer.state, transfer.source, transfer.destination, transfer.note) == (
        Transfer.State.DRAFT,
        warehouse,
        store,
        "Weekend",
    )
    assert (transfer.dispatched_at, transfer.received_at) == (None, None)
    assert sorted(transfer.lines.values_list("variant__sku", "quantity")) == [
        ("MUG-WHITE", 2),
        ("TEE-RED-M", 4),
    ]
    assert level(tee, warehouse) == Level(10, 0)
    assert movements(reason__startswith="transfer") == []


@pytest.mark.parametrize(
    ("case", "errors"),
    [
        ("same_place", {"destination": ["The destination must differ from the source."]}),
        ("no_lines", {"lines": ["A transfer needs at least one line."]}),
        (
            "bad_lines",
            {
                "lines": [
                    "Line 1: the quantity of SKU TEE-RED-M must be at least 1.",
                    "Line 2: there is no variant 999999.",
                    "Line 4: SKU MUG-WHITE is already on line 3.",
                ]
            },
        ),
    ],
)
def test_transfer_create_refuses_invalid_input_naming_the_field(
    case, errors, warehouse, store, tee, mug
):
    arguments = {
        "same_place": {"destination": warehouse, "lines": [(tee.pk, 1)]},
        "no_lines": {"destination": store, "lines": []},
        "bad_lines": {
            "destination": store,
            "lines": [(tee.pk, 0), (999999, 1), (mug.pk, 1), (mug.pk, 2)],
        },
    }[case]

    with pytest.raises(InvalidStockOperation) as raised:
        transfer_create(source=warehouse, **arguments)

    assert raised.value.errors == errors
    assert (raised.value.code, raised.value.status) == ("invalid", 400)
    assert (Transfer.objects.count(), TransferLine.objects.count()) == (0, 0)


def test_transfer_lifecycle_takes_stock_out_on_dispatch_and_in_on_receipt(
    warehouse, store, tee, mug
):
    put(tee, warehouse, 10)
    put(mug, warehouse, 5)
    put(tee, store, 1)
    transfer = transfer_create(
        source=warehouse, destination=store, lines=[(tee.pk, 4), (mug.pk, 5)]
    )
    reference = f"T{transfer.pk}"

    transfer = transfer_dispatch(transfer=transfer)

    # In transit: gone from the source, not yet at the destination.
    assert transfer.state == Transfer.State.IN_TRANSIT
    assert transfer.dispatched_at is not None
    assert transfer.received_at is None
    assert (level(tee, warehouse), level(mug, warehouse)) == (Level(6, 0), Level(0, 0))
    assert (level(tee, store), level(mug, store)) == (Level(1, 0), None)
    assert movements(reference=reference) == [
        ("transfer_out", "TEE-RED-M", "tokyo-dc", -4, 0),
        ("transfer_out", "MUG-WHITE", "tokyo-dc", -5, 0),
    ]
    payload = {
        "transfer_id": transfer.pk,
        "source": "tokyo-dc",
        "destination": "shibuya",
        "lines": [{"sku": "TEE-RED-M", "quantity": 4}, {"sku": "MUG-WHITE", "quantity": 5}],
    }
    assert outbox(*TRANSFER_EVENTS) == [("transfer.dispatched", str(transfer.pk), payload)]

    transfer = transfer_receive(transfer=transfer)

    transfer.refresh_from_db()
    assert transfer.state == Transfer.State.RECEIVED
    assert transfer.received_at is not None
    assert (level(tee, warehouse), level(mug, warehouse)) == (Level(6, 0), Level(0, 0))
    assert (level(tee, store), level(mug, store)) == (Level(5, 0), Level(5, 0))
    assert movements(reference=reference) == [
        ("transfer_out", "TEE-RED-M", "tokyo-dc", -4, 0),
        ("transfer_out", "MUG-WHITE", "tokyo-dc", -5, 0),
        ("transfer_in", "TEE-RED-M", "shibuya", 4, 0),
        ("transfer_in", "MUG-WHITE", "shibuya", 5, 0),
    ]
    assert outbox(*TRANSFER_EVENTS) == [
        ("transfer.dispatched", str(transfer.pk), payload),
        ("transfer.received", str(transfer.pk), payload),
    ]


def test_transfer_dispatch_twice_is_refused_and_moves_stock_once(warehouse, store, tee):
    put(tee, warehouse, 10)
    transfer = transfer_create(source=warehouse, destination=store, lines=[(tee.pk, 4)])
    transfer_dispatch(transfer=transfer)

    with pytest.raises(InvalidTransition) as raised:
        transfer_dispatch(transfer=transfer)

    assert (raised.value.code, raised.value.status) == ("invalid_transition", 409)
    assert str(raised.value) == (
        f"Transfer T{transfer.pk} cannot be dispatched: its state is “In transit”."
    )
    assert raised.value.extra == {"field": "state", "state": "in_transit"}
    assert level(tee, warehouse) == Level(6, 0)
    assert len(movements(reason=StockMovement.Reason.TRANSFER_OUT)) == 1
    assert len(outbox(inventory_events.TRANSFER_DISPATCHED)) == 1


def test_transfer_dispatch_refuses_more_than_is_available_and_changes_nothing(
    channel, warehouse, store, tee, mug
):
    # 10 on hand: 3 allocated to an order, 2 held by a cart, 2 safety stock -> 3 can leave.
    put(tee, warehouse, 10)
    put(mug, warehouse, 10)
    sell(channel, tee, warehouse, 3, reference="order:1001", ship=False)
    stock_reserve(
        channel=channel,
        lines=[ReserveLine(variant_id=tee.pk, quantity=2)],
        reference="cart:abc",
        ttl=timedelta(minutes=15),
        preferred_location_id=warehouse.pk,
    )
    Stock.objects.filter(variant=tee, location=warehouse).update(safety_stock=2)
    transfer = transfer_create(
        source=warehouse, destination=store, lines=[(mug.pk, 1), (tee.pk, 4)]
    )
    ledger_before = StockMovement.objects.count()
    events_before = OutboxEvent.objects.count()

    with pytest.raises(InsufficientStock) as raised:
        transfer_dispatch(transfer=transfer)

    assert (raised.value.code, raised.value.status) == ("insufficient_stock", 409)
    assert str(raised.value) == (
        "Only 3 of SKU TEE-RED-M are available at tokyo-dc; 4 were requested."
    )
    assert raised.value.extra == {
        "sku": "TEE-RED-M",
        "variant_id": tee.pk,
        "location": "tokyo-dc",
        "requested": 4,
        "available": 3,
    }
    transfer.refresh_from_db()
    assert (transfer.state, transfer.dispatched_at) == (Transfer.State.DRAFT, None)
    assert (level(tee, warehouse), level(mug, warehouse)) == (Level(10, 3), Level(10, 0))
    # (the reservations created the store's tee row at zero; the transfer added nothing)
    assert (level(tee, store), level(mug, store)) == (Level(0, 0), None)
    assert StockMovement.objects.count() == ledger_before
    assert OutboxEvent.objects.count() == events_before


def test_transfer_dispatch_refuses_a_variant_never_stocked_at_the_source(warehouse, store, tee):
    transfer = transfer_create(source=warehouse, destination=store, lines=[(tee.pk, 1)])

    with pytest.raises(InsufficientStock) as raised:
        transfer_dispatch(transfer=transfer)

    assert raised.value.extra["available"] == 0
    assert level(tee, warehouse) is None
    assert Transfer.objects.get().state == Transfer.State.DRAFT


def test_transfer_counts_only_unexpired_cart_holds(channel, warehouse, store, tee):
    put(tee, warehouse, 5)
    stock_reserve(
        channel=channel,
        lines=[ReserveLine(variant_id=tee.pk, quantity=2)],
        reference="cart:old",
        ttl=timedelta(minutes=15),
        preferred_location_id=warehouse.pk,
    )
    Reservation.objects.filter(reference="cart:old").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    transfer = transfer_create(source=warehouse, destination=store, lines=[(tee.pk, 5)])

    transfer_dispatch(transfer=transfer)

    assert level(tee, warehouse) == Level(0, 0)


@pytest.mark.parametrize(
    ("action", "state", "message"),
    [
        ("receive", "draft", "cannot be received: its state is “Draft”."),
        ("cancel", "in_transit", "cannot be cancelled: its state is “In transit”."),
        ("dispatch", "cancelled", "cannot be dispatched: its state is “Cancelled”."),
        ("receive", "received", "cannot be received: its state is “Received”."),
        ("cancel", "received", "cannot be cancelled: its state is “Received”."),
    ],
)
def test_transfer_illegal_transitions_are_refused_and_change_nothing(
    action, state, message, warehouse, store, tee
):
    put(tee, warehouse, 10)
    transfer = transfer_create(source=warehouse, destination=store, lines=[(tee.pk, 4)])
    if state == "cancelled":
        transfer_cancel(transfer=transfer)
    if state in ("in_transit", "received"):
        transfer_dispatch(transfer=transfer)
    if state == "received":
        transfer_receive(transfer=transfer)
    ledger_before = movements()
    service = {
        "dispatch": transfer_dispatch,
        "receive": transfer_receive,
        "cancel": transfer_cancel,
    }

    with pytest.raises(InvalidTransition) as raised:
        service[action](transfer=transfer)

    assert str(raised.value) == f"Transfer T{transfer.pk} {message}"
    assert Transfer.objects.get().state == state
    assert movements() == ledger_before


def test_transfer_cancel_a_draft(warehouse, store, tee):
    put(tee, warehouse, 10)
    transfer = transfer_create(source=warehouse, destination=store, lines=[(tee.pk, 4)])

    transfer = transfer_cancel(transfer=transfer)

    assert Transfer.objects.get().state == transfer.state == Transfer.State.CANCELLED
    assert level(tee, warehouse) == Level(10, 0)
    assert movements(reason__startswith="transfer") == []
    assert outbox(*TRANSFER_EVENTS) == []


def _race(service, transfer_id: int) -> list[object]:
    """Run `service` on one transfer from two threads at once; return what each got."""
    barrier = threading.Barrier(2)
    results: list[object] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(service(transfer=Transfer(pk=transfer_id)))
        except Exception as error:  # collected for the asserts
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_transfer_dispatch_and_receive_in_parallel_apply_once(warehouse, store, tee):
    put(tee, warehouse, 10)
    transfer = transfer_create(source=warehouse, destination=store, lines=[(tee.pk, 4)])

    dispatched = _race(transfer_dispatch, transfer.pk)
    received = _race(transfer_receive, transfer.pk)

    for results in (dispatched, received):
        assert sorted(type(result).__name__ for result in results) == [
            "InvalidTransition",
            "Transfer",
        ]
    assert Transfer.objects.get().state == Transfer.State.RECEIVED
    assert (level(tee, warehouse), level(tee, store)) == (Level(6, 0), Level(4, 0))
    assert movements(reference=f"T{transfer.pk}") == [
        ("transfer_out", "TEE-RED-M", "tokyo-dc", -4, 0),
        ("transfer_in", "TEE-RED-M", "shibuya", 4, 0),
    ]
    assert [event[0] for event in outbox(*TRANSFER_EVENTS)] == [
        "transfer.dispatched",
        "transfer.received",
    ]
