"""Purchase orders: drafted at the supplier's costs and minimums, sent, received in parts."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from commerce.models import OutboxEvent
from inventory import events as inventory_events
from inventory.errors import InvalidStockOperation, InvalidTransition
from inventory.models import PurchaseOrder, PurchaseOrderLine, StockMovement
from inventory.services import (
    purchase_order_cancel,
    purchase_order_create,
    purchase_order_receive,
    purchase_order_send,
)
from tests.factories import ProductVariantFactory, StaffFactory
from tests.inventory_purchasing.conftest import (
    Level,
    SupplierFactory,
    SupplierItemFactory,
    level,
    movements,
    outbox,
    put,
)

PO_EVENTS = (inventory_events.PURCHASE_ORDER_SENT, inventory_events.PURCHASE_ORDER_RECEIVED)


@pytest.fixture
def supplier(db):
    return SupplierFactory(code="osaka-textiles", name="Osaka Textiles", currency="JPY")


@pytest.fixture
def catalogue_of_supplier(supplier, tee, mug):
    """The supplier sells tees in sixes at 800 and mugs one by one at 450."""
    SupplierItemFactory(supplier=supplier, variant=tee, cost="800", minimum_order_quantity=6)
    SupplierItemFactory(supplier=supplier, variant=mug, cost="450")


def lines_of(purchase_order: PurchaseOrder) -> list[tuple[str, int, int, Decimal]]:
    return list(
        purchase_order.lines.order_by("variant__sku").values_list(
            "variant__sku", "quantity", "received_quantity", "unit_cost"
        )
    )


@pytest.fixture
def sent_order(supplier, warehouse, tee, mug, catalogue_of_supplier) -> PurchaseOrder:
    """12 tees and 10 mugs on order for the warehouse."""
    purchase_order = purchase_order_create(
        supplier=supplier, location=warehouse, lines=[(tee.pk, 12, None), (mug.pk, 10, None)]
    )
    return purchase_order_send(purchase_order=purchase_order)


def test_purchase_order_create_takes_the_suppliers_costs_unless_given(
    supplier, warehouse, tee, mug, catalogue_of_supplier
):
    socks = ProductVariantFactory(sku="SOCKS-NAVY")

    purchase_order = purchase_order_create(
        supplier=supplier,
        location=warehouse,
        lines=[(tee.pk, 12, None), (mug.pk, 10, "420.5"), (socks.pk, 3, Decimal("150"))],
        expected_at=datetime.date(2025, 7, 1),
        note="Summer",
    )

    purchase_order.refresh_from_db()
    assert (
        purchase_order.state,
        purchase_order.supplier,
        purchase_order.location,
        purchase_order.currency,
        purchase_order.expected_at,
        purchase_order.note,
        purchase_order.sent_at,
    ) == (
        PurchaseOrder.State.DRAFT,
        supplier,
        warehouse,
        "JPY",
        datetime.date(2025, 7, 1),
        "Summer",
        None,
    )
    assert lines_of(purchase_order) == [
        ("MUG-WHITE", 10, 0, Decimal("420.500")),
        ("SOCKS-NAVY", 3, 0, Decimal("150.000")),
        ("TEE-RED-M", 12, 0, Decimal("800.000")),
    ]
    assert outbox(*PO_EVENTS) == []


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        (
            5,
            "Line 1: supplier osaka-textiles sells SKU TEE-RED-M in at least 6 units; 5 were ordered.",
        ),
        (6, None),
        (7, None),
    ],
)
def test_purchase_order_create_enforces_the_minimum_order_quantity(
    quantity, error, supplier, warehouse, tee, catalogue_of_supplier
):
    if error is None:
        purchase_order = purchase_order_create(
            supplier=supplier, location=warehouse, lines=[(tee.pk, quantity, None)]
        )

        assert lines_of(purchase_order) == [("TEE-RED-M", quantity, 0, Decimal("800.000"))]
        return

    with pytest.raises(InvalidStockOperation) as raised:
        purchase_order_create(
            supplier=supplier, location=warehouse, lines=[(tee.pk, quantity, None)]
        )

    assert raised.value.errors == {"lines": [error]}
    assert (PurchaseOrder.objects.count(), PurchaseOrderLine.objects.count()) == (0, 0)


def test_purchase_order_create_refuses_invalid_lines_and_writes_nothing(
    supplier, warehouse, tee, mug, catalogue_of_supplier
):
    socks = ProductVariantFactory(sku="SOCKS-NAVY")
    cap = ProductVariantFactory(sku="CAP-BLACK")

    with pytest.raises(InvalidStockOperation) as raised:
        purchase_order_create(
            supplier=supplier,
            location=warehouse,
            lines=[
                (tee.pk, 12, None),
                (socks.pk, 3, None),
                (mug.pk, 0, None),
                (cap.pk, 1, "-1"),
                (tee.pk, 6, None),
                (999999, 1, None),
            ],
        )

    assert (raised.value.code, raised.value.status) == ("invalid", 400)
    assert raised.value.errors == {
        "lines": [
            "Line 2: supplier osaka-textiles does not supply SKU SOCKS-NAVY; "
            "give a unit cost to order it anyway.",
            "Line 3: the quantity of SKU MUG-WHITE must be at least 1.",
            "Line 4: the unit cost of SKU CAP-BLACK must be a number of 0 or more.",
            "Line 5: SKU TEE-RED-M is already on line 1.",
            "Line 6: there is no variant 999999.",
        ]
    }
    assert (PurchaseOrder.objects.count(), PurchaseOrderLine.objects.count()) == (0, 0)


def test_purchase_order_create_refuses_an_inactive_supplier_or_no_lines(warehouse, tee):
    closed = SupplierFactory(code="closed-down", inactive=True)

    with pytest.raises(InvalidStockOperation) as raised:
        purchase_order_create(supplier=closed, location=warehouse, lines=[])

    assert raised.value.errors == {
        "supplier": ["Supplier closed-down is not active."],
        "lines": ["A purchase order needs at least one line."],
    }
    assert PurchaseOrder.objects.count() == 0


def test_purchase_order_send_stamps_and_publishes_the_lines(sent_order, warehouse):
    sent_order.refresh_from_db()
    assert sent_order.state == PurchaseOrder.State.SENT
    assert sent_order.sent_at is not None
    assert outbox(*PO_EVENTS) == [
        (
            "purchase_order.sent",
            str(sent_order.pk),
            {
                "purchase_order_id": sent_order.pk,
                "number": f"PO-{sent_order.pk:06d}",
                "supplier": "osaka-textiles",
                "location": "tokyo-dc",
                "lines": [
                    {"sku": "TEE-RED-M", "quantity": 12},
                    {"sku": "MUG-WHITE", "quantity": 10},
                ],
            },
        )
    ]
    assert movements() == []


def test_purchase_order_receive_in_parts_books_receipts_until_complete(
    sent_order, warehouse, tee, mug
):
    put(tee, warehouse, 2)
    reference = f"PO-{sent_order.pk}"

    partly = purchase_order_receive(purchase_order=sent_order, received={tee.pk: 5})

    assert partly.state == PurchaseOrder.State.PARTIALLY_RECEIVED
    assert PurchaseOrder.objects.get().state == PurchaseOrder.State.PARTIALLY_RECEIVED
    assert lines_of(sent_order) == [
        ("MUG-WHITE", 10, 0, Decimal("450.000")),
        ("TEE-RED-M", 12, 5, Decimal("800.000")),
    ]
    assert (level(tee, warehouse), level(mug, warehouse)) == (Level(7, 0), None)
    assert movements(reference=reference) == [("receipt", "TEE-RED-M", "tokyo-dc", 5, 0)]

    complete = purchase_order_receive(purchase_order=sent_order, received={tee.pk: 7, mug.pk: 10})

    assert complete.state == PurchaseOrder.State.RECEIVED
    assert PurchaseOrder.objects.get().state == PurchaseOrder.State.RECEIVED
    assert lines_of(sent_order) == [
        ("MUG-WHITE", 10, 10, Decimal("450.000")),
        ("TEE-RED-M", 12, 12, Decimal("800.000")),
    ]
    assert (level(tee, warehouse), level(mug, warehouse)) == (Level(14, 0), Level(10, 0))
    assert movements(reference=reference) == [
        ("receipt", "TEE-RED-M", "tokyo-dc", 5, 0),
        ("receipt", "TEE-RED-M", "tokyo-dc", 7, 0),
        ("receipt", "MUG-WHITE", "tokyo-dc", 10, 0),
    ]
    number = f"PO-{sent_order.pk:06d}"
    assert outbox(inventory_events.PURCHASE_ORDER_RECEIVED) == [
        (
            "purchase_order.received",
            str(sent_order.pk),
            {
                "purchase_order_id": sent_order.pk,
                "number": number,
                "state": "partially_received",
                "location": "tokyo-dc",
                "received": [{"sku": "TEE-RED-M", "quantity": 5}],
            },
        ),
        (
            "purchase_order.received",
            str(sent_order.pk),
            {
                "purchase_order_id": sent_order.pk,
                "number": number,
                "state": "received",
                "location": "tokyo-dc",
                "received": [
                    {"sku": "TEE-RED-M", "quantity": 7},
                    {"sku": "MUG-WHITE", "quantity": 10},
                ],
            },
        ),
    ]


@pytest.mark.parametrize(
    ("received", "error"),
    [
        ("over", "SKU TEE-RED-M: only 7 of 12 are still to be received; 8 were received."),
        ("negative", "SKU MUG-WHITE: the quantity received must be 0 or more; got -1."),
        ("stranger", "Variant 999999 is not on purchase order PO-{number:06d}."),
        ("nothing", "Nothing to receive."),
    ],
)
def test_purchase_order_receive_refuses_wrong_quantities_and_changes_nothing(
    received, error, sent_order, warehouse, tee, mug
):
    purchase_order_receive(purchase_order=sent_order, received={tee.pk: 5})
    ledger_before = movements()
    events_before = OutboxEvent.objects.count()
    quantities = {
        # 3 mugs are fine on their own; with the bad line, none of them are booked either.
        "over": {mug.pk: 3, tee.pk: 8},
        "negative": {tee.pk: 1, mug.pk: -1},
        "stranger": {tee.pk: 1, 999999: 1},
        "nothing": {tee.pk: 0},
    }[received]

    with pytest.raises(InvalidStockOperation) as raised:
        purchase_order_receive(purchase_order=sent_order, received=quantities)

    assert raised.value.errors == {"received": [error.format(number=sent_order.pk)]}
    assert PurchaseOrder.objects.get().state == PurchaseOrder.State.PARTIALLY_RECEIVED
    assert lines_of(sent_order) == [
        ("MUG-WHITE", 10, 0, Decimal("450.000")),
        ("TEE-RED-M", 12, 5, Decimal("800.000")),
    ]
    assert (level(tee, warehouse), level(mug, warehouse)) == (Level(5, 0), None)
    assert movements() == ledger_before
    assert OutboxEvent.objects.count() == events_before


@pytest.mark.parametrize(
    ("state", "action", "allowed"),
    [
        ("draft", "send", True),
        ("draft", "receive", False),
        ("draft", "cancel", True),
        ("sent", "send", False),
        ("sent", "cancel", True),
        ("partially_received", "cancel", False),
        ("partially_received", "send", False),
        ("received", "receive", False),
        ("received", "cancel", False),
        ("cancelled", "send", False),
        ("cancelled", "receive", False),
    ],
)
def test_purchase_order_transitions(
    state, action, allowed, supplier, warehouse, tee, catalogue_of_supplier
):
    purchase_order = purchase_order_create(
        supplier=supplier, location=warehouse, lines=[(tee.pk, 12, None)]
    )
    if state != "draft" and state != "cancelled":
        purchase_order_send(purchase_order=purchase_order)
    if state == "partially_received":
        purchase_order_receive(purchase_order=purchase_order, received={tee.pk: 6})
    if state == "received":
        purchase_order_receive(purchase_order=purchase_order, received={tee.pk: 12})
    if state == "cancelled":
        purchase_order_cancel(purchase_order=purchase_order)
    ledger_before = movements()
    call = {
        "send": lambda: purchase_order_send(purchase_order=purchase_order),
        "receive": lambda: purchase_order_receive(
            purchase_order=purchase_order, received={tee.pk: 1}
        ),
        "cancel": lambda: purchase_order_cancel(purchase_order=purchase_order),
    }[action]

    if allowed:
        result = call()

        assert result.state == {"send": "sent", "cancel": "cancelled"}[action]
        assert movements() == ledger_before
        return

    with pytest.raises(InvalidTransition) as raised:
        call()

    label = dict(PurchaseOrder.State.choices)[state]
    verb = {"send": "sent", "receive": "received", "cancel": "cancelled"}[action]
    assert (raised.value.code, raised.value.status) == ("invalid_transition", 409)
    assert str(raised.value) == (
        f"Purchase order PO-{purchase_order.pk:06d} cannot be {verb}: its state is “{label}”."
    )
    assert PurchaseOrder.objects.get().state == state
    assert movements() == ledger_before


def test_purchase_order_receipts_are_credited_with_the_actor(sent_order, tee):
    clerk = StaffFactory(username="clerk")

    purchase_order_receive(purchase_order=sent_order, received={tee.pk: 6}, actor=clerk)

    assert list(
        StockMovement.objects.filter(reason=StockMovement.Reason.RECEIPT).values_list(
            "actor__username", "reference"
        )
    ) == [("clerk", f"PO-{sent_order.pk}")]
