"""Prices, totals, state and the customer are the server's: a write that sends them changes
nothing (the input serializers name only what a buyer may set and ignore the rest)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from commerce.models import OutboxEvent
from inventory.models import Reservation
from orders.models import Cart, CartLine, Order
from tests.orders_access.conftest import cart_ready, client

pytestmark = pytest.mark.django_db


def cart_row(token: str) -> dict:
    return Cart.objects.filter(token=token).values().get()


def lines(token: str) -> list[tuple[str, int]]:
    return list(
        CartLine.objects.filter(cart__token=token)
        .order_by("id")
        .values_list("variant__sku", "quantity")
    )


def cart_events(token: str) -> int:
    cart = Cart.objects.get(token=token)
    return OutboxEvent.objects.filter(subject_type="cart", subject_id=str(cart.pk)).count()


def server_owned(shop, bob) -> dict:
    return {
        "token": "chosen-by-the-caller",
        "channel": "web-us",
        "state": "completed",
        "customer": bob.customer.pk,
        "customer_id": bob.customer.pk,
        "unit_price": "1",
        "subtotal": "1",
        "tax": "0",
        "total": "1",
        "currency": "USD",
        "prices_include_tax": False,
        "shipping": "0",
        "discounts": [{"name": "All free", "code": "", "amount": "3779"}],
        "lines": [
            {"variant_id": shop.tee_red.pk, "sku": "TEE-RED-M", "quantity": 99, "unit_price": "1"}
        ],
        "stock_held_until": "2099-01-01T00:00:00Z",
        "hold_expires_at": "2099-01-01T00:00:00Z",
        "checkout_started_at": "2099-01-01T00:00:00Z",
        "last_activity_at": "2099-01-01T00:00:00Z",
        "completed_at": "2099-01-01T00:00:00Z",
    }


def test_a_cart_patch_of_server_owned_fields_changes_nothing(shop, alice, bob):
    token = cart_ready(alice.api, email="alice@example.com")
    assert alice.api.post(f"/api/v1/carts/{token}/checkout/").status_code == 200
    before = cart_row(token)
    holds = list(Reservation.objects.filter(reference=f"cart:{token}").values())
    events = cart_events(token)

    r = alice.api.patch(f"/api/v1/carts/{token}/", server_owned(shop, bob), format="json")

    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["token"], body["customer_id"], body["state"], body["total"]) == (
        token,
        alice.customer.pk,
        "open",
        "3780",
    )
    assert [(x["sku"], x["quantity"], x["unit_price"]) for x in body["lines"]] == [
        ("TEE-RED-M", 1, "2980")
    ]
    assert cart_row(token) == before  # every column, the hold and last activity included
    assert lines(token) == [("TEE-RED-M", 1)]
    assert list(Reservation.objects.filter(reference=f"cart:{token}").values()) == holds
    assert cart_events(token) == events


def test_server_owned_fields_next_to_a_buyers_field_are_ignored(shop, alice, bob):
    token = cart_ready(alice.api, email="alice@example.com")
    before = cart_row(token)

    r = alice.api.patch(
        f"/api/v1/carts/{token}/", {**server_owned(shop, bob), "note": "Ring twice"}, format="json"
    )

    assert r.status_code == 200, r.content
    after = cart_row(token)
    assert after["note"] == "Ring twice"
    assert after["last_activity_at"] >= before["last_activity_at"]
    unchanged = set(before) - {"note", "last_activity_at"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert lines(token) == [("TEE-RED-M", 1)]


def test_a_new_cart_takes_no_server_owned_fields(shop, bob):
    r = client().post("/api/v1/channels/web-jp/carts/", server_owned(shop, bob), format="json")

    assert r.status_code == 201, r.content
    cart = Cart.objects.get(token=r.json()["token"])
    assert cart.token != "chosen-by-the-caller"
    assert (cart.channel.code, cart.customer_id, cart.state) == ("web-jp", None, "open")
    assert (cart.hold_expires_at, cart.checkout_started_at, cart.completed_at) == (None, None, None)
    assert lines(cart.token) == []


def test_a_line_is_priced_by_the_channel_whatever_the_request_says(shop, bob):
    guest = client()
    token = cart_ready(guest, email="guest@example.com", lines={"TEA-MATCHA-100": 1})

    r = guest.post(
        f"/api/v1/carts/{token}/lines/",
        {"sku": "TEE-RED-M", "quantity": 1, "unit_price": "1", "amount": "1", "discount": "2979"},
        format="json",
    )
    put = guest.put(
        f"/api/v1/carts/{token}/lines/{shop.tee_red.pk}/",
        {"quantity": 2, "unit_price": "1", "customer_id": bob.customer.pk},
        format="json",
    )

    assert (r.status_code, put.status_code) == (200, 200)
    priced = {x["sku"]: (x["unit_price"], x["discount"]) for x in put.json()["lines"]}
    assert priced == {"TEA-MATCHA-100": ("1620", "0"), "TEE-RED-M": ("2980", "0")}
    assert put.json()["total"] == "7580"  # 1620 + 2 x 2980 = 7580 >= 5000: free shipping
    assert Cart.objects.get(token=token).customer_id is None


def test_completing_with_a_total_status_or_customer_in_the_body_ignores_them(shop, alice, bob):
    token = cart_ready(alice.api, email="alice@example.com")

    r = alice.api.post(
        f"/api/v1/carts/{token}/complete/",
        {
            "payment": {"method": "card", "token": "tok_visa", "amount": "1"},
            "total": "1",
            "status": "fulfilled",
            "payment_status": "refunded",
            "customer": bob.customer.pk,
            "customer_id": bob.customer.pk,
            "email": "bob@example.com",
            "paid_total": "999999",
            "lines": [{"sku": "TEE-RED-M", "quantity": 1, "unit_price": "1"}],
        },
        format="json",
    )

    assert r.status_code == 201, r.content
    order = Order.objects.get(number=r.json()["number"])
    assert (order.total, order.paid_total, order.status, order.payment_status) == (
        D(3780),
        D(3780),
        Order.Status.UNFULFILLED,
        Order.PaymentStatus.PAID,
    )
    assert (order.customer, order.email) == (alice.customer, "alice@example.com")
    assert [(x.sku, x.unit_price) for x in order.lines.all()] == [("TEE-RED-M", D(2980))]
