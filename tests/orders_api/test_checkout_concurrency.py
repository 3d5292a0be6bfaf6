"""Checkouts racing for the same stock through the API, in real threads on PostgreSQL (each
thread has its own database connection): no oversell, a 409 that names the SKU for everyone
else, no money taken from a buyer who got no order, and no stock row locked while the payment
provider answers."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connections
from django.utils import timezone

from inventory.models import Reservation, Stock
from inventory.selectors import availability_for_channel, stock_reconcile
from inventory.services import stock_adjust
from orders.models import Cart, Order, Payment, Transaction
from orders.models import TestGatewayOperation as GatewayOperation
from tests.inventory.conftest import run_concurrently
from tests.orders_api.conftest import (
    CART_TOTAL,
    assert_books_balance,
    assert_paid_once,
    cart_ready,
    client,
    complete,
    completer,
    limited_variant,
    web_jp,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_hundred_buyers_racing_for_ten_units_get_ten_orders_and_ninety_409s_naming_the_sku(
    shop,
):
    """100 completion calls, one per cart, each in its own thread with its own connection and
    API client, all released at once by a barrier (the throwaway PostgreSQL of `./dev test`
    allows 200 connections). The SKU has 10 units in all, 7 in the warehouse and 3 at the
    store, so winners are served from both."""
    limited = limited_variant(shop, warehouse=7, store=3)
    assert availability_for_channel(channel=web_jp(), variant_ids=[limited.pk]) == {limited.pk: 10}
    carts = [cart_ready(sku="TEE-LTD-L", email=f"buyer{i}@example.jp") for i in range(100)]

    started = time.monotonic()
    responses = run_concurrently(
        [completer(cart, key=f"checkout-{cart.pk}") for cart in carts], timeout=60
    )
    elapsed = time.monotonic() - started

    assert [r for r in responses if isinstance(r, BaseException)] == []
    assert Counter(r.status_code for r in responses) == {201: 10, 409: 90}, [
        (r.status_code, r.json()) for r in responses if r.status_code not in (201, 409)
    ]
    assert elapsed < 30
    won = {cart.pk for cart, r in zip(carts, responses, strict=True) if r.status_code == 201}
    lost = {cart.pk for cart, r in zip(carts, responses, strict=True) if r.status_code == 409}
    for response in responses:
        if response.status_code == 409:
            body = response.json()
            assert body["code"] == "insufficient_stock"
            assert body["sku"] == "TEE-LTD-L"
            assert body["variant_id"] == limited.pk
            assert "TEE-LTD-L" in body["detail"]

    orders = list(Order.objects.filter(lines__sku="TEE-LTD-L").distinct())
    assert len(orders) == 10
    assert {o.cart_id for o in orders} == won
    assert {r.json()["number"] for r in responses if r.status_code == 201} == {
        o.number for o in orders
    }
    for order in orders:
        assert [(line.sku, line.quantity) for line in order.lines.all()] == [("TEE-LTD-L", 1)]
        assert order.paid_total == order.total == 4980 + 800
        assert order.payment_status == "paid"
        assert_books_balance(order)
        assert_paid_once(order)
    assert set(Cart.objects.filter(pk__in=won).values_list("state", flat=True)) == {"completed"}

    # Every unit is allocated to an order, none is held by a refused cart, none is left.
    stocks = Stock.objects.filter(variant=limited)
    assert sum(s.allocated for s in stocks) == 10
    assert sum(s.on_hand for s in stocks) == 10
    assert availability_for_channel(channel=web_jp(), variant_ids=[limited.pk]) == {limited.pk: 0}
    assert not Reservation.objects.filter(
        kind="cart", state="active", reference__in=[c.reference for c in carts]
    ).exists()
    assert stock_reconcile() == []

    # A refused buyer was never charged: no payment, no gateway operation, the cart still open.
    assert not Payment.objects.filter(cart_id__in=lost).exists()
    assert set(Cart.objects.filter(pk__in=lost).values_list("state", flat=True)) == {"open"}
    winners_keys = set(
        Payment.objects.filter(cart_id__in=won).values_list("idempotency_key", flat=True)
    )
    assert set(GatewayOperation.objects.values_list("key", flat=True)) == winners_keys
    assert Payment.objects.count() == 10
    assert Transaction.objects.filter(kind="capture", status="success").count() == 10


def test_no_stock_row_is_locked_while_the_gateway_answers(shop, settings):
    """The gateway takes 3 s (`tok_slow`). While the checkout waits on it, a staff adjustment of
    the very stock row the checkout holds its unit from (the warehouse's: it comes first for
    Tokyo) commits at once."""
    settings.ORDERS_TEST_GATEWAY_SLOW_SECONDS = 3
    cart = cart_ready()
    row = Stock.objects.get(variant=shop.tee_red, location=shop.warehouse)
    outcome = {}

    def checkout() -> None:
        try:
            outcome["response"] = complete(client(), cart, token="tok_slow", key="slow-1")
        except BaseException as exc:
            outcome["response"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=checkout)
    thread.start()
    try:
        # The payment is written (and the stock held) before the gateway is called.
        deadline = time.monotonic() + 2
        while not Payment.objects.filter(cart=cart, status=Payment.Status.PENDING).exists():
            if time.monotonic() > deadline:
                break  # still go on: a checkout holding its locks would show nothing yet
            time.sleep(0.02)
        adjusting_from = timezone.now()
        started = time.monotonic()
        stock_adjust(
            variant_id=row.variant_id,
            location_id=row.location_id,
            delta=-1,
            reason="adjustment",
            note="Damaged in the warehouse",
        )
        adjusted_in = time.monotonic() - started
        still_at_gateway = thread.is_alive()
    finally:
        thread.join(30)

    assert adjusted_in < 1.0
    assert still_at_gateway, "the checkout should still have been waiting on the gateway"
    response = outcome["response"]
    assert not isinstance(response, BaseException), response
    assert response.status_code == 201, response.json()
    order = Order.objects.get(number=response.json()["number"])
    assert order.payments.get().created_at < adjusting_from  # it was at the gateway by then
    assert order.total == order.paid_total == CART_TOTAL
    assert_books_balance(order)
    (allocation,) = Reservation.objects.filter(reference=order.reference, state="active")
    assert allocation.stock_id == row.pk
    row.refresh_from_db()
    assert (row.on_hand, row.allocated) == (49, 1)


def test_a_double_submit_and_a_second_tab_make_one_order_and_one_charge(shop, settings):
    """Five completion calls for one cart at once while the gateway takes half a second: two
    without a key (a double click), three under keys of their own (other tabs). All answer with
    the one order; the gateway charged once."""
    settings.ORDERS_TEST_GATEWAY_SLOW_SECONDS = 0.5
    cart = cart_ready()
    keys = [None, None, "tab-1", "tab-2", "tab-3"]

    responses = run_concurrently([completer(cart, token="tok_slow", key=key) for key in keys])

    assert [r for r in responses if isinstance(r, BaseException)] == []
    assert [r.status_code for r in responses] == [201] * 5, [r.json() for r in responses]
    order = Order.objects.get(cart=cart)
    assert {r.json()["number"] for r in responses} == {order.number}
    assert Payment.objects.filter(cart=cart).count() == 1
    assert GatewayOperation.objects.count() == 1
    assert Transaction.objects.filter(kind="capture").count() == 1
    order = assert_books_balance(order)
    assert order.paid_total == CART_TOTAL
    assert_paid_once(order)
