"""The fulfilment API over HTTP: the omnichannel setup of `tests.fulfilment` (the `omni`
fixture on top of `tests.orders`' `shop`, and the stock ledger reconciled after every test),
staff clients with exactly the permissions a test gives them, signed-in customers, and orders
placed through the real checkout services.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from customers.models import Customer
from customers.services import account_register
from orders import services
from orders.models import Fulfilment, Order
from tests.conftest import HTTPS
from tests.factories import StaffFactory, UserFactory, token_for
from tests.fulfilment.conftest import OSAKA_ADDRESS, Omni, omni, receive, web_order  # noqa: F401
from tests.orders.conftest import JP_ADDRESS, ledger_reconciles, shop  # noqa: F401

PROBLEM = "application/problem+json"
# What warehouse and store staff are given: the staff orders endpoints' permissions.
ORDER_STAFF = ["orders.view_order", "orders.change_order"]
# A carrier's or 3PL's account: it reports tracking and nothing else.
CARRIER = ["orders.change_fulfilment"]
TILL = ["orders.add_order"]


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """The guest order lookup is throttled per client address in the cache."""
    cache.clear()


def client(token: str | None = None) -> APIClient:
    api = APIClient(**HTTPS)
    if token:
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def staff_api(username: str, permissions: Iterable[str] = ()) -> APIClient:
    """A staff member's client with exactly these permissions."""
    return client(token_for(StaffFactory(username=username, permissions=list(permissions))))


def customer_api(username: str) -> APIClient:
    """A signed-in user who is not staff (a customer's token on a staff endpoint)."""
    return client(token_for(UserFactory(username=username)))


def member(email: str) -> tuple[Customer, APIClient]:
    signed_in = account_register(email=email, password="Kyoto-autumn-leaves-42")
    return signed_in.customer, client(signed_in.token)


def customer_order(setup: Omni, customer: Customer, lines: list[tuple[str, int]]) -> Order:
    """A web-jp order of a signed-in customer to Tokyo by Yamato, paid by card."""
    cart = services.cart_create(channel=setup.yamato.channel, customer=customer)
    for sku, quantity in lines:
        services.cart_line_set(cart, sku=sku, quantity=quantity, add=True)
    services.cart_update(cart, shipping_address=JP_ADDRESS, shipping_method="yamato")
    return services.checkout_complete(
        cart, payment=services.PaymentInput(method="card", token="tok_visa")
    )


def only_fulfilment(order: Order) -> Fulfilment:
    (fulfilment,) = order.fulfilments.all()
    return fulfilment
