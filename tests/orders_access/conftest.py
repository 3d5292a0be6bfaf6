"""Fixtures for access control on carts and orders: the selling setup of `tests.orders` (the
`shop`, and the stock ledger reconciled after every test), registered customers with signed-in
clients, staff with exactly the permissions a test gives them, and orders placed through the
API the way a buyer places them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from customers.models import Customer
from customers.services import account_register
from orders.models import Order
from tests.conftest import HTTPS
from tests.factories import StaffFactory, token_for
from tests.orders.conftest import JP_ADDRESS, ledger_reconciles, shop  # noqa: F401

PASSWORD = "Kyoto-autumn-leaves-42"


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """Customers are registered with a password; these tests check access, not hashing cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """The order lookup is throttled per client address in the cache: no test inherits counts."""
    cache.clear()


def client(token: str | None = None) -> APIClient:
    api = APIClient(**HTTPS)
    if token:
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


@dataclass
class Member:
    customer: Customer
    api: APIClient


def register(email: str) -> Member:
    signed_in = account_register(email=email, password=PASSWORD)
    return Member(customer=signed_in.customer, api=client(signed_in.token))


@pytest.fixture
def alice(db) -> Member:
    return register("alice@example.com")


@pytest.fixture
def bob(db) -> Member:
    return register("bob@example.com")


@pytest.fixture
def staff_client(db) -> Callable[..., APIClient]:
    """`staff_client(["orders.view_order"])`: a staff member's client with exactly these
    permissions (none for an empty list)."""
    made = 0

    def make(permissions: Iterable[str] = ()) -> APIClient:
        nonlocal made
        made += 1
        user = StaffFactory(username=f"staff{made}", permissions=list(permissions))
        return client(token_for(user))

    return make


def cart_ready(api: APIClient, *, email: str, lines: dict[str, int] | None = None) -> str:
    """A web-jp cart of `api`'s caller, ready to complete: one red tee to Tokyo by Yamato
    (2980 + 800 = 3780 JPY) unless `lines` says otherwise."""
    r = api.post("/api/v1/channels/web-jp/carts/", {}, format="json")
    assert r.status_code == 201, r.content
    token = r.json()["token"]
    for sku, quantity in (lines or {"TEE-RED-M": 1}).items():
        r = api.post(f"/api/v1/carts/{token}/lines/", {"sku": sku, "quantity": quantity})
        assert r.status_code == 200, r.content
    r = api.patch(
        f"/api/v1/carts/{token}/",
        {"email": email, "shipping_address": JP_ADDRESS, "shipping_method": "yamato"},
        format="json",
    )
    assert r.status_code == 200, r.content
    return token


def place(api: APIClient, *, email: str, **body) -> Order:
    """An order placed through the API by `api`'s caller, paid by card."""
    token = cart_ready(api, email=email)
    r = api.post(
        f"/api/v1/carts/{token}/complete/",
        {"payment": {"method": "card", "token": "tok_visa"}, **body},
        format="json",
    )
    assert r.status_code == 201, r.content
    return Order.objects.get(number=r.json()["number"])
