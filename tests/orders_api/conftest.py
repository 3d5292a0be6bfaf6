"""Checkout completion, payments and idempotency through the API: the selling setup of
`tests.orders` (the `shop`, and the stock ledger reconciled after every test), carts made ready
for completion, the completion call, signed gateway notifications, and the checks the money
tests end with: an order's totals are the sums of its transactions, our books agree with the
test gateway's, and `order.paid` is published once.

A cart from `cart_ready` holds one Everyday Tee (TEE-RED-M, 2980 JPY) to Tokyo by Yamato
(800 JPY): 3780 JPY in all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Sum
from rest_framework.test import APIClient

from catalog.models import ProductVariant
from commerce.models import Channel, OutboxEvent
from customers.models import Customer
from inventory.models import Reservation
from orders import services
from orders.models import Cart, Order, Payment, TestGatewayOperation, Transaction
from orders.payments.gateways import TestGateway
from tests.conftest import HTTPS
from tests.factories import ProductVariantFactory, variant_price_set
from tests.inventory.conftest import receive
from tests.orders.conftest import (  # noqa: F401 (fixtures re-used by this package)
    JP_ADDRESS,
    Shop,
    ledger_reconciles,
    shop,
)

CART_TOTAL = Decimal("3780")
PROBLEM = "application/problem+json"
NOTIFICATIONS = "/api/v1/payments/notifications/test/"
T = Transaction


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """Signed-in buyers are registered with a password; these tests check behaviour, not cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    cache.clear()


def client(token: str | None = None) -> APIClient:
    """A new HTTPS API client (one per thread), signed in with `token` when given."""
    api = APIClient(**HTTPS)
    if token:
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def web_jp() -> Channel:
    return Channel.objects.get(code="web-jp")


def limited_variant(selling: Shop, *, warehouse: int, store: int = 0) -> ProductVariant:
    """A new tee SKU (TEE-LTD-L, 4980 JPY in web-jp) with exactly these units received."""
    variant = ProductVariantFactory(product=selling.tee, sku="TEE-LTD-L", name="Limited / L")
    variant_price_set(variant, web_jp(), "4980")
    if warehouse:
        receive(variant, selling.warehouse, warehouse)
    if store:
        receive(variant, selling.store, store)
    return variant


def cart_ready(
    *,
    sku: str = "TEE-RED-M",
    quantity: int = 1,
    email: str = "buyer@example.jp",
    customer: Customer | None = None,
) -> Cart:
    """A web-jp cart with everything checkout needs: the line, an e-mail, a Tokyo address and
    Yamato shipping. Made through the cart services, as the storefront's calls make it."""
    cart = services.cart_create(channel=web_jp(), customer=customer, email=email)
    cart = services.cart_line_set(cart, sku=sku, quantity=quantity)
    cart = services.cart_update(cart, shipping_address=JP_ADDRESS, shipping_method="yamato")
    return Cart.objects.get(pk=cart.pk)


def complete_body(token: str = "tok_visa", **extra: Any) -> dict[str, Any]:
    return {"payment": {"method": "card", "token": token}, **extra}


def complete_path(cart: Cart) -> str:
    return f"/api/v1/carts/{cart.token}/complete/"


def complete(
    api: APIClient, cart: Cart, *, token: str = "tok_visa", key: str | None = None, **extra: Any
):
    """POST the completion of `cart`, paying by card with the test `token`."""
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return api.post(complete_path(cart), complete_body(token, **extra), format="json", **headers)


def completer(cart: Cart, **kwargs: Any) -> Callable[[], Any]:
    """A completion call for a thread: its own client (and so its own request state)."""
    return lambda: complete(client(), cart, **kwargs)


# --- Gateway notifications ----------------------------------------------------------------------


def notification(
    payment: Payment,
    type: str,
    *,
    event_id: str,
    operation: TestGatewayOperation | None = None,
    amount: Decimal | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """What the test gateway would send about `operation` (one of its own books' rows)."""
    payload = {
        "id": event_id,
        "type": type,
        "merchant_reference": payment.idempotency_key,
        "payment_reference": operation.payment_reference if operation else "",
        "operation_reference": operation.reference if operation else "",
        "amount": str(amount if amount is not None else operation.amount),
    }
    if reason:
        payload["reason"] = reason
    return payload


def notify(api: APIClient, payload: Any, *, signature: str | None = None, raw: bytes | None = None):
    """POST a notification signed as the test gateway signs (or with `signature`)."""
    body = raw if raw is not None else json.dumps(payload, cls=DjangoJSONEncoder).encode()
    return api.post(
        NOTIFICATIONS,
        data=body,
        content_type="application/json",
        HTTP_GATEWAY_SIGNATURE=TestGateway.sign(body) if signature is None else signature,
    )


# --- What the money tests check -----------------------------------------------------------------


def successful(payment_filter: dict[str, Any], kind: str) -> Decimal:
    return Transaction.objects.filter(
        kind=kind, status=T.Status.SUCCESS, **payment_filter
    ).aggregate(total=Sum("amount"))["total"] or Decimal(0)


def gateway_sum(payment: Payment, kinds: list[str]) -> Decimal:
    return TestGatewayOperation.objects.filter(
        payment_reference=payment.gateway_reference, success=True, kind__in=kinds
    ).aggregate(total=Sum("amount"))["total"] or Decimal(0)


def assert_books_balance(order: Order) -> Order:
    """The order's paid and refunded totals are the sums of its successful transactions, and
    for every card payment what we recorded as captured and refunded is what the gateway's own
    books say it captured and refunded. Returns the order re-read."""
    order = Order.objects.get(pk=order.pk)
    assert order.paid_total == successful({"payment__order": order}, T.Kind.CAPTURE)
    assert order.refunded_total == successful({"payment__order": order}, T.Kind.REFUND)
    for payment in order.payments.filter(method="card"):
        assert successful({"payment": payment}, T.Kind.CAPTURE) == gateway_sum(
            payment, ["capture"]
        ), payment
        assert successful({"payment": payment}, T.Kind.REFUND) == gateway_sum(
            payment, ["refund"]
        ), payment
    return order


def order_events(order: Order, event_type: str) -> list[OutboxEvent]:
    return list(
        OutboxEvent.objects.filter(
            type=event_type, subject_type="order", subject_id=str(order.pk)
        ).order_by("pk")
    )


def assert_paid_once(order: Order) -> None:
    assert len(order_events(order, "order.paid")) == 1


def active_cart_holds(cart: Cart) -> list[Reservation]:
    return list(
        Reservation.objects.filter(
            reference=cart.reference, kind=Reservation.Kind.CART, state=Reservation.State.ACTIVE
        )
    )
