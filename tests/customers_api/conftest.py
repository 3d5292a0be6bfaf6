"""Fixtures for the customers REST API: clients per identity, registered customers, a programme.

Data is made through `customers.services`, the way the product makes it. Every test starts with
an empty cache (the throttles count there) and a fast password hasher.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.test import APIClient

from customers import services
from customers.models import Address, Customer, EarnRate, LoyaltyProgramme, Tier
from tests.conftest import HTTPS
from tests.factories import StaffFactory, token_for

PROBLEM = "application/problem+json"
PASSWORD = "Kyoto-autumn-leaves-42"


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """The production hasher costs ~0.3 s a password; these tests check behaviour, not cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """Throttle counters live in the default (locmem) cache: no test inherits another's."""
    cache.clear()


def client(token: str | None = None, **headers: str) -> APIClient:
    """An HTTPS API client, signed in with `token` when one is given."""
    api = APIClient(**HTTPS, **headers)
    if token:
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


@dataclass
class Member:
    """A registered storefront customer with their token and a signed-in client."""

    customer: Customer
    token: str
    api: APIClient
    password: str = PASSWORD

    def reload(self) -> Customer:
        return Customer.objects.get(pk=self.customer.pk)


def register(email: str, *, password: str = PASSWORD, **profile) -> Member:
    signed_in = services.account_register(email=email, password=password, **profile)
    return Member(customer=signed_in.customer, token=signed_in.token, api=client(signed_in.token))


def address(customer: Customer, **fields) -> Address:
    values = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "line1": "1-2-3 Shibuya",
        "city": "Shibuya-ku",
        "region": "Tokyo",
        "postal_code": "150-0002",
        "country": "JP",
        **fields,
    }
    return services.address_create(customer, **values)


@pytest.fixture
def alice(db) -> Member:
    return register("alice@example.com", first_name="Alice", last_name="Abe")


@pytest.fixture
def bob(db) -> Member:
    return register("bob@example.com", first_name="Bob", last_name="Baba")


@pytest.fixture
def programme(db) -> LoyaltyProgramme:
    """Friends: 1 point per 100 JPY; Member from 0, Silver from 500, Gold (x2) from 2,000."""
    programme = LoyaltyProgramme.objects.create(name="Friends", points_expire_after_days=365)
    EarnRate.objects.create(programme=programme, currency="JPY", spend=Decimal(100), points=1)
    Tier.objects.create(programme=programme, name="Member", threshold=0, benefits="Birthday gift")
    Tier.objects.create(programme=programme, name="Silver", threshold=500)
    Tier.objects.create(programme=programme, name="Gold", threshold=2000, multiplier=Decimal(2))
    return programme


def customers_permissions(*, but: Iterable[str] = ()) -> list[str]:
    """Every permission of the customers app ("customers.codename"), except those in `but`."""
    excluded = set(but)
    names = [
        f"customers.{codename}"
        for codename in Permission.objects.filter(content_type__app_label="customers")
        .order_by("codename")
        .values_list("codename", flat=True)
    ]
    return [name for name in names if name not in excluded]


@pytest.fixture
def staff_client(db) -> Callable[..., APIClient]:
    """`staff_client(["customers.view_customer"])`: a client of a staff member with exactly
    these permissions (none when the list is empty)."""
    made = 0

    def make(permissions: Iterable[str] = (), *, username: str | None = None) -> APIClient:
        nonlocal made
        made += 1
        user = StaffFactory(username=username or f"staff{made}", permissions=list(permissions))
        return client(token_for(user))

    return make
