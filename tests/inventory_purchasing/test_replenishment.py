"""Replenishment: demand over a window, lead time and safety stock decide what to reorder."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.errors import InvalidStockOperation
from inventory.models import PurchaseOrder, Stock, StockMovement
from inventory.services import (
    ReserveLine,
    Suggestion,
    purchase_order_create,
    purchase_order_receive,
    purchase_order_send,
    replenishment_create_purchase_orders,
    replenishment_suggestions,
    stock_release,
    stock_reserve,
    stock_ship,
    transfer_create,
    transfer_dispatch,
)
from tests.factories import ProductVariantFactory
from tests.inventory_purchasing.conftest import (
    StockLocationFactory,
    SupplierFactory,
    SupplierItemFactory,
    put,
    sell,
)


@pytest.fixture
def supplier(db):
    """Ten days from order to delivery."""
    return SupplierFactory(code="osaka-textiles", lead_time_days=10)


@pytest.fixture
def busy_tee(channel, warehouse, store, tee, supplier):
    """Tees at the Tokyo DC, sold in cases of 12 at 800 by a supplier ten days away.

    | what                                             | on hand | allocated | demand (28 days) |
    | received                                         | 60      |           |                  |
    | order:old, shipped 40 days ago                   | -30     |           | 0 (before window)|
    | order:a, 15 allocated, 10 of them shipped        | -10     | 5         | 10 + 5           |
    | order:b, 6 allocated, not shipped                |         | 6         | 6                |
    | order:c, 5 allocated then cancelled              |         |           | 0                |
    | transfer of 3 to Shibuya, in transit             | -3      |           | 0 (not a sale)   |
    | total                                            | 17      | 11        | 21               |

    Available 17 - 11 = 6. Daily demand 21 / 28 = 0.75; reorder point ceil(21 * 10 / 28) = 8,
    plus 4 safety stock = 12. 6 ≤ 12: reorder 2 * 12 - 6 = 18, in cases of 12 -> 24.
    """
    SupplierItemFactory(supplier=supplier, variant=tee, cost="800", minimum_order_quantity=12)
    put(tee, warehouse, 60)
    Stock.objects.filter(variant=tee, location=warehouse).update(safety_stock=4)
    sell(channel, tee, warehouse, 30, reference="order:old")
    StockMovement.objects.filter(reference="order:old").update(
        created_at=timezone.now() - timedelta(days=40)
    )
    sell(channel, tee, warehouse, 15, reference="order:a", ship=False)
    stock_ship(reference="order:a", quantities={tee.pk: 10})
    sell(channel, tee, warehouse, 6, reference="order:b", ship=False)
    sell(channel, tee, warehouse, 5, reference="order:c", ship=False)
    stock_release(reference="order:c")
    transfer_dispatch(
        transfer=transfer_create(source=warehouse, destination=store, lines=[(tee.pk, 3)])
    )
    return tee


def tee_suggestion(tee, **changes) -> Suggestion:
    values = {
        "variant_id": tee.pk,
        "sku": "TEE-RED-M",
        "location": "tokyo-dc",
        "supplier": "osaka-textiles",
        "available": 6,
        "on_order": 0,
        "daily_demand": Decimal("0.750"),
        "reorder_point": 12,
        "quantity": 24,
        "unit_cost": Decimal("800.000"),
    }
    return Suggestion(**{**values, **changes})


def test_replenishment_suggests_from_demand_lead_time_and_safety_stock(busy_tee, store):
    suggestions = replenishment_suggestions(window_days=28)

    assert suggestions == [tee_suggestion(busy_tee)]
    assert replenishment_suggestions(location=store) == []


def test_replenishment_window_defaults_to_the_setting(settings, busy_tee):
    settings.INVENTORY_DEMAND_WINDOW_DAYS = 7

    # 21 units in 7 days: 3 a day; ceil(21 * 10 / 7) = 30, + 4 = 34; reorder 68 - 6 = 62 -> 72.
    assert replenishment_suggestions() == [
        tee_suggestion(busy_tee, daily_demand=Decimal("3.000"), reorder_point=34, quantity=72)
    ]


def test_replenishment_without_supplier_or_demand(channel, warehouse, mug):
    # No supplier: the default 7 days and cases of 1. 8 shipped: 8 / 28 = 0.286 a day;
    # ceil(8 * 7 / 28) = 2; available 2 ≤ 2: reorder 4 - 2 = 2.
    put(mug, warehouse, 10)
    sell(channel, mug, warehouse, 8, reference="order:m")
    # No demand and no safety stock: nothing is suggested, even at zero.
    ProductVariantFactory(sku="DEAD-STOCK")
    Stock.objects.create(variant=ProductVariantFactory(sku="NEVER-SOLD"), location=warehouse)

    assert replenishment_suggestions() == [
        Suggestion(
            variant_id=mug.pk,
            sku="MUG-WHITE",
            location="tokyo-dc",
            supplier=None,
            available=2,
            on_order=0,
            daily_demand=Decimal("0.286"),
            reorder_point=2,
            quantity=2,
            unit_cost=None,
        )
    ]


def test_replenishment_counts_open_purchase_orders_as_coming(busy_tee, supplier, warehouse):
    draft = purchase_order_create(
        supplier=supplier, location=warehouse, lines=[(busy_tee.pk, 12, None)]
    )

    # A draft is not on order yet.
    assert replenishment_suggestions() == [tee_suggestion(busy_tee)]

    purchase_order_send(purchase_order=draft)

    # 6 available + 12 on order = 18 > 12.
    assert replenishment_suggestions() == []

    purchase_order_receive(purchase_order=draft, received={busy_tee.pk: 6})

    # 12 available + 6 still open = 18 > 12.
    assert replenishment_suggestions() == []


def test_replenishment_takes_the_preferred_supplier(busy_tee, supplier):
    cheaper = SupplierFactory(code="budget-tees", lead_time_days=30)
    SupplierItemFactory(supplier=cheaper, variant=busy_tee, cost="500", is_preferred=False)

    assert replenishment_suggestions() == [tee_suggestion(busy_tee)]

    supplier.is_active = False
    supplier.save()

    # Only the cheaper one left: 30 days; ceil(21 * 30 / 28) = 23, + 4 = 27; 54 - 6 = 48.
    assert replenishment_suggestions() == [
        tee_suggestion(
            busy_tee,
            supplier="budget-tees",
            reorder_point=27,
            quantity=48,
            unit_cost=Decimal("500.000"),
        )
    ]


def test_replenishment_ignores_drop_ship_and_inactive_locations(channel, mug):
    for location in (
        StockLocationFactory(code="partner", dropship=True),
        StockLocationFactory(code="closed", inactive=True),
    ):
        Stock.objects.create(variant=mug, location=location, safety_stock=5)

    assert replenishment_suggestions() == []


def test_replenishment_suggestions_take_a_fixed_number_of_queries(channel, warehouse, supplier):
    def needy(sku: str) -> None:
        variant = ProductVariantFactory(sku=sku)
        SupplierItemFactory(supplier=supplier, variant=variant)
        put(variant, warehouse, 3)
        sell(channel, variant, warehouse, 2, reference=f"order:{sku}")

    needy("A-1")
    with CaptureQueriesContext(connection) as one:
        assert len(replenishment_suggestions()) == 1
    for n in range(2, 6):
        needy(f"A-{n}")
    with CaptureQueriesContext(connection) as five:
        assert len(replenishment_suggestions()) == 5

    assert len(one.captured_queries) == len(five.captured_queries) == 5


def test_replenishment_refuses_a_window_below_one_day(db):
    with pytest.raises(InvalidStockOperation) as raised:
        replenishment_suggestions(window_days=0)

    assert raised.value.errors == {"window_days": ["The window must be at least 1 day."]}


def test_replenishment_create_purchase_orders_groups_by_supplier_and_location(
    warehouse, store, tee, mug
):
    textiles = SupplierFactory(code="osaka-textiles")
    ceramics = SupplierFactory(code="kyoto-ceramics", currency="USD")
    socks = ProductVariantFactory(sku="SOCKS-NAVY")
    cap = ProductVariantFactory(sku="CAP-BLACK")
    SupplierItemFactory(supplier=textiles, variant=tee, cost="800", minimum_order_quantity=12)
    SupplierItemFactory(supplier=textiles, variant=socks, cost="150")
    SupplierItemFactory(supplier=ceramics, variant=mug, cost="4.5")

    def suggestion(variant, location, supplier, quantity, cost) -> Suggestion:
        return Suggestion(
            variant_id=variant.pk,
            sku=variant.sku,
            location=location,
            supplier=supplier,
            available=0,
            on_order=0,
            daily_demand=Decimal("1.000"),
            reorder_point=7,
            quantity=quantity,
            unit_cost=None if cost is None else Decimal(cost),
        )

    orders = replenishment_create_purchase_orders(
        suggestions=[
            suggestion(tee, "tokyo-dc", "osaka-textiles", 24, "800"),
            suggestion(mug, "tokyo-dc", "kyoto-ceramics", 14, "4.5"),
            suggestion(cap, "tokyo-dc", None, 5, None),
            suggestion(socks, "tokyo-dc", "osaka-textiles", 14, "150"),
            suggestion(tee, "shibuya", "osaka-textiles", 12, "800"),
        ]
    )

    assert [
        (
            order.supplier.code,
            order.location.code,
            order.state,
            order.currency,
            sorted(order.lines.values_list("variant__sku", "quantity", "unit_cost")),
        )
        for order in orders
    ] == [
        ("kyoto-ceramics", "tokyo-dc", "draft", "USD", [("MUG-WHITE", 14, Decimal("4.500"))]),
        ("osaka-textiles", "shibuya", "draft", "JPY", [("TEE-RED-M", 12, Decimal("800.000"))]),
        (
            "osaka-textiles",
            "tokyo-dc",
            "draft",
            "JPY",
            [("SOCKS-NAVY", 14, Decimal("150.000")), ("TEE-RED-M", 24, Decimal("800.000"))],
        ),
    ]
    assert PurchaseOrder.objects.count() == 3


def test_replenishment_create_purchase_orders_is_all_or_nothing(warehouse, store, tee, mug):
    textiles = SupplierFactory(code="osaka-textiles")
    ceramics = SupplierFactory(code="kyoto-ceramics")
    SupplierItemFactory(supplier=textiles, variant=tee, cost="800", minimum_order_quantity=12)
    SupplierItemFactory(supplier=ceramics, variant=mug, cost="450")
    good = Suggestion(
        mug.pk, "MUG-WHITE", "tokyo-dc", "kyoto-ceramics", 0, 0, Decimal(1), 7, 14, None
    )
    below_minimum = Suggestion(
        tee.pk, "TEE-RED-M", "tokyo-dc", "osaka-textiles", 0, 0, Decimal(1), 7, 5, None
    )

    with pytest.raises(InvalidStockOperation) as raised:
        replenishment_create_purchase_orders(suggestions=[good, below_minimum])

    assert raised.value.errors == {
        "lines": [
            "Line 1: supplier osaka-textiles sells SKU TEE-RED-M in at least 12 units; "
            "5 were ordered."
        ]
    }
    assert PurchaseOrder.objects.count() == 0


# --- The command -----------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("suggest_replenishment", *args, stdout=out)
    return out.getvalue()


TABLE = (
    "SKU        Location  Supplier        Available  On order  Daily demand  Reorder point"
    "  Quantity  Unit cost\n"
    "TEE-RED-M  tokyo-dc  osaka-textiles          6         0         0.750             12"
    "        24    800.000\n"
)


def test_suggest_replenishment_prints_the_table(busy_tee):
    assert run() == TABLE
    assert run("--location", "tokyo-dc", "--window-days", "28") == TABLE
    assert PurchaseOrder.objects.count() == 0


def test_suggest_replenishment_creates_draft_orders(busy_tee):
    output = run("--create-orders")

    order = PurchaseOrder.objects.get()
    assert output == TABLE + f"Created PO-{order.pk:06d}: osaka-textiles to tokyo-dc, 1 line(s).\n"
    assert order.state == PurchaseOrder.State.DRAFT
    assert list(order.lines.values_list("variant__sku", "quantity", "unit_cost")) == [
        ("TEE-RED-M", 24, Decimal("800.000"))
    ]


def test_suggest_replenishment_when_nothing_is_needed(channel, warehouse, store, tee):
    put(tee, warehouse, 100)
    stock_reserve(
        channel=channel,
        lines=[ReserveLine(variant_id=tee.pk, quantity=1)],
        reference="order:1",
        kind="order",
        preferred_location_id=warehouse.pk,
    )

    assert run("--create-orders") == "No replenishment needed.\n"
    assert run("--location", "shibuya") == "No replenishment needed.\n"
    assert PurchaseOrder.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--location", "nowhere"), "location: No location nowhere."),
        (("--window-days", "0"), "window_days: The window must be at least 1 day."),
    ],
)
def test_suggest_replenishment_reports_bad_options(db, args, message):
    with pytest.raises(CommandError) as raised:
        run(*args)

    assert str(raised.value) == message
