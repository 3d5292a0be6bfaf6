from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.models import Stock
from orders import services
from orders.models import Order
from tests.fulfilment_api.conftest import (
    CARRIER,
    ORDER_STAFF,
    PROBLEM,
    TILL,
    client,
    customer_api,
    only_fulfilment,
    staff_api,
    web_order,
)

FULFILMENTS = "/api/v1/staff/fulfilments/"


def test_fulfilment_ship_over_http_then_shipping_twice_is_a_conflict(omni):
    # Given three web orders from the Tokyo warehouse, one of them to ship
    orders = [web_order(omni, [("TEE-RED-M", 1)]) for _ in range(3)]
    order = orders[0]
    number = only_fulfilment(order).number
    on_hand = Stock.objects.get(variant=omni.tee_red, location=omni.warehouse).on_hand
    staff = staff_api("picker", ORDER_STAFF)

    # The list costs the same queries for a page of 1 and a page of 3
    with CaptureQueriesContext(connection) as page_of_1:
        assert len(staff.get(FULFILMENTS, {"page_size": 1}).json()["results"]) == 1
    with CaptureQueriesContext(connection) as page_of_3:
        page = staff.get(FULFILMENTS, {"page_size": 3, "location": "tokyo-wh"}).json()
    assert len(page["results"]) == 3
    assert len(page_of_1) == len(page_of_3)

    # Detail: lines, why it is there, the promise
    detail = staff.get(f"{FULFILMENTS}{number}/").json()
    assert detail["order"] == order.number
    assert detail["kind"] == "shipment" and detail["state"] == "pending"
    assert detail["location"] == "tokyo-wh" and detail["routing_reason"]
    assert detail["lines"] == [
        {
            "order_line_id": order.lines.get().pk,
            "sku": "TEE-RED-M",
            "name": "Everyday Tee",
            "variant_name": "Red / M",
            "quantity": 1,
        }
    ]
    assert detail["ship_by"] and detail["estimated_delivery"] and detail["events"] == []

    # When picking starts, then an unknown carrier is refused with nothing changed
    assert staff.post(f"{FULFILMENTS}{number}/pick/").json()["state"] == "picking"
    refused = staff.post(f"{FULFILMENTS}{number}/ship/", {"carrier": "dhl"}, format="json")
    assert refused.status_code == 400 and refused["Content-Type"] == PROBLEM
    assert refused.json()["errors"] == {"carrier": ["There is no carrier dhl."]}
    assert staff.get(f"{FULFILMENTS}{number}/").json()["state"] == "picking"

    # Then it ships with Yamato: the tracking link is made from the carrier's template
    shipped = staff.post(
        f"{FULFILMENTS}{number}/ship/",
        {"carrier": "yamato", "tracking_number": "YT-1001"},
        format="json",
    )
    assert shipped.status_code == 200, shipped.json()
    body = shipped.json()
    assert (body["state"], body["carrier"], body["tracking_number"]) == (
        "shipped",
        "yamato",
        "YT-1001",
    )
    assert body["tracking_url"] == "https://track.example.jp/yamato?number=YT-1001"
    assert Stock.objects.get(variant=omni.tee_red, location=omni.warehouse).on_hand == on_hand - 1
    assert Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED

    # Shipping twice is a conflict, and the staff order shows the fulfilments and the routing
    again = staff.post(f"{FULFILMENTS}{number}/ship/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_fulfilment_state"
    staff_order = staff.get(f"/api/v1/staff/orders/{order.number}/").json()
    assert [(f["number"], f["state"]) for f in staff_order["fulfilments"]] == [(number, "shipped")]
    assert staff_order["routing"] == Order.objects.get(pk=order.pk).routing != []

    # The late filter: past the promise and not shipped
    services.fulfilments_detect_delays(now=timezone.now() + timedelta(days=30))
    late = staff.get(FULFILMENTS, {"late": "true"}).json()["results"]
    assert sorted(f["order"] for f in late) == sorted(o.number for o in orders[1:])
    assert all(f["late"] for f in late)
    assert staff.get(FULFILMENTS, {"late": "false"}).json()["count"] == 1


def test_fulfilment_endpoints_need_the_right_permission(omni):
    # Given a shipped parcel
    fulfilment = only_fulfilment(web_order(omni, [("TEE-RED-M", 1)]))
    services.fulfilment_ship(fulfilment, carrier="yamato", tracking_number="YT-2001")
    other = only_fulfilment(web_order(omni, [("TEE-BLUE-M", 1)]))
    report = {
        "tracking_number": "YT-2001",
        "status": "in_transit",
        "occurred_at": "2030-01-02T09:00:00+09:00",
    }

    # Anonymous: 401; a customer or staff without permission: 403
    assert client().get(FULFILMENTS).status_code == 401
    assert customer_api("shopper").get(FULFILMENTS).status_code == 403
    nobody = staff_api("nobody")
    assert nobody.get(FULFILMENTS).status_code == 403
    assert nobody.post("/api/v1/staff/tracking-updates/", report, format="json").status_code == 403
    assert (
        nobody.get(
            "/api/v1/staff/pos/stock/", {"sku": "TEE-RED-M", "store": "shibuya-store"}
        ).status_code
        == 403
    )
    # Read-only order staff may look but not ship
    viewer = staff_api("viewer", ["orders.view_order"])
    assert viewer.get(f"{FULFILMENTS}{other.number}/").status_code == 200
    assert viewer.post(f"{FULFILMENTS}{other.number}/ship/", {}, format="json").status_code == 403

    # The 3PL's account reports tracking but cannot ship or list
    carrier = staff_api("3pl", CARRIER)
    answer = carrier.post("/api/v1/staff/tracking-updates/", report, format="json")
    assert answer.status_code == 200 and answer.json()["recorded"] == 1
    assert carrier.post(f"{FULFILMENTS}{other.number}/ship/", {}, format="json").status_code == 403
    assert carrier.get(FULFILMENTS).status_code == 403
    # A till's account sells but does not run the warehouse
    till = staff_api("till", TILL)
    assert till.get(f"{FULFILMENTS}{other.number}/").status_code == 403
    other.refresh_from_db()
    assert other.state == "pending" and other.tracking_number == ""


def test_pick_list_sums_units_per_sku_in_a_fixed_number_of_queries(omni):
    # Given one open fulfilment at the Tokyo warehouse
    first = only_fulfilment(web_order(omni, [("TEE-RED-M", 2)]))
    staff = staff_api("picker", ORDER_STAFF)
    path = "/api/v1/staff/locations/tokyo-wh/pick-list/"
    with CaptureQueriesContext(connection) as one:
        assert staff.get(path).status_code == 200

    # When more arrive: one picking, one shipped (not to pick), one with two SKUs
    second = only_fulfilment(web_order(omni, [("TEE-RED-M", 1), ("TEE-BLUE-M", 3)]))
    services.fulfilment_prepare(second, state="picking")
    shipped = only_fulfilment(web_order(omni, [("TEE-RED-M", 4)]))
    services.fulfilment_ship(shipped)
    third = only_fulfilment(web_order(omni, [("TEE-BLUE-M", 1)]))
    with CaptureQueriesContext(connection) as several:
        answer = staff.get(path)

    # Then the units are summed per SKU with the fulfilments they go to, for the same queries
    assert len(several) == len(one)
    body = answer.json()
    assert body["skus"] == [
        {
            "sku": "TEE-BLUE-M",
            "name": "Everyday Tee",
            "variant_name": "Blue / M",
            "quantity": 4,
            "contains": [],  # not a bundle
            "fulfilments": [second.number, third.number],
        },
        {
            "sku": "TEE-RED-M",
            "name": "Everyday Tee",
            "variant_name": "Red / M",
            "quantity": 3,
            "contains": [],
            "fulfilments": [first.number, second.number],
        },
    ]
    assert sorted(f["number"] for f in body["fulfilments"]) == sorted(
        [first.number, second.number, third.number]
    )
    assert staff.get("/api/v1/staff/locations/nowhere/pick-list/").status_code == 404
