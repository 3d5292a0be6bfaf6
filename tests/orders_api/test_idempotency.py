"""`Idempotency-Key` on the completion call: a retry gets the first answer, never a second order
or a second charge; a key belongs to its caller; another body under the same key is refused; an
expired key is a new key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.selectors import availability_for_channel
from inventory.services import stock_adjust
from orders.models import Cart, IdempotencyRecord, Order, Payment, Transaction
from orders.models import TestGatewayOperation as GatewayOperation
from tests.customers_api.conftest import register
from tests.inventory.conftest import receive, run_concurrently
from tests.orders_api.conftest import (
    CART_TOTAL,
    PROBLEM,
    assert_books_balance,
    assert_paid_once,
    cart_ready,
    client,
    complete,
    completer,
    limited_variant,
    web_jp,
)


@pytest.mark.django_db(transaction=True)
def test_ten_retries_with_one_key_some_concurrent_make_one_order_and_one_capture(shop, settings):
    """Four calls at once while the gateway takes half a second, then three one after another,
    then three at once again: all with the same key and body."""
    settings.ORDERS_TEST_GATEWAY_SLOW_SECONDS = 0.5
    cart = cart_ready()
    key = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"

    first_wave = run_concurrently([completer(cart, token="tok_slow", key=key) for _ in range(4)])
    one_by_one = [complete(client(), cart, token="tok_slow", key=key) for _ in range(3)]
    last_wave = run_concurrently([completer(cart, token="tok_slow", key=key) for _ in range(3)])
    responses = [*first_wave, *one_by_one, *last_wave]

    assert [r for r in responses if isinstance(r, BaseException)] == []
    assert len(responses) == 10
    assert {r.status_code for r in responses} <= {201, 409}
    assert [r.status_code for r in [*one_by_one, *last_wave]] == [201] * 6
    in_use = [r for r in responses if r.status_code == 409]
    assert len(in_use) <= 3  # only the first wave could find the first call still running
    for response in in_use:
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "idempotency_key_in_use"
    numbers = {r.json()["number"] for r in responses if r.status_code == 201}
    assert len(numbers) == 1
    fresh = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r]
    assert len(fresh) == 1  # every other 2xx is the stored answer, replayed
    assert all(r["Idempotent-Replayed"] == "true" for r in [*one_by_one, *last_wave])

    order = Order.objects.get(cart=cart)
    assert order.number == numbers.pop()
    assert Payment.objects.filter(cart=cart).count() == 1
    assert order.payments.count() == 1
    assert Transaction.objects.filter(kind="capture", status="success").count() == 1
    assert GatewayOperation.objects.filter(kind="capture").count() == 1
    assert GatewayOperation.objects.count() == 1
    assert order.paid_total == CART_TOTAL
    assert_books_balance(order)
    assert_paid_once(order)


@pytest.mark.django_db
def test_a_replay_returns_the_first_response_marked_as_replayed(api_client, shop):
    cart = cart_ready()

    first = complete(api_client, cart, key="k-1")
    again = complete(api_client, cart, key="k-1")

    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Order.objects.filter(cart=cart).count() == 1
    assert GatewayOperation.objects.count() == 1


@pytest.mark.django_db
def test_a_declined_payment_is_replayed_without_asking_the_gateway_again(api_client, shop):
    cart = cart_ready()

    first = complete(api_client, cart, token="tok_declined", key="k-1")
    again = complete(api_client, cart, token="tok_declined", key="k-1")

    assert first.status_code == again.status_code == 402
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == PROBLEM
    assert again.json() == first.json()
    assert again.json()["code"] == "payment_declined"
    assert GatewayOperation.objects.count() == 1
    assert Payment.objects.filter(cart=cart).count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused_with_422(api_client, shop):
    cart = cart_ready()
    first = complete(api_client, cart, key="k-1")

    other = complete(api_client, cart, token="tok_slow", key="k-1")
    other_total = complete(api_client, cart, key="k-1", expected_total="3780")

    assert first.status_code == 201
    for response in (other, other_total):
        assert response.status_code == 422
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "idempotency_key_reused"
        assert "Idempotent-Replayed" not in response
    assert Order.objects.filter(cart=cart).count() == 1
    assert Payment.objects.filter(cart=cart).count() == 1
    assert GatewayOperation.objects.count() == 1
    # The key still answers the request it was first used for.
    assert complete(api_client, cart, key="k-1").json() == first.json()


@pytest.mark.django_db
def test_guests_using_the_same_key_string_each_get_their_own_order(shop):
    ann, ben = cart_ready(email="ann@example.jp"), cart_ready(email="ben@example.jp")

    for_ann = complete(client(), ann, key="order-1")
    for_ben = complete(client(), ben, key="order-1")

    assert for_ann.status_code == for_ben.status_code == 201
    assert "Idempotent-Replayed" not in for_ben
    assert for_ann.json()["number"] != for_ben.json()["number"]
    assert Order.objects.get(number=for_ann.json()["number"]).cart == ann
    assert Order.objects.get(number=for_ben.json()["number"]).cart == ben
    assert for_ben.json()["email"] == "ben@example.jp"
    assert IdempotencyRecord.objects.filter(key="order-1").count() == 2


@pytest.mark.django_db
def test_signed_in_customers_using_the_same_key_string_each_get_their_own_order(shop):
    alice = register("alice@example.com", first_name="Alice", last_name="Abe")
    bob = register("bob@example.com", first_name="Bob", last_name="Baba")
    alices_cart = cart_ready(email="", customer=alice.customer)
    bobs_cart = cart_ready(email="", customer=bob.customer)

    for_alice = complete(alice.api, alices_cart, key="checkout")
    for_bob = complete(bob.api, bobs_cart, key="checkout")

    assert for_alice.status_code == for_bob.status_code == 201, for_bob.json()
    assert "Idempotent-Replayed" not in for_bob
    alices_order = Order.objects.get(number=for_alice.json()["number"])
    bobs_order = Order.objects.get(number=for_bob.json()["number"])
    assert alices_order != bobs_order
    assert (alices_order.customer, alices_order.cart) == (alice.customer, alices_cart)
    assert (bobs_order.customer, bobs_order.cart) == (bob.customer, bobs_cart)
    assert for_bob.json()["email"] == "bob@example.com"
    # Bob cannot complete Alice's cart with her key either: her cart is not his to see.
    assert complete(bob.api, alices_cart, key="checkout").status_code == 404


@pytest.mark.django_db
def test_an_expired_key_runs_the_request_again(api_client, shop):
    """The first answer was a 409 (the last unit was written off); stock came in. While the key
    lives the 409 is replayed; once it has expired the same request runs anew and orders."""
    limited = limited_variant(shop, warehouse=1)
    cart = cart_ready(sku="TEE-LTD-L")
    warehouse = shop.warehouse.pk
    stock_adjust(variant_id=limited.pk, location_id=warehouse, delta=-1, reason="adjustment")

    short = complete(api_client, cart, key="k-1")
    receive(limited, shop.warehouse, 1)
    replayed = complete(api_client, cart, key="k-1")
    IdempotencyRecord.objects.filter(key="k-1").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    anew = complete(api_client, cart, key="k-1")

    assert short.status_code == replayed.status_code == 409
    assert short.json()["code"] == "insufficient_stock"
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == short.json()
    assert anew.status_code == 201, anew.json()
    assert "Idempotent-Replayed" not in anew
    assert Order.objects.get(cart=cart).number == anew.json()["number"]
    record = IdempotencyRecord.objects.get(key="k-1")
    assert record.response_status == 201
    assert record.expires_at > timezone.now()
    assert availability_for_channel(channel=web_jp(), variant_ids=[limited.pk]) == {limited.pk: 0}
    assert Cart.objects.get(pk=cart.pk).state == "completed"
