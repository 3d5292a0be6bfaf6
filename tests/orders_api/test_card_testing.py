"""Card testing: declined cards are limited per cart, per client and per card token. Past a limit
checkout answers 429 `too_many_declines` with Retry-After without calling the gateway, and the
cart is closed for payment; every attempt is recorded for the fraud checks, without the token.

Defaults: 3 declines per cart, 10 per client address an hour, 3 per card token a day. The test
gateway declines `tok_declined` and any token it does not know (`tok_stolen_1`, ...)."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from orders import services
from orders.models import Cart, Payment, PaymentAttempt
from orders.models import TestGatewayOperation as GatewayOperation
from orders.payments.card_testing import token_fingerprint
from tests.conftest import HTTPS
from tests.orders_api.conftest import (
    CART_TOTAL,
    PROBLEM,
    active_cart_holds,
    cart_ready,
    complete,
)

A = PaymentAttempt.Outcome


def client_at(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address, **HTTPS)


def gateway_calls() -> int:
    return GatewayOperation.objects.count()


def assert_too_many_declines(response, limit: str) -> dict:
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == PROBLEM
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["code"] == "too_many_declines"
    assert body["limit"] == limit
    assert body["retry_after"] == int(response["Retry-After"])
    assert "start a new cart" in body["detail"]
    return body


@pytest.mark.django_db
def test_the_decline_after_the_third_on_a_cart_is_a_429_and_never_reaches_the_gateway(
    api_client, shop
):
    cart = cart_ready()
    declined = [complete(api_client, cart, token="tok_declined") for _ in range(3)]
    assert [r.status_code for r in declined] == [402, 402, 402]
    assert gateway_calls() == 3
    started = api_client.post(f"/api/v1/carts/{cart.token}/checkout/", format="json")
    assert started.status_code == 200, started.json()
    assert active_cart_holds(cart) != []

    refused = complete(api_client, cart, token="tok_declined", key="attempt-4")

    body = assert_too_many_declines(refused, "cart")
    assert body["detail"].startswith("This cart has had too many declined payments.")
    assert gateway_calls() == 3
    assert Payment.objects.filter(cart=cart).count() == 3
    cart = Cart.objects.get(pk=cart.pk)
    assert cart.payment_closed_at is not None
    assert cart.payment_closed_reason == body["detail"]
    assert cart.hold_expires_at is None
    assert active_cart_holds(cart) == []
    # Closed for payment: even a good card is refused on this cart, and it goes nowhere.
    good_card = complete(api_client, cart, token="tok_visa")
    assert_too_many_declines(good_card, "cart")
    assert gateway_calls() == 3
    assert list(
        PaymentAttempt.objects.filter(cart=cart).order_by("id").values_list("outcome", flat=True)
    ) == [A.DECLINED, A.DECLINED, A.DECLINED, A.REFUSED, A.REFUSED]
    # A fresh cart pays.
    fresh = complete(api_client, cart_ready(), token="tok_visa")
    assert fresh.status_code == 201, fresh.json()


@pytest.mark.django_db
def test_a_card_token_declined_three_times_is_refused_on_another_cart(shop):
    first, second = cart_ready(), cart_ready(email="other@example.jp")
    assert complete(client_at("10.0.0.1"), first, token="tok_declined").status_code == 402
    assert complete(client_at("10.0.0.1"), first, token="tok_declined").status_code == 402
    assert complete(client_at("10.0.0.2"), second, token="tok_declined").status_code == 402

    refused = complete(client_at("10.0.0.3"), second, token="tok_declined")

    body = assert_too_many_declines(refused, "card")
    assert body["detail"].startswith("This card has been declined too many times.")
    # The wait is until the first decline is a day old.
    assert 86400 - 60 <= body["retry_after"] <= 86400
    assert gateway_calls() == 3
    assert Cart.objects.get(pk=second.pk).payment_closed_at is not None
    assert Cart.objects.get(pk=first.pk).payment_closed_at is None
    other_card = complete(client_at("10.0.0.3"), cart_ready(), token="tok_visa")
    assert other_card.status_code == 201, other_card.json()


@pytest.mark.django_db
def test_ten_declines_from_one_client_over_several_carts_refuse_the_eleventh(shop):
    tester, honest = client_at("203.0.113.9"), client_at("198.51.100.7")
    carts = [cart_ready(email=f"t{i}@example.jp") for i in range(4)]
    tokens = iter(f"tok_stolen_{n}" for n in range(20))
    answers = [
        complete(tester, cart, token=next(tokens)).status_code
        for cart, tries in zip(carts, [3, 3, 3, 1], strict=True)
        for _ in range(tries)
    ]
    assert answers == [402] * 10

    refused = complete(tester, carts[3], token=next(tokens))

    body = assert_too_many_declines(refused, "client")
    assert body["detail"].startswith("Too many payments from this device were declined.")
    assert 3600 - 60 <= body["retry_after"] <= 3600
    assert gateway_calls() == 10
    assert_too_many_declines(complete(tester, cart_ready(), token="tok_visa"), "client")
    assert gateway_calls() == 10
    # Another client is not held back by this one.
    assert complete(honest, cart_ready(), token=next(tokens)).status_code == 402
    assert complete(honest, cart_ready(), token="tok_visa").status_code == 201


@pytest.mark.django_db
def test_behind_a_proxy_clients_are_told_apart_by_the_forwarded_address(shop, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.ORDERS_DECLINES_PER_CLIENT = 2
    proxy = "10.1.1.1"

    def via_proxy(address: str) -> APIClient:
        return APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=address, **HTTPS)

    for n in range(2):
        assert complete(via_proxy("192.0.2.1"), cart_ready(), token=f"tok_a{n}").status_code == 402

    assert_too_many_declines(
        complete(via_proxy("192.0.2.1"), cart_ready(), token="tok_a9"), "client"
    )
    assert complete(via_proxy("192.0.2.2"), cart_ready(), token="tok_b0").status_code == 402
    assert set(PaymentAttempt.objects.values_list("client_ip", flat=True)) == {
        "192.0.2.1",
        "192.0.2.2",
    }


@pytest.mark.django_db
def test_once_the_window_has_passed_a_fresh_cart_pays_again(shop):
    tester = client_at("203.0.113.9")
    cart = cart_ready()
    for _ in range(3):
        assert complete(tester, cart, token="tok_declined").status_code == 402
    assert_too_many_declines(complete(tester, cart_ready(), token="tok_declined"), "card")

    # A day and a second later (the token's window; the client's hour has passed too).
    PaymentAttempt.objects.update(created_at=timezone.now() - timedelta(days=1, seconds=1))

    assert complete(tester, cart_ready(), token="tok_declined").status_code == 402
    assert complete(tester, cart_ready(), token="tok_visa").status_code == 201
    # The closed cart stays closed: its own three declines never leave it.
    assert_too_many_declines(complete(tester, cart, token="tok_visa"), "cart")


@pytest.mark.django_db
def test_a_429_is_not_kept_for_its_idempotency_key_so_a_retry_is_told_its_own_wait(shop):
    """A refusal to wait is about the moment, not the request: a retry with the same key is
    refused afresh, with a Retry-After of its own, instead of a replay without one."""
    tester = client_at("203.0.113.9")
    for _ in range(3):
        assert complete(tester, cart_ready(), token="tok_declined").status_code == 402
    cart = cart_ready()
    assert_too_many_declines(complete(tester, cart, token="tok_declined", key="pay-1"), "card")

    retried = complete(tester, cart, token="tok_declined", key="pay-1")

    assert_too_many_declines(retried, "cart")  # the cart was closed by the first refusal
    assert "Idempotent-Replayed" not in retried
    assert gateway_calls() == 3


@pytest.mark.django_db
def test_a_decline_is_recorded_for_the_fraud_checks_without_the_card_token(shop):
    cart = cart_ready()

    response = complete(client_at("203.0.113.9"), cart, token="tok_declined")

    assert response.status_code == 402
    (attempt,) = PaymentAttempt.objects.all()
    payment = Payment.objects.get(cart=cart)
    assert attempt.payment == payment
    assert (attempt.cart, attempt.channel, attempt.customer) == (cart, cart.channel, None)
    assert attempt.client_ip == "203.0.113.9"
    assert (attempt.amount, attempt.currency) == (CART_TOTAL, "JPY")
    assert attempt.outcome == A.DECLINED
    assert attempt.reason == "Card declined: insufficient funds."
    assert attempt.token_fingerprint == token_fingerprint("tok_declined")
    assert len(attempt.token_fingerprint) == 64
    assert token_fingerprint("tok_declined") != token_fingerprint("tok_visa")
    values = PaymentAttempt.objects.values().get()
    assert not [field for field, value in values.items() if "tok_declined" in str(value)]
    # The declined payment is never sent again, so its token is not kept either.
    assert payment.token == ""


@pytest.mark.django_db
def test_staff_doors_are_not_limited_per_client_but_per_card(shop):
    """Phone orders and till sales call checkout with no client address (a call centre or a
    store's tills are one address for all their customers): only the cart and the card count."""

    def take(token: str):
        return services.checkout_complete(
            cart_ready(), payment=services.PaymentInput(method="card", token=token)
        )

    for n in range(12):
        with pytest.raises(services.PaymentDeclined):
            take(f"tok_caller_{n}")
    for _ in range(3):
        with pytest.raises(services.PaymentDeclined):
            take("tok_declined")

    with pytest.raises(services.TooManyDeclines) as refused:
        take("tok_declined")

    assert refused.value.extra["limit"] == "card"
    assert refused.value.status == 429
    assert gateway_calls() == 15
    assert set(PaymentAttempt.objects.values_list("client_ip", flat=True)) == {""}


@pytest.mark.django_db(transaction=True)
def test_parallel_declines_on_many_carts_cannot_slip_past_the_card_limit(shop):
    """Eight carts paid at once with one card: the token's limit is counted under a lock, with
    unanswered attempts counted, so exactly three reach the gateway."""
    carts = [cart_ready(email=f"p{i}@example.jp") for i in range(8)]
    barrier = threading.Barrier(len(carts))
    statuses: list[int] = []

    def pay(cart: Cart) -> None:
        try:
            barrier.wait(timeout=10)
            statuses.append(
                complete(
                    client_at(f"10.9.0.{cart.pk % 250}"), cart, token="tok_declined"
                ).status_code
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=pay, args=(cart,)) for cart in carts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [402, 402, 402, 429, 429, 429, 429, 429]
    assert gateway_calls() == 3


@pytest.mark.django_db
def test_staff_see_repeated_declines_and_closed_carts_in_the_admin(
    shop, superuser_client, plain_static_files
):
    tester = client_at("203.0.113.9")
    closed = cart_ready(email="tester@example.jp")
    for _ in range(3):
        complete(tester, closed, token="tok_declined")
    complete(tester, closed, token="tok_declined")
    once = cart_ready(email="once@example.jp")
    complete(client_at("198.51.100.7"), once, token="tok_other_card")

    attempts = superuser_client.get("/admin/orders/paymentattempt/", {"repeated": "card"})
    carts = superuser_client.get("/admin/orders/cart/", {"payment_closed_at__isempty": "0"})

    assert attempts.status_code == 200
    listed = list(attempts.context["cl"].result_list)
    assert {a.cart_id for a in listed} == {closed.pk}
    assert len(listed) == 4  # three declines and the refusal
    assert token_fingerprint("tok_declined")[:12] in attempts.content.decode()
    assert "tok_declined" not in attempts.content.decode()
    assert carts.status_code == 200
    assert [c.pk for c in carts.context["cl"].result_list] == [closed.pk]
    page = superuser_client.get(f"/admin/orders/paymentattempt/{listed[0].pk}/change/")
    assert page.status_code == 200
    assert "tok_declined" not in page.content.decode()


@pytest.mark.django_db
def test_the_customer_360_page_shows_a_customers_declined_card_payments(
    shop, superuser_client, plain_static_files
):
    from customers import services as customers

    hanako = customers.customer_create(email="hanako@example.jp", first_name="Hanako")
    url = f"/admin/orders/order/customer-360/{hanako.pk}/"
    before = dict(superuser_client.get(url).context["identity"])
    cart = cart_ready(customer=hanako, email="")
    for _ in range(4):  # three declines, then the refusal
        with contextlib.suppress(services.PaymentDeclined, services.TooManyDeclines):
            services.checkout_complete(
                Cart.objects.get(pk=cart.pk),
                payment=services.PaymentInput(method="card", token="tok_declined"),
            )

    response = superuser_client.get(url)

    assert before["Declined card payments (30 days)"] == "0"
    shown = dict(response.context["identity"])["Declined card payments (30 days)"]
    assert f'?customer={hanako.pk}"><strong>4</strong></a>' in shown
    listed = superuser_client.get(f"/admin/orders/paymentattempt/?customer={hanako.pk}")
    assert listed.status_code == 200
    assert len(listed.context["cl"].result_list) == 4
