"""Fixtures for the fulfilment, phone-order and customer-360 back office: the omnichannel setup
of `tests.fulfilment` (the web shop's `shop` with a second warehouse in Osaka, the call centre
phone-jp and the Shibuya till, a Yamato carrier; every test ends with the stock ledger
reconciled), staff clients, and small helpers for the admin pages."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import HTTPS
from tests.factories import StaffFactory
from tests.fulfilment.conftest import (  # noqa: F401 (fixtures re-used by this package)
    OSAKA_ADDRESS,
    Omni,
    omni,
    receive,
    web_order,
)
from tests.orders.conftest import (  # noqa: F401 (fixtures re-used by this package)
    JP_ADDRESS,
    ledger_reconciles,
    shop,
)

PHONE = "/admin/orders/order/phone/"
FULFILMENTS = "/admin/orders/fulfilment/"
PICK_LIST = "/admin/orders/fulfilment/pick-list/"


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """The production hasher costs ~0.3 s a password; these tests check behaviour, not cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def staff_client(*permissions: str) -> Client:
    client = Client(**HTTPS)
    client.force_login(StaffFactory(permissions=list(permissions)))
    return client


def customer_360_url(customer_id: int) -> str:
    return f"/admin/orders/order/customer-360/{customer_id}/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def phone_form(**fields: str) -> dict[str, str]:
    """The phone order page as an agent fills it in: a new customer by e-mail, delivery to
    Tokyo by Yamato, cash on delivery; `fields` override."""
    data = {
        "find": "",
        "customer": "",
        "email": "",
        "phone": "",
        "last_name": "",
        "first_name": "",
        "lines": "",
        "delivery": "ship",
        "saved_address": "",
        "shipping_method": "yamato",
        "pickup_store": "",
        "payment_method": "cod",
        "card_token": "",
        "note": "",
        **{f"ship_{name}": value for name, value in JP_ADDRESS.items()},
    }
    data.update(fields)
    return data


__all__ = [
    "FULFILMENTS",
    "JP_ADDRESS",
    "OSAKA_ADDRESS",
    "PHONE",
    "PICK_LIST",
    "Omni",
    "customer_360_url",
    "messages_of",
    "phone_form",
    "receive",
    "staff_client",
    "web_order",
]
