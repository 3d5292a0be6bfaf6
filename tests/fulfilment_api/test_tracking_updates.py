from __future__ import annotations

from commerce.models import OutboxEvent
from orders import services
from orders.models import Fulfilment, TrackingEvent
from tests.fulfilment_api.conftest import CARRIER, only_fulfilment, staff_api, web_order

UPDATES = "/api/v1/staff/tracking-updates/"


def test_tracking_updates_are_recorded_item_by_item(omni):
    # Given two parcels on their way with Yamato
    first = only_fulfilment(web_order(omni, [("TEE-RED-M", 1)]))
    services.fulfilment_ship(first, carrier="yamato", tracking_number="YT-3001")
    second = only_fulfilment(web_order(omni, [("TEE-BLUE-M", 1)]))
    services.fulfilment_ship(second, carrier="yamato", tracking_number="YT-3002")
    carrier = staff_api("3pl", CARRIER)
    batch = [
        {
            "tracking_number": "YT-3001",
            "status": "in_transit",
            "occurred_at": "2030-01-02T09:00:00+09:00",
            "place": "Tokyo hub",
        },
        {
            "tracking_number": "YT-3001",
            "carrier": "yamato",
            "status": "delivered",
            "occurred_at": "2030-01-03T15:00:00+09:00",
        },
        {
            "tracking_number": "YT-3001",
            "status": "in_transit",
            "occurred_at": "2030-01-02T09:00:00+09:00",
            "place": "Tokyo hub",
        },
        {
            "tracking_number": "NO-SUCH",
            "status": "in_transit",
            "occurred_at": "2030-01-02T09:00:00+09:00",
        },
        {
            "tracking_number": "YT-3002",
            "status": "lost",
            "occurred_at": "2030-01-02T09:00:00+09:00",
        },
        {"tracking_number": "YT-3002", "status": "out_for_delivery"},
        {
            "tracking_number": "YT-3002",
            "status": "out_for_delivery",
            "occurred_at": "2030-01-03T08:00:00+09:00",
        },
    ]

    # When the 3PL posts them as one batch
    answer = carrier.post(UPDATES, batch, format="json")

    # Then each item has its own outcome, and the bad ones stopped nothing
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["recorded"], body["duplicate"], body["error"]) == (3, 1, 3)
    results = body["results"]
    assert [r["result"] for r in results] == [
        "recorded",
        "recorded",
        "duplicate",
        "error",
        "error",
        "error",
        "recorded",
    ]
    assert [r["index"] for r in results] == list(range(7))
    assert results[1]["fulfilment_state"] == "delivered"
    assert results[3]["code"] == "not_found"
    assert results[3]["detail"] == "No shipped parcel has tracking number NO-SUCH."
    assert list(results[4]["errors"]) == ["status"]
    assert results[5]["errors"] == {"occurred_at": ["This field is required."]}
    assert TrackingEvent.objects.filter(fulfilment=first).count() == 2
    assert list(
        TrackingEvent.objects.filter(fulfilment=second).values_list("status", flat=True)
    ) == ["out_for_delivery"]
    assert TrackingEvent.objects.filter(fulfilment=first).first().source == "api:3pl"

    # The delivered report delivered the parcel, once however often it is sent
    first.refresh_from_db()
    assert first.state == Fulfilment.State.DELIVERED
    assert first.delivered_at.isoformat() == "2030-01-03T06:00:00+00:00"
    again = carrier.post(UPDATES, batch[1], format="json").json()
    assert again["results"][0]["result"] == "duplicate"
    delivered = OutboxEvent.objects.filter(type="fulfilment.delivered", subject_type="fulfilment")
    assert list(delivered.values_list("subject_id", flat=True)) == [str(first.pk)]

    # A body that is not an object or a list of objects is a 400, and nothing is recorded
    before = TrackingEvent.objects.count()
    for wrong in ("YT-3001", [], ["YT-3001"]):
        refused = carrier.post(UPDATES, wrong, format="json")
        assert refused.status_code == 400
        assert list(refused.json()["errors"]) == ["body"]
    assert TrackingEvent.objects.count() == before
