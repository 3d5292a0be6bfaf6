"""What the buyer's payment attempt leaves behind when the card is declined or the provider does
not answer: no order, the stock given back, the cart as it was, and a retry that can succeed."""

from __future__ import annotations

import pytest

from inventory.selectors import availability_for_channel
from orders.models import Cart, IdempotencyRecord, Order, Payment, Transaction
from orders.models import TestGatewayOperation as GatewayOperation
from tests.orders_api.conftest import (
    CART_TOTAL,
    PROBLEM,
    active_cart_holds,
    assert_books_balance,
    assert_paid_once,
    cart_ready,
    complete,
    web_jp,
)

pytestmark = pytest.mark.django_db


def lines_of(cart: Cart) -> list[tuple[str, int]]:
    return [(line.variant.sku, line.quantity) for line in cart.lines.order_by("id")]


def available(variant) -> int:
    return availability_for_channel(channel=web_jp(), variant_ids=[variant.pk])[variant.pk]


def test_a_declined_card_is_a_402_with_the_gateways_reason_and_leaves_the_cart_as_it_was(
    api_client, shop
):
    cart = cart_ready(quantity=2)
    before = available(shop.tee_red)
    started = api_client.post(f"/api/v1/carts/{cart.token}/checkout/", format="json")
    assert started.status_code == 200, started.json()
    assert available(shop.tee_red) == before - 2

    response = complete(api_client, cart, token="tok_declined", key="attempt-1")

    assert response.status_code == 402
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "payment_declined"
    assert body["detail"] == "Card declined: insufficient funds."
    assert not Order.objects.exists()
    assert active_cart_holds(cart) == []
    assert available(shop.tee_red) == before
    cart = Cart.objects.get(pk=cart.pk)
    assert cart.state == Cart.State.OPEN
    assert cart.hold_expires_at is None
    assert lines_of(cart) == [("TEE-RED-M", 2)]
    assert cart.email == "buyer@example.jp"
    assert cart.shipping_method == shop.yamato
    (payment,) = Payment.objects.filter(cart=cart)
    assert (payment.status, payment.order) == (Payment.Status.DECLINED, None)
    assert not Transaction.objects.filter(status="success").exists()


def test_after_a_decline_a_good_card_under_a_new_key_places_the_order(api_client, shop):
    cart = cart_ready()
    declined = complete(api_client, cart, token="tok_declined", key="attempt-1")

    paid = complete(api_client, cart, token="tok_visa", key="attempt-2")

    assert declined.status_code == 402
    assert paid.status_code == 201, paid.json()
    order = Order.objects.get(cart=cart)
    assert order.number == paid.json()["number"]
    assert order.paid_total == order.total == CART_TOTAL
    assert [p.status for p in Payment.objects.filter(cart=cart).order_by("id")] == [
        "declined",
        "captured",
    ]
    assert order.payments.get().token == "tok_visa"
    assert_books_balance(order)
    assert_paid_once(order)
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.COMPLETED


def test_a_gateway_that_does_not_answer_is_a_502_and_leaves_nothing_behind(api_client, shop):
    cart = cart_ready()
    before = available(shop.tee_red)

    response = complete(api_client, cart, token="tok_error", key="attempt-1")

    assert response.status_code == 502
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "payment_gateway_error"
    assert not Order.objects.exists()
    assert active_cart_holds(cart) == []
    assert available(shop.tee_red) == before
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.OPEN
    assert lines_of(cart) == [("TEE-RED-M", 1)]
    assert not Payment.objects.filter(cart=cart, status__in=["pending", "authorized", "captured"])
    assert not GatewayOperation.objects.exists()
    assert not Transaction.objects.exists()
    # A server error is not kept under the key: the same key may simply be tried again.
    assert not IdempotencyRecord.objects.exists()
    retried = complete(api_client, cart, token="tok_visa", key="attempt-1")
    assert retried.status_code == 201, retried.json()
    assert "Idempotent-Replayed" not in retried
