from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from orders import services
from tests.fulfilment_api.conftest import (
    JP_ADDRESS,
    client,
    customer_order,
    member,
    only_fulfilment,
    staff_api,
)


def test_customer_and_guest_see_the_parcels_of_their_own_order_only(omni):
    # Given Alice's order shipped with Yamato and a report from the carrier
    alice, alice_api = member("alice@example.com")
    _bob, bob_api = member("bob@example.com")
    order = customer_order(omni, alice, [("TEE-RED-M", 1)])
    fulfilment = only_fulfilment(order)
    services.fulfilment_ship(fulfilment, carrier="yamato", tracking_number="YT-4001")
    staff_api("3pl", ["orders.change_fulfilment"]).post(
        "/api/v1/staff/tracking-updates/",
        {
            "tracking_number": "YT-4001",
            "status": "in_transit",
            "occurred_at": "2030-01-02T09:00:00+09:00",
            "place": "Tokyo hub",
        },
        format="json",
    )

    # When Alice opens her order
    mine = alice_api.get(f"/api/v1/orders/{order.number}/")

    # Then she sees the parcel, its link, its estimate and the carrier's report
    assert mine.status_code == 200
    (parcel,) = mine.json()["fulfilments"]
    assert parcel["number"] == fulfilment.number and parcel["state"] == "shipped"
    assert parcel["carrier"] == "Yamato Transport"
    assert parcel["tracking_url"] == "https://track.example.jp/yamato?number=YT-4001"
    assert parcel["estimated_delivery"] == fulfilment.estimated_delivery.isoformat()
    assert [(e["status"], e["place"]) for e in parcel["events"]] == [("in_transit", "Tokyo hub")]
    assert parcel["lines"] == [{"sku": "TEE-RED-M", "name": "Everyday Tee", "quantity": 1}]

    # Bob may not see it; a guest needs the e-mail it was placed with
    assert bob_api.get(f"/api/v1/orders/{order.number}/").status_code == 404
    lookup = "/api/v1/orders/lookup/"
    wrong = bob_api.post(
        lookup, {"number": order.number, "email": "bob@example.com"}, format="json"
    )
    assert wrong.status_code == 404 and "fulfilments" not in wrong.json()
    right = bob_api.post(
        lookup, {"number": order.number, "email": "ALICE@example.com"}, format="json"
    )
    assert right.status_code == 200
    assert right.json()["fulfilments"][0]["tracking_url"] == parcel["tracking_url"]


def test_shipping_methods_show_when_the_parcel_should_arrive(omni):
    # Given a cart to Tokyo that the Tokyo warehouse (1 handling day) can serve
    cart = services.cart_create(channel=omni.yamato.channel, email="hanako@example.jp")
    path = f"/api/v1/carts/{cart.token}/shipping-methods/"
    services.cart_update(cart, shipping_address=JP_ADDRESS)
    api = client()  # a guest cart is open to whoever holds its token

    # An empty cart has nothing to estimate
    assert [m["estimated_delivery"] for m in api.get(path).json()["methods"]] == [None]

    # When it holds a tee, Yamato (2 days in transit) arrives three days from today in Tokyo
    services.cart_line_set(cart, sku="TEE-RED-M", quantity=1)
    methods = api.get(path).json()["methods"]
    today = timezone.now().astimezone(ZoneInfo("Asia/Tokyo")).date()
    assert [(m["code"], m["estimated_delivery"]) for m in methods] == [
        ("yamato", (today + timedelta(days=3)).isoformat())
    ]

    # To Okinawa the rate's own transit days (4) count
    services.cart_update(cart, shipping_address={**JP_ADDRESS, "region": "Okinawa"})
    methods = api.get(path).json()["methods"]
    assert methods[0]["estimated_delivery"] == (today + timedelta(days=5)).isoformat()
