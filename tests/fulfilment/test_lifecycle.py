"""A fulfilment's life: two parcels shipped one after the other (on-hand down through the ledger,
the order partially fulfilled then fulfilled, each event once), click-and-collect from ready to
collected and an uncollected one flagged then cancelled, late fulfilments announced once, and
the orders a phone agent and a till take going through the web checkout's own services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import ProductVariant
from commerce.errors import Conflict, ValidationFailed
from commerce.models import OutboxEvent
from inventory.models import Stock
from orders import services
from orders.core.records import InvalidOrderTransition
from orders.fulfilment.services import InvalidFulfilmentState
from orders.models import Cart, Fulfilment, Order, TrackingEvent
from tests.factories import variant_price_set
from tests.fulfilment.conftest import OSAKA_ADDRESS, Omni, receive, web_order
from tests.inventory.conftest import bundle_of
from tests.orders.conftest import JP_ADDRESS

pytestmark = pytest.mark.django_db


def events(event_type: str, **payload) -> list[OutboxEvent]:
    found = OutboxEvent.objects.filter(type=event_type).order_by("id")
    return [e for e in found if all(e.payload.get(k) == v for k, v in payload.items())]


def on_hand(sku: str, location) -> int:
    return Stock.objects.get(variant__sku=sku, location=location).on_hand


def test_web_order_shipped_in_two_parcels(omni: Omni):
    receive(ProductVariant.objects.get(sku="TEE-BLUE-M"), omni.osaka, 2)
    order = web_order(omni, [("TEE-RED-M", 1), ("TEE-BLUE-M", 52)], address=JP_ADDRESS)
    tokyo, osaka = (order.fulfilments.get(location=loc) for loc in (omni.warehouse, omni.osaka))
    assert len(events("fulfilment.created", order_number=order.number)) == 2
    placed = events("order.placed", number=order.number)
    assert len(placed) == 1

    with pytest.raises(ValidationFailed) as unknown:
        services.fulfilment_ship(tokyo, carrier="pigeon")
    assert "pigeon" in str(unknown.value.errors["carrier"])

    services.fulfilment_prepare(tokyo, state="picking")
    services.fulfilment_prepare(tokyo, state="packed")
    services.fulfilment_ship(tokyo, carrier="yamato", tracking_number="4455-6677")
    tokyo.refresh_from_db()
    order.refresh_from_db()
    assert tokyo.state == Fulfilment.State.SHIPPED
    assert tokyo.tracking_url == "https://track.example.jp/yamato?number=4455-6677"
    assert order.status == Order.Status.PARTIALLY_FULFILLED
    assert on_hand("TEE-RED-M", omni.warehouse) == 49
    assert on_hand("TEE-BLUE-M", omni.warehouse) == 0
    assert {line.sku: line.quantity_fulfilled for line in order.lines.all()} == {
        "TEE-RED-M": 1,
        "TEE-BLUE-M": 50,
    }
    with pytest.raises(InvalidFulfilmentState):
        services.fulfilment_ship(tokyo, tracking_number="again")

    services.fulfilment_ship(osaka, tracking_number="9988")
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    assert on_hand("TEE-BLUE-M", omni.osaka) == 0
    assert len(events("fulfilment.shipped", order_number=order.number)) == 2
    assert [e.payload["change"] for e in events("order.updated", number=order.number)] == [
        "partially_fulfilled",
        "fulfilled",
    ]

    # The carrier reports twice that parcel 1 arrived, by a clock a day slow: one tracking
    # event, one delivery, and not before it left.
    slow_clock = tokyo.shipped_at - timedelta(days=1)
    for _ in range(2):
        services.tracking_record(
            services.TrackingUpdate("4455-6677", "delivered", slow_clock, carrier="yamato"),
            source="yamato-feed",
        )
    tokyo.refresh_from_db()
    assert tokyo.state == Fulfilment.State.DELIVERED
    assert tokyo.delivered_at == tokyo.shipped_at
    assert TrackingEvent.objects.filter(fulfilment=tokyo).count() == 1
    assert len(events("fulfilment.delivered", number=tokyo.number)) == 1
    tracking = {p["number"]: p for p in services.tracking_for(order)}
    assert {number: p["state"] for number, p in tracking.items()} == {
        tokyo.number: "delivered",
        osaka.number: "shipped",
    }
    assert tracking[tokyo.number]["events"][0]["status"] == "delivered"
    # Cancelling is for orders that have not left.
    with pytest.raises(InvalidOrderTransition):
        services.order_cancel(order)


def test_a_bank_transfer_order_waits_and_a_cancelled_one_gives_its_stock_back(omni: Omni):
    order = web_order(omni, [("TEE-RED-M", 2)], method="bank_transfer")
    (parcel,) = order.fulfilments.all()
    with pytest.raises(InvalidOrderTransition):
        services.fulfilment_ship(parcel)
    assert on_hand("TEE-RED-M", omni.warehouse) == 50

    # An edit routes the order again: the old parcel is cancelled, a new one holds the lines.
    services.order_edit(order, add=[("SKN-LOT-150", 1)], reason="added by phone")
    parcel.refresh_from_db()
    assert parcel.state == Fulfilment.State.CANCELLED
    (again,) = order.fulfilments.exclude(pk=parcel.pk)
    assert again.number == f"{order.number}-2"
    assert sorted((line.order_line.sku, line.quantity) for line in again.lines.all()) == [
        ("SKN-LOT-150", 1),
        ("TEE-RED-M", 2),
    ]

    services.order_cancel(order, reason="never paid")
    again.refresh_from_db()
    assert again.state == Fulfilment.State.CANCELLED
    stock = Stock.objects.get(variant__sku="TEE-RED-M", location=omni.warehouse)
    assert (stock.on_hand, stock.allocated) == (50, 0)


def test_click_and_collect_from_ready_to_collected(omni: Omni):
    order = web_order(omni, [("TEE-RED-M", 2)], pickup="shibuya-store")
    (pickup,) = order.fulfilments.all()
    assert (pickup.kind, pickup.location) == (Fulfilment.Kind.PICKUP, omni.store)
    assert len(pickup.pickup_code) == 6
    assert Stock.objects.get(variant__sku="TEE-RED-M", location=omni.store).allocated == 2

    with pytest.raises(InvalidFulfilmentState):
        services.fulfilment_collect(pickup, code=pickup.pickup_code)  # not ready yet
    services.fulfilment_ready(pickup)
    (ready,) = events("pickup.ready", number=pickup.number)
    assert ready.payload["pickup_code"] == pickup.pickup_code
    assert ready.payload["location"] == "shibuya-store"

    wrong = "000000" if pickup.pickup_code != "000000" else "111111"
    with pytest.raises(ValidationFailed) as refused:
        services.fulfilment_collect(pickup, code=wrong)
    assert "pickup_code" in refused.value.errors
    assert on_hand("TEE-RED-M", omni.store) == 5

    services.fulfilment_collect(pickup, code=pickup.pickup_code)
    pickup.refresh_from_db()
    order.refresh_from_db()
    assert pickup.state == Fulfilment.State.DELIVERED
    assert order.status == Order.Status.FULFILLED
    assert on_hand("TEE-RED-M", omni.store) == 3
    assert len(events("pickup.collected", number=pickup.number)) == 1
    assert services.pickups_flag_uncollected(now=timezone.now() + timedelta(days=30)) == 0


def test_an_uncollected_pickup_is_flagged_once_and_cancelling_returns_the_stock(omni: Omni):
    order = web_order(omni, [("TEE-RED-M", 1)], pickup="shibuya-store", method="pay_at_store")
    (pickup,) = order.fulfilments.all()
    services.fulfilment_ready(pickup)
    pickup.refresh_from_db()

    assert services.pickups_flag_uncollected(now=pickup.ready_at + timedelta(days=6)) == 0
    later = pickup.ready_at + timedelta(days=8)
    assert services.pickups_flag_uncollected(now=later) == 1
    assert services.pickups_flag_uncollected(now=later + timedelta(hours=1)) == 0
    order.refresh_from_db()
    assert order.flagged
    assert "Not collected" in order.flag_reason
    assert len(events("pickup.uncollected", number=pickup.number)) == 1

    services.order_cancel(order, reason="not collected")
    pickup.refresh_from_db()
    assert pickup.state == Fulfilment.State.CANCELLED
    stock = Stock.objects.get(variant__sku="TEE-RED-M", location=omni.store)
    assert (stock.on_hand, stock.allocated) == (5, 0)


def test_each_late_fulfilment_is_announced_once(omni: Omni):
    orders = [web_order(omni, [("TEE-RED-M", 1)]) for _ in range(4)]
    parcels = [order.fulfilments.get() for order in orders]
    services.fulfilment_ship(parcels[3])  # left in time and delivered: never late
    services.fulfilment_deliver(parcels[3])
    promised = parcels[0].ship_by
    Fulfilment.objects.filter(pk=parcels[2].pk).update(ship_by=promised + timedelta(days=3))

    assert services.fulfilments_detect_delays(now=promised - timedelta(minutes=1)) == 0
    assert services.fulfilments_detect_delays(now=promised + timedelta(hours=2)) == 2
    assert services.fulfilments_detect_delays(now=promised + timedelta(hours=3)) == 0
    delayed = OutboxEvent.objects.filter(type="fulfilment.delayed")
    assert sorted(e.payload["number"] for e in delayed) == sorted(
        [parcels[0].number, parcels[1].number]
    )
    assert {e.payload["late_by_hours"] for e in delayed} == {2.0}
    # The third becomes late later, and is announced then, once.
    assert services.fulfilments_detect_delays(now=promised + timedelta(days=4)) == 1
    assert OutboxEvent.objects.filter(type="fulfilment.delayed").count() == 3


def test_phone_order_and_till_sales_go_through_the_web_checkout(omni: Omni, django_user_model):
    agent = django_user_model.objects.create_user("agent", password="x")
    # What the checkout would refuse is refused before the cart is kept.
    carts = Cart.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        services.phone_order_place(
            channel="phone-jp",
            lines=[services.SkuLine("TEE-RED-M", 1)],
            payment=services.PaymentInput(method="card"),  # no token from the payment form
            email="kenji@example.jp",
            shipping_address=OSAKA_ADDRESS,
            shipping_method="yamato",
        )
    assert "payment.token" in refused.value.errors
    assert Cart.objects.count() == carts

    phone_order = services.phone_order_place(
        channel="phone-jp",
        lines=[services.SkuLine("TEE-RED-M", 2)],
        payment=services.PaymentInput(method="cod"),
        email="kenji@example.jp",
        phone="090-1111-2222",
        shipping_address=OSAKA_ADDRESS,
        shipping_method="yamato",
        actor=agent,
    )
    assert phone_order.channel == omni.phone
    assert phone_order.payment_method == "cod"
    assert phone_order.payment_status == Order.PaymentStatus.AWAITING
    assert phone_order.total == 2 * 2980 + 800
    assert phone_order.customer.email == "kenji@example.jp"
    assert phone_order.fulfilments.get().location == omni.warehouse
    assert events("order.placed", number=phone_order.number)[0].payload["channel"] == "phone-jp"
    assert phone_order.history.get(kind="phone_order").actor == agent

    # A line the store does not have: refused before anything is written.
    carts = Cart.objects.count()
    with pytest.raises(Conflict):
        services.pos_sale(
            channel="pos-shibuya",
            store="shibuya-store",
            lines=[services.SkuLine("TEE-RED-M", 1), services.SkuLine("SKN-LOT-150", 1)],
            payment=services.PaymentInput(method="cash"),
        )
    assert Cart.objects.count() == carts

    sale = services.pos_sale(
        channel="pos-shibuya",
        store="shibuya-store",
        lines=[services.SkuLine("TEE-RED-M", 2)],
        payment=services.PaymentInput(method="cash"),
        actor=agent,
    )
    assert (sale.channel, sale.status, sale.payment_status) == (
        omni.pos,
        Order.Status.FULFILLED,
        Order.PaymentStatus.PAID,
    )
    assert sale.customer is None
    (handed,) = sale.fulfilments.all()
    assert (handed.kind, handed.state, handed.location) == (
        Fulfilment.Kind.IN_STORE,
        Fulfilment.State.DELIVERED,
        omni.store,
    )
    assert on_hand("TEE-RED-M", omni.store) == 3

    # Endless aisle: sold at the till, shipped from a warehouse, paid by card there.
    shipped = services.pos_sale(
        channel="pos-shibuya",
        store="shibuya-store",
        lines=[services.SkuLine("SKN-LOT-150", 1)],
        payment=services.PaymentInput(method="card", token="tok_visa"),
        email="yui@example.jp",
        ship_to=JP_ADDRESS,
        shipping_method="yamato",
    )
    assert shipped.status == Order.Status.UNFULFILLED
    assert shipped.payment_status == Order.PaymentStatus.PAID
    (parcel,) = shipped.fulfilments.all()
    assert (parcel.kind, parcel.location) == (Fulfilment.Kind.SHIPMENT, omni.warehouse)


def test_a_bundle_is_routed_and_shipped_as_its_components(omni: Omni):
    red, blue = (ProductVariant.objects.get(sku=sku) for sku in ("TEE-RED-M", "TEE-BLUE-M"))
    pair = bundle_of({red: 1, blue: 2}, product=red.product, sku="TEE-TRIO")
    variant_price_set(pair, omni.yamato.channel, "7000")
    order = web_order(omni, [("TEE-TRIO", 2), ("TEE-RED-M", 1)])

    (parcel,) = order.fulfilments.all()
    assert sorted((line.order_line.sku, line.quantity) for line in parcel.lines.all()) == [
        ("TEE-RED-M", 1),
        ("TEE-TRIO", 2),
    ]
    created = events("fulfilment.created", number=parcel.number)[0]
    assert sorted((line["sku"], line["quantity"]) for line in created.payload["lines"]) == [
        ("TEE-RED-M", 1),
        ("TEE-TRIO", 2),
    ]
    services.fulfilment_ship(parcel)
    assert on_hand("TEE-RED-M", omni.warehouse) == 50 - 2 - 1
    assert on_hand("TEE-BLUE-M", omni.warehouse) == 50 - 4
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
