"""Routing: one location when one has everything, the nearer of equal priorities, a split only
when needed, stores only with ship-from-store on, re-routing moving the allocation through the
ledger. Every test ends with the ledger reconciled (the `ledger_reconciles` fixture)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from catalog.models import ProductVariant
from commerce.errors import ValidationFailed
from inventory.errors import InsufficientStock
from inventory.models import Reservation, Stock, StockMovement
from inventory.services import stock_adjust
from orders import services
from orders.fulfilment import delivery
from orders.fulfilment.services import InvalidFulfilmentState
from orders.models import Fulfilment, Order
from orders.pricing import Destination
from tests.fulfilment.conftest import OSAKA_ADDRESS, Omni, receive, web_order
from tests.orders.conftest import JP_ADDRESS

pytestmark = pytest.mark.django_db


def variant(sku: str) -> ProductVariant:
    return ProductVariant.objects.get(sku=sku)


def allocated(sku: str, location) -> int:
    return Stock.objects.get(variant__sku=sku, location=location).allocated


def test_one_location_with_everything_wins_and_the_nearer_of_equal_priorities(omni: Omni):
    receive(variant("TEE-RED-M"), omni.osaka, 10)
    receive(variant("SKN-LOT-150"), omni.osaka, 10)

    # Both warehouses have it all at priority 10: Osaka is nearer an Osaka address.
    osaka_order = web_order(omni, [("TEE-RED-M", 2), ("SKN-LOT-150", 1)], address=OSAKA_ADDRESS)
    (parcel,) = osaka_order.fulfilments.all()
    assert parcel.location == omni.osaka
    assert parcel.kind == Fulfilment.Kind.SHIPMENT
    assert sorted((line.order_line.sku, line.quantity) for line in parcel.lines.all()) == [
        ("SKN-LOT-150", 1),
        ("TEE-RED-M", 2),
    ]
    decision = osaka_order.routing[-1]
    assert decision["chosen"][0]["location"] == "osaka-wh"
    assert "every line" in decision["chosen"][0]["reason"]
    assert {"location": "shibuya-store", "reason": "ship-from-store is off"} in decision["excluded"]
    assert osaka_order.history.filter(kind="routed").exists()

    # A Tokyo buyer of something only Tokyo has whole: Osaka is passed over, and says why.
    tokyo_order = web_order(omni, [("TEE-RED-M", 12)], address=JP_ADDRESS)
    (parcel,) = tokyo_order.fulfilments.all()
    assert parcel.location == omni.warehouse
    assert tokyo_order.routing[-1]["passed_over"] == []  # Tokyo is nearer and ranked first
    assert allocated("TEE-RED-M", omni.warehouse) == 12
    assert allocated("TEE-RED-M", omni.osaka) == 2

    big = web_order(omni, [("TEE-RED-M", 30)], address=OSAKA_ADDRESS)
    (parcel,) = big.fulfilments.all()
    assert parcel.location == omni.warehouse
    assert big.routing[-1]["passed_over"] == [
        {"location": "osaka-wh", "lacks": "TEE-RED-M (8 of 30)"}
    ]


def test_split_only_when_no_single_location_has_everything(omni: Omni):
    # Tokyo has 50 tees and the lotion; Osaka one tee: 51 tees need both.
    receive(variant("TEE-RED-M"), omni.osaka, 1)
    order = web_order(omni, [("TEE-RED-M", 51), ("SKN-LOT-150", 2)], address=JP_ADDRESS)

    parcels = {f.location.code: f for f in order.fulfilments.all()}
    assert set(parcels) == {"tokyo-wh", "osaka-wh"}
    tokyo_lines = {line.order_line.sku: line.quantity for line in parcels["tokyo-wh"].lines.all()}
    osaka_lines = {line.order_line.sku: line.quantity for line in parcels["osaka-wh"].lines.all()}
    # Tokyo sends the lotion whole and 50 tees; the 51st tee comes from Osaka.
    assert tokyo_lines == {"SKN-LOT-150": 2, "TEE-RED-M": 50}
    assert osaka_lines == {"TEE-RED-M": 1}
    assert [f.number for f in order.fulfilments.order_by("number")] == [
        f"{order.number}-1",
        f"{order.number}-2",
    ]
    assert "No single location has everything" in parcels["tokyo-wh"].routing_reason
    assert "no one location has in full" in parcels["osaka-wh"].routing_reason
    assert {p["location"] for p in order.routing[-1]["passed_over"]} == {
        "tokyo-wh",
        "osaka-wh",
        "umeda-store",
    }
    assert allocated("TEE-RED-M", omni.warehouse) == 50
    assert allocated("TEE-RED-M", omni.osaka) == 1
    assert Reservation.objects.filter(reference=order.reference, state="active").count() == 3


def test_ship_from_store_only_where_switched_on(omni: Omni):
    lotion = variant("SKN-LOT-150")
    stock_adjust(variant_id=lotion.pk, location_id=omni.warehouse.pk, delta=-50)
    receive(lotion, omni.store, 4)  # Shibuya: ship-from-store off
    receive(lotion, omni.umeda, 4)  # Umeda: ship-from-store on

    order = web_order(omni, [("SKN-LOT-150", 2)], address=JP_ADDRESS)
    (parcel,) = order.fulfilments.all()
    assert parcel.location == omni.umeda  # farther than Shibuya, but Shibuya may not ship
    assert parcel.kind == Fulfilment.Kind.SHIPMENT

    omni.umeda.ships_to_customers = False
    omni.umeda.save(update_fields=["ships_to_customers"])
    before = Order.objects.count()
    with pytest.raises(InsufficientStock):
        web_order(omni, [("SKN-LOT-150", 1)], address=JP_ADDRESS)
    assert Order.objects.count() == before
    assert allocated("SKN-LOT-150", omni.store) == 0


def test_reroute_moves_the_allocation_through_the_ledger(omni: Omni, django_user_model):
    staff = django_user_model.objects.create_user("picker", password="x")
    receive(variant("TEE-RED-M"), omni.osaka, 5)
    order = web_order(omni, [("TEE-RED-M", 3)], address=JP_ADDRESS)
    (parcel,) = order.fulfilments.all()
    assert parcel.location == omni.warehouse
    services.fulfilment_prepare(parcel, state="picking")

    # Osaka has only 5: moving 3 works; a location without the goods is refused untouched.
    services.fulfilment_reroute(
        parcel, location="osaka-wh", reason="Tokyo conveyor down", actor=staff
    )
    parcel.refresh_from_db()
    assert parcel.location == omni.osaka
    assert parcel.state == Fulfilment.State.PENDING
    assert "Tokyo conveyor down" in parcel.routing_reason
    assert allocated("TEE-RED-M", omni.warehouse) == 0
    assert allocated("TEE-RED-M", omni.osaka) == 3
    moves = StockMovement.objects.filter(reference=order.reference).order_by("id")
    assert [(m.stock.location.code, m.reason, m.allocated_delta) for m in moves][-2:] == [
        ("tokyo-wh", "release", -3),
        ("osaka-wh", "reservation", 3),
    ]
    assert moves.last().actor == staff
    order.refresh_from_db()
    assert order.routing[-1]["rerouted"] == parcel.number
    assert order.routing[-1]["to"] == "osaka-wh"

    with pytest.raises(ValidationFailed) as refused:
        services.fulfilment_reroute(parcel, location="shibuya-store")
    assert "ship-from-store is off" in str(refused.value.errors["location"])
    with pytest.raises(InsufficientStock):
        services.fulfilment_reroute(parcel, location="umeda-store")
    parcel.refresh_from_db()
    assert parcel.location == omni.osaka
    assert allocated("TEE-RED-M", omni.osaka) == 3

    services.fulfilment_ship(parcel, tracking_number="YMT-1")
    assert Stock.objects.get(variant__sku="TEE-RED-M", location=omni.osaka).on_hand == 2
    with pytest.raises(InvalidFulfilmentState):
        services.fulfilment_reroute(parcel, location="tokyo-wh")


def test_delivery_estimate_from_handling_transit_and_destination(omni: Omni):
    omni.warehouse.handling_days = 2
    omni.warehouse.save(update_fields=["handling_days"])
    omni.yamato.transit_days = 1
    omni.yamato.save(update_fields=["transit_days"])
    # 15:30 UTC on 1 June is already 2 June in Tokyo: two handling days, dispatch on 4 June.
    now = datetime(2026, 6, 1, 15, 30, tzinfo=ZoneInfo("UTC"))
    assert delivery.dispatch_date(omni.warehouse, now=now) == date(2026, 6, 4)
    assert delivery.ship_by(omni.warehouse, now=now).isoformat() == "2026-06-04T23:59:59+09:00"
    tokyo = Destination("JP", "Tokyo")
    okinawa = Destination("JP", "Okinawa")
    assert delivery.estimated_delivery(omni.warehouse, omni.yamato, tokyo, now=now) == date(
        2026, 6, 5
    )
    assert delivery.estimated_delivery(omni.warehouse, omni.yamato, okinawa, now=now) == date(
        2026, 6, 8
    )

    order = web_order(omni, [("TEE-RED-M", 1)], address={**JP_ADDRESS, "region": "Okinawa"})
    (parcel,) = order.fulfilments.all()
    today = parcel.created_at.astimezone(ZoneInfo("Asia/Tokyo")).date()
    assert parcel.estimated_delivery == today + timedelta(days=2 + 4)
    assert parcel.carrier == omni.yamato_carrier
