from __future__ import annotations

from inventory.models import Stock
from orders.models import Order
from tests.fulfilment_api.conftest import TILL, receive, staff_api

SALES = "/api/v1/staff/pos/sales/"
STOCK = "/api/v1/staff/pos/stock/"


def test_pos_cash_sale_is_paid_and_handed_over_once_per_idempotency_key(omni):
    # Given a till at the Shibuya store
    till = staff_api("till", TILL)
    sale = {
        "channel": "pos-shibuya",
        "store": "shibuya-store",
        "lines": [{"sku": "TEE-RED-M", "quantity": 2}],
        "payment": {"method": "cash"},
    }

    # When the till rings it up and retries with the same key
    first = till.post(SALES, sale, format="json", HTTP_IDEMPOTENCY_KEY="till-1-0001")
    retry = till.post(SALES, sale, format="json", HTTP_IDEMPOTENCY_KEY="till-1-0001")

    # Then one order: paid, fulfilled, handed over from the store's own stock
    assert first.status_code == 201, first.json()
    body = first.json()
    assert (body["channel"], body["status"], body["payment_status"], body["payment_method"]) == (
        "pos-shibuya",
        "fulfilled",
        "paid",
        "cash",
    )
    assert body["total"] == "5960"
    assert [(f["kind"], f["state"], f["location"]) for f in body["fulfilments"]] == [
        ("in_store", "delivered", "shibuya-store")
    ]
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert retry.json()["number"] == body["number"]
    assert Order.objects.filter(channel=omni.pos).count() == 1
    assert Stock.objects.get(variant=omni.tee_red, location=omni.store).on_hand == 3
    assert Stock.objects.get(variant=omni.tee_red, location=omni.warehouse).on_hand == 50

    # The same key with another sale is refused; a bad line is named, and sells nothing
    other = {**sale, "lines": [{"sku": "TEE-BLUE-M", "quantity": 1}]}
    reused = till.post(SALES, other, format="json", HTTP_IDEMPOTENCY_KEY="till-1-0001")
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    wrong = {**sale, "lines": [{"sku": "TEE-RED-M", "quantity": 1}, {"sku": "NOPE", "quantity": 1}]}
    refused = till.post(SALES, wrong, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["lines[1].sku"]  # the second line
    assert Order.objects.filter(channel=omni.pos).count() == 1


def test_pos_stock_lists_this_store_then_stores_by_distance_then_warehouses(omni):
    # Given the tee at the Osaka warehouse and the Umeda store too
    receive(omni.tee_red, omni.osaka, 7)
    receive(omni.tee_red, omni.umeda, 2)
    till = staff_api("till", TILL)

    # When the Shibuya till looks it up
    answer = till.get(STOCK, {"sku": "TEE-RED-M", "store": "shibuya-store"})

    # Then this store first, then the other store, then the warehouses, nearest first
    assert answer.status_code == 200, answer.json()
    rows = answer.json()["locations"]
    assert [
        (r["code"], r["this_store"], r["available"], r["ships_to_customers"], r["pickup"])
        for r in rows
    ] == [
        ("shibuya-store", True, 5, False, True),
        ("umeda-store", False, 2, True, True),
        ("tokyo-wh", False, 50, True, False),
        ("osaka-wh", False, 7, True, False),
    ]
    assert rows[0]["distance_km"] == 0 and rows[2]["distance_km"] == 0
    assert 350 < rows[1]["distance_km"] == rows[3]["distance_km"] < 450

    # Clear errors for what is missing or unknown
    assert till.get(STOCK, {"store": "shibuya-store"}).json()["errors"] == {
        "sku": ["This parameter is required."]
    }
    unknown_sku = till.get(STOCK, {"sku": "NOPE", "store": "shibuya-store"})
    assert (
        unknown_sku.status_code == 404 and unknown_sku.json()["detail"] == "There is no SKU NOPE."
    )
    assert till.get(STOCK, {"sku": "TEE-RED-M", "store": "nowhere"}).status_code == 404
    warehouse = till.get(STOCK, {"sku": "TEE-RED-M", "store": "tokyo-wh"})
    assert warehouse.status_code == 400
    assert warehouse.json()["errors"] == {"store": ["tokyo-wh is not a store."]}
