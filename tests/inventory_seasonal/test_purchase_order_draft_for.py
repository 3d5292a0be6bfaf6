"""purchase_order_draft_for: one open line per supplier and variant, however often it is asked
(by an automation rule on every stock.low, a retried task, two workers at once)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commerce.models import OutboxEvent
from inventory.errors import InvalidStockOperation, NoSupplier
from inventory.models import PurchaseOrder, PurchaseOrderLine
from inventory.services import (
    purchase_order_cancel,
    purchase_order_create,
    purchase_order_draft_for,
    purchase_order_receive,
    purchase_order_send,
    replenishment_suggestions,
)
from tests.factories import ProductVariantFactory
from tests.inventory.conftest import StockLocationFactory, run_concurrently
from tests.inventory_purchasing.conftest import SupplierFactory, SupplierItemFactory, put, sell


@pytest.fixture
def supplier(db):
    """Ten days from order to delivery."""
    return SupplierFactory(code="osaka-textiles", lead_time_days=10)


@pytest.fixture
def tee_item(supplier, tee):
    """Tees come in sixes at 800."""
    return SupplierItemFactory(supplier=supplier, variant=tee, cost="800", minimum_order_quantity=6)


@pytest.fixture
def mug_item(supplier, mug):
    return SupplierItemFactory(supplier=supplier, variant=mug, cost="450")


def lines() -> list[tuple[int, str, str, int, Decimal]]:
    """Every purchase order line as (order id, supplier, SKU, quantity, unit cost)."""
    return list(
        PurchaseOrderLine.objects.order_by("purchase_order_id", "variant__sku").values_list(
            "purchase_order_id",
            "purchase_order__supplier__code",
            "variant__sku",
            "quantity",
            "unit_cost",
        )
    )


def test_drafting_twice_makes_one_order_with_one_line(warehouse, tee, tee_item):
    first, created = purchase_order_draft_for(variant=tee, reference="rule:7")
    again, created_again = purchase_order_draft_for(variant=tee, quantity=60)

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert lines() == [(first.pk, "osaka-textiles", "TEE-RED-M", 6, Decimal("800.000"))]
    order = PurchaseOrder.objects.get()
    assert (order.state, order.location_id, order.note, order.sent_at) == (
        PurchaseOrder.State.DRAFT,
        warehouse.pk,
        "rule:7",
        None,
    )
    # Nothing goes to the supplier: no purchase_order.sent, no event at all for the order.
    assert not OutboxEvent.objects.filter(subject_type="purchase_order").exists()


def test_many_calls_one_after_another_still_make_one_line(warehouse, tee, tee_item):
    results = [purchase_order_draft_for(variant=tee) for _ in range(5)]

    assert [created for _, created in results] == [True, False, False, False, False]
    assert len({order.pk for order, _ in results}) == 1
    assert PurchaseOrder.objects.count() == 1
    assert PurchaseOrderLine.objects.count() == 1


def test_another_variant_of_the_supplier_joins_the_open_draft(
    warehouse, tee, mug, tee_item, mug_item
):
    tee_order, _ = purchase_order_draft_for(variant=tee)

    mug_order, created = purchase_order_draft_for(variant=mug, quantity=3)

    assert created is True
    assert mug_order.pk == tee_order.pk
    assert lines() == [
        (tee_order.pk, "osaka-textiles", "MUG-WHITE", 3, Decimal("450.000")),
        (tee_order.pk, "osaka-textiles", "TEE-RED-M", 6, Decimal("800.000")),
    ]


def test_a_sent_order_with_the_variant_counts_and_is_not_changed(
    warehouse, tee, mug, tee_item, mug_item, supplier
):
    sent = purchase_order_send(
        purchase_order=purchase_order_create(
            supplier=supplier, location=warehouse, lines=[(tee.pk, 12, None)]
        )
    )

    order, created = purchase_order_draft_for(variant=tee)

    assert (order.pk, created) == (sent.pk, False)
    assert lines() == [(sent.pk, "osaka-textiles", "TEE-RED-M", 12, Decimal("800.000"))]

    # A sent order takes no more lines: the mug goes on a new draft.
    mug_order, created = purchase_order_draft_for(variant=mug)

    assert created is True
    assert mug_order.pk != sent.pk
    assert PurchaseOrder.objects.get(pk=mug_order.pk).state == PurchaseOrder.State.DRAFT


def test_a_partly_received_order_counts_while_units_of_the_variant_are_still_to_come(
    warehouse, tee, mug, tee_item, mug_item, supplier
):
    order = purchase_order_send(
        purchase_order=purchase_order_create(
            supplier=supplier, location=warehouse, lines=[(tee.pk, 12, None), (mug.pk, 5, None)]
        )
    )
    purchase_order_receive(purchase_order=order, received={tee.pk: 6, mug.pk: 5})

    assert purchase_order_draft_for(variant=tee) == (order, False)  # 6 tees still to come

    # Every mug has arrived: the order is still open, but no mug is on its way.
    mug_order, created = purchase_order_draft_for(variant=mug)

    assert created is True
    assert mug_order.pk != order.pk
    assert PurchaseOrder.objects.get(pk=order.pk).state == PurchaseOrder.State.PARTIALLY_RECEIVED


@pytest.mark.parametrize("closed", ["cancelled", "received"])
def test_a_closed_order_does_not_count(warehouse, tee, tee_item, supplier, closed):
    order = purchase_order_create(supplier=supplier, location=warehouse, lines=[(tee.pk, 6, None)])
    if closed == "cancelled":
        purchase_order_cancel(purchase_order=order)
    else:
        purchase_order_receive(
            purchase_order=purchase_order_send(purchase_order=order), received={tee.pk: 6}
        )

    drafted, created = purchase_order_draft_for(variant=tee)

    assert created is True
    assert drafted.pk != order.pk
    assert PurchaseOrder.objects.filter(state=PurchaseOrder.State.DRAFT).get().pk == drafted.pk


def test_the_preferred_supplier_is_used_then_the_cheapest(warehouse, tee):
    cheap = SupplierFactory(code="cheap")
    preferred = SupplierFactory(code="preferred")
    SupplierItemFactory(supplier=cheap, variant=tee, cost="500", is_preferred=False)
    SupplierItemFactory(supplier=preferred, variant=tee, cost="900", is_preferred=True)
    mug = ProductVariantFactory(sku="MUG-WHITE")
    SupplierItemFactory(supplier=cheap, variant=mug, cost="500", is_preferred=False)
    SupplierItemFactory(
        supplier=SupplierFactory(code="dear"), variant=mug, cost="700", is_preferred=False
    )
    SupplierItemFactory(
        supplier=SupplierFactory(code="gone", is_active=False), variant=mug, cost="1"
    )

    purchase_order_draft_for(variant=tee)
    purchase_order_draft_for(variant=mug)

    assert [(supplier, sku, cost) for _, supplier, sku, _, cost in lines()] == [
        ("preferred", "TEE-RED-M", Decimal("900.000")),
        ("cheap", "MUG-WHITE", Decimal("500.000")),
    ]


def test_a_new_draft_goes_to_the_first_warehouse_not_a_store_or_drop_shipper(store, tee, tee_item):
    StockLocationFactory(code="supplier-direct", kind="dropship", routing_priority=1)
    second = StockLocationFactory(code="osaka-dc", routing_priority=30)
    first = StockLocationFactory(code="chiba-dc", routing_priority=20)

    order, _ = purchase_order_draft_for(variant=tee)

    assert order.location_id == first.pk != second.pk


def test_the_default_quantity_is_the_replenishment_suggestion_in_whole_cases(
    channel, warehouse, tee, tee_item
):
    # 16 shipped in the window: a reorder point of ceil(16 * 10 / 28) = 6 with 4 left, so
    # replenishment asks for 2 * 6 - 4 = 8, in sixes 12.
    put(tee, warehouse, 20)
    sell(channel, tee, warehouse, 16, reference="order:1")
    assert [(s.location, s.quantity) for s in replenishment_suggestions()] == [("tokyo-dc", 12)]

    order, created = purchase_order_draft_for(variant=tee)

    assert created is True
    assert lines() == [(order.pk, "osaka-textiles", "TEE-RED-M", 12, Decimal("800.000"))]


def test_without_demand_the_default_quantity_is_the_minimum(warehouse, tee, tee_item):
    assert replenishment_suggestions() == []

    order, created = purchase_order_draft_for(variant=tee)

    assert created is True
    assert lines() == [(order.pk, "osaka-textiles", "TEE-RED-M", 6, Decimal("800.000"))]


@pytest.mark.parametrize("quantity", [0, 5, -6, "12"])
def test_a_quantity_below_the_minimum_is_refused_under_quantity(warehouse, tee, tee_item, quantity):
    with pytest.raises(InvalidStockOperation) as refused:
        purchase_order_draft_for(variant=tee, quantity=quantity)

    assert refused.value.errors == {
        "quantity": [
            "Supplier osaka-textiles sells SKU TEE-RED-M in at least 6 units; "
            f"{quantity} were asked for."
        ]
    }
    assert PurchaseOrder.objects.count() == 0


@pytest.mark.parametrize("inactive_supplier", [False, True])
def test_a_variant_without_an_active_supplier_is_refused_clearly(warehouse, tee, inactive_supplier):
    if inactive_supplier:
        SupplierItemFactory(supplier=SupplierFactory(code="gone", is_active=False), variant=tee)

    with pytest.raises(NoSupplier) as refused:
        purchase_order_draft_for(variant=tee)

    error = refused.value
    assert (error.code, error.status, error.extra) == ("no_supplier", 409, {"sku": "TEE-RED-M"})
    assert str(error.detail) == (
        "No active supplier sells SKU TEE-RED-M, so no purchase order can be drafted for it. "
        "Add it to a supplier's items first."
    )
    assert PurchaseOrder.objects.count() == 0


def test_no_location_to_deliver_to_is_refused_under_location(tee, tee_item):
    StockLocationFactory(code="supplier-direct", kind="dropship")

    with pytest.raises(InvalidStockOperation) as refused:
        purchase_order_draft_for(variant=tee)

    assert refused.value.errors == {
        "location": ["There is no active warehouse or store to deliver the order to."]
    }
    assert PurchaseOrder.objects.count() == 0


# --- Under concurrency (real threads, PostgreSQL) -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_drafts_for_one_variant_make_one_line(warehouse, tee, tee_item):
    outcomes = run_concurrently([lambda: purchase_order_draft_for(variant=tee)] * 4)

    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert sorted(created for _, created in outcomes) == [False, False, False, True]
    assert len({order.pk for order, _ in outcomes}) == 1
    assert PurchaseOrder.objects.count() == 1
    assert PurchaseOrderLine.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_drafts_for_two_variants_share_one_draft(
    warehouse, tee, mug, tee_item, mug_item
):
    outcomes = run_concurrently(
        [
            lambda: purchase_order_draft_for(variant=tee),
            lambda: purchase_order_draft_for(variant=mug),
        ]
    )

    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert [created for _, created in outcomes] == [True, True]
    assert PurchaseOrder.objects.count() == 1
    assert sorted(sku for _, _, sku, _, _ in lines()) == ["MUG-WHITE", "TEE-RED-M"]
