"""Fixtures for the orders back office: the selling setup of the orders suite (tax rates, stock,
shipping methods; every test ends with the stock ledger reconciled) and orders placed by running
a checkout through the services, the way the storefront places them."""

from __future__ import annotations

import pytest

from commerce.models import Channel
from orders import services
from orders.models import Order
from orders.services import PaymentInput
from tests.orders.conftest import JP_ADDRESS, ledger_reconciles, shop  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """The production hasher costs ~0.3 s a password; these tests check behaviour, not cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def place_order(
    *,
    method: str = "card",
    token: str = "tok_visa",
    channel: str = "web-jp",
    email: str = "hanako@example.jp",
    lines: dict[str, int] | None = None,
    address: dict | None = None,
    shipping_method: str = "yamato",
) -> Order:
    """A checkout through the services: cart, lines, buyer's details, completion."""
    cart = services.cart_create(channel=Channel.objects.get(code=channel), email=email)
    for sku, quantity in (lines or {"TEE-RED-M": 1}).items():
        services.cart_line_set(cart, sku=sku, quantity=quantity)
    services.cart_update(
        cart, shipping_address=address or JP_ADDRESS, shipping_method=shipping_method
    )
    return services.checkout_complete(cart, payment=PaymentInput(method=method, token=token))
