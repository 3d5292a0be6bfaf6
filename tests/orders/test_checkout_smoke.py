"""A whole guest purchase through the API, the shortest path (the detailed suites cover the rest)."""

from __future__ import annotations

import pytest

from orders.models import Order
from tests.orders.conftest import JP_ADDRESS


@pytest.mark.django_db
def test_guest_buys_through_the_api(api_client, shop):
    cart = api_client.post("/api/v1/channels/web-jp/carts/", {}, format="json")
    assert cart.status_code == 201, cart.content
    token = cart.json()["token"]
    r = api_client.post(
        f"/api/v1/carts/{token}/lines/", {"sku": "TEE-RED-M", "quantity": 1}, format="json"
    )
    assert r.status_code == 200, r.content
    r = api_client.patch(
        f"/api/v1/carts/{token}/",
        {"email": "guest@example.jp", "shipping_address": JP_ADDRESS, "shipping_method": "yamato"},
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["total"] == "3780"  # 2980 + 800 shipping
    r = api_client.post(f"/api/v1/carts/{token}/checkout/", format="json")
    assert r.status_code == 200, r.content
    r = api_client.post(
        f"/api/v1/carts/{token}/complete/",
        {"payment": {"method": "card", "token": "tok_visa"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert r.status_code == 201, r.content
    order = Order.objects.get(number=r.json()["number"])
    assert order.total == 3780
    assert order.paid_total == 3780
    assert order.payment_status == "paid"
    assert order.customer.email == "guest@example.jp"
