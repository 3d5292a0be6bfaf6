"""A customer's cart is that customer's alone: a guest holding its token and any other customer
get 404 on every cart route, as for a cart that does not exist, and nothing changes."""

from __future__ import annotations

import pytest

from inventory.models import Reservation
from orders.models import Cart, CartLine, Order
from tests.orders_access.conftest import Member, cart_ready, client

pytestmark = pytest.mark.django_db


def routes(cart: Cart) -> list[tuple[str, str, dict | None]]:
    token, variant = cart.token, cart.lines.get().variant_id
    return [
        ("get", f"/api/v1/carts/{token}/", None),
        ("patch", f"/api/v1/carts/{token}/", {"email": "mallory@example.com", "note": "mine"}),
        ("post", f"/api/v1/carts/{token}/lines/", {"sku": "TEE-BLUE-M", "quantity": 1}),
        ("put", f"/api/v1/carts/{token}/lines/{variant}/", {"quantity": 7}),
        ("delete", f"/api/v1/carts/{token}/lines/{variant}/", None),
        ("get", f"/api/v1/carts/{token}/shipping-methods/", None),
        ("get", f"/api/v1/carts/{token}/pickup-stores/", None),
        ("post", f"/api/v1/carts/{token}/checkout/", None),
        ("delete", f"/api/v1/carts/{token}/checkout/", None),
        (
            "post",
            f"/api/v1/carts/{token}/complete/",
            {"payment": {"method": "card", "token": "tok_visa"}},
        ),
    ]


def snapshot(cart: Cart) -> tuple:
    return (
        Cart.objects.filter(pk=cart.pk).values().get(),
        list(CartLine.objects.filter(cart=cart).values_list("variant_id", "quantity")),
        Reservation.objects.filter(reference=cart.reference).count(),
        Order.objects.count(),
    )


@pytest.mark.parametrize("intruder", ["guest", "another customer"])
def test_a_customers_cart_is_404_for_anyone_else(shop, alice: Member, bob: Member, intruder):
    token = cart_ready(alice.api, email="alice@example.com")
    cart = Cart.objects.get(token=token)
    assert cart.customer == alice.customer
    before = snapshot(cart)
    caller = client() if intruder == "guest" else bob.api

    for method, path, data in routes(cart):
        r = getattr(caller, method)(path, data, format="json")
        assert r.status_code == 404, f"{method.upper()} {path}: {r.status_code} {r.content}"
        assert r.json()["code"] == "not_found"
        assert "TEE-RED-M" not in r.content.decode()

    assert snapshot(cart) == before
    assert Cart.objects.get(pk=cart.pk).customer == alice.customer
    # Alice herself still has it.
    assert alice.api.get(f"/api/v1/carts/{token}/").status_code == 200


def test_a_cart_of_another_customer_is_not_taken_over_by_opening_it(shop, alice, bob):
    token = cart_ready(alice.api, email="alice@example.com")

    assert bob.api.get(f"/api/v1/carts/{token}/").status_code == 404

    assert Cart.objects.get(token=token).customer == alice.customer


def test_an_unknown_token_is_404(shop):
    assert client().get("/api/v1/carts/not-a-real-token-at-all-0123456789/").status_code == 404


def test_a_guest_cart_is_open_to_whoever_holds_its_token(shop):
    token = cart_ready(client(), email="guest@example.com")

    r = client().get(f"/api/v1/carts/{token}/")

    assert r.status_code == 200
    assert [line["sku"] for line in r.json()["lines"]] == ["TEE-RED-M"]
