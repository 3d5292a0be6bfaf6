"""An order's paid and refunded totals are the sums of its transactions after every staff money
action (capture, partial capture, refund, cancel), a capture the issuer refuses is a 402 that
flags the order, and the order events carry what their consumers need — `order.paid` once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from inventory.models import Reservation
from orders.models import Order, Payment, Transaction
from orders.models import TestGatewayOperation as GatewayOperation
from tests.customers_api.conftest import register
from tests.factories import StaffFactory, token_for
from tests.inventory.conftest import run_concurrently
from tests.orders_api.conftest import (
    CART_TOTAL,
    PROBLEM,
    assert_books_balance,
    assert_paid_once,
    cart_ready,
    client,
    complete,
    notification,
    notify,
    order_events,
)

pytestmark = pytest.mark.django_db
T = Transaction
P = Order.PaymentStatus


@pytest.fixture
def staff_token(db) -> str:
    user = StaffFactory(
        username="cashier", permissions=["orders.view_order", "orders.change_order"]
    )
    return token_for(user)


@pytest.fixture
def staff(staff_token: str) -> APIClient:
    return client(staff_token)


@pytest.fixture
def authorize_only(settings) -> None:
    """Cards are authorized at checkout and captured by staff (when the goods ship)."""
    settings.ORDERS_CARD_CAPTURE = "authorize"


def place(token: str = "tok_visa", **cart) -> Order:
    response = complete(client(), cart_ready(**cart), token=token)
    assert response.status_code == 201, response.json()
    return Order.objects.get(number=response.json()["number"])


def act(staff: APIClient, order: Order, action: str, **body):
    return staff.post(f"/api/v1/staff/orders/{order.number}/{action}/", body, format="json")


def totals(order: Order) -> tuple[Decimal, Decimal, Decimal, str]:
    order = assert_books_balance(order)
    return order.authorized_total, order.paid_total, order.refunded_total, order.payment_status


def test_capture_in_parts_refund_in_part_and_cancel_keep_totals_equal_to_transactions(
    shop, staff, authorize_only
):
    order = place()
    assert totals(order) == (CART_TOTAL, 0, 0, P.AUTHORIZED)
    assert order_events(order, "order.paid") == []

    first = act(staff, order, "capture", amount="1000")
    assert first.status_code == 200, first.json()
    assert first.json()["paid_total"] == "1000"
    assert totals(order) == (Decimal("2780"), Decimal("1000"), 0, P.PARTIALLY_PAID)
    assert order_events(order, "order.paid") == []

    rest = act(staff, order, "capture")
    assert rest.status_code == 200, rest.json()
    assert totals(order) == (0, CART_TOTAL, 0, P.PAID)
    assert_paid_once(order)

    refund = act(staff, order, "refund", amount="500", reason="Stain on the sleeve")
    assert refund.status_code == 200, refund.json()
    assert totals(order) == (0, CART_TOTAL, Decimal("500"), P.PARTIALLY_REFUNDED)
    (refunded,) = order_events(order, "order.refunded")
    assert Decimal(refunded.payload["amount"]) == Decimal("500")
    assert Decimal(refunded.payload["refunded_total"]) == Decimal("500")

    cancelled = act(staff, order, "cancel", reason="Customer asked")
    assert cancelled.status_code == 200, cancelled.json()
    order = Order.objects.get(pk=order.pk)
    assert order.status == Order.Status.CANCELLED
    assert totals(order) == (0, CART_TOTAL, CART_TOTAL, P.REFUNDED)
    assert [Decimal(e.payload["amount"]) for e in order_events(order, "order.refunded")] == [
        Decimal("500"),
        Decimal("3280"),
    ]
    assert len(order_events(order, "order.cancelled")) == 1
    assert not Reservation.objects.filter(reference=order.reference, state="active").exists()
    assert_paid_once(order)
    # A refund beyond what is left is refused and changes nothing.
    assert act(staff, order, "refund", amount="1").status_code == 409
    assert totals(order) == (0, CART_TOTAL, CART_TOTAL, P.REFUNDED)


def test_cancelling_an_authorized_order_voids_the_authorization(shop, staff, authorize_only):
    order = place()

    response = act(staff, order, "cancel", reason="Out of stock at the supplier")

    assert response.status_code == 200, response.json()
    assert totals(order) == (0, 0, 0, P.NOT_CHARGED)
    payment = order.payments.get()
    assert payment.status == Payment.Status.VOIDED
    assert payment.transactions.filter(kind=T.Kind.VOID, status=T.Status.SUCCESS).count() == 1
    assert not payment.transactions.filter(kind=T.Kind.REFUND).exists()
    assert GatewayOperation.objects.filter(kind="void").count() == 1
    assert order_events(order, "order.paid") == []
    assert order_events(order, "order.refunded") == []
    assert len(order_events(order, "order.cancelled")) == 1


def test_cancelling_a_partly_captured_order_refunds_the_capture_and_voids_the_rest(
    shop, staff, authorize_only
):
    order = place()
    assert act(staff, order, "capture", amount="1000").status_code == 200

    response = act(staff, order, "cancel", reason="Customer asked")

    assert response.status_code == 200, response.json()
    assert totals(order) == (0, Decimal("1000"), Decimal("1000"), P.REFUNDED)
    payment = order.payments.get()
    assert payment.transactions.filter(kind=T.Kind.VOID, status=T.Status.SUCCESS).count() == 1
    assert GatewayOperation.objects.filter(kind="void").count() == 1


def test_a_full_refund_of_a_captured_card_order(shop, staff):
    order = place()
    assert totals(order) == (0, CART_TOTAL, 0, P.PAID)

    response = act(staff, order, "refund", reason="Returned")

    assert response.status_code == 200, response.json()
    assert totals(order) == (0, CART_TOTAL, CART_TOTAL, P.REFUNDED)
    assert GatewayOperation.objects.get(kind="refund").amount == CART_TOTAL
    assert_paid_once(order)


def test_a_capture_the_issuer_refuses_is_a_402_and_flags_the_order(shop, staff, authorize_only):
    order = place(token="tok_capture_fails")
    assert totals(order) == (CART_TOTAL, 0, 0, P.AUTHORIZED)

    response = act(staff, order, "capture")

    assert response.status_code == 402
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "payment_declined"
    assert response.json()["detail"] == "Capture refused by the issuer."
    order = Order.objects.get(pk=order.pk)
    assert order.flagged
    assert "Capture refused by the issuer." in order.flag_reason
    assert totals(order) == (CART_TOTAL, 0, 0, P.AUTHORIZED)
    (failed,) = order.payments.get().transactions.filter(kind=T.Kind.CAPTURE)
    assert (failed.status, failed.error) == (T.Status.FAILURE, "Capture refused by the issuer.")
    assert order.history.filter(kind="capture_failed").count() == 1
    assert order_events(order, "order.paid") == []


def test_a_card_whose_capture_fails_is_declined_when_checkout_captures_at_once(api_client, shop):
    """With capture at checkout (the default), `tok_capture_fails` cannot be paid: the buyer is
    told at once, and neither we nor the gateway count money that was never captured."""
    cart = cart_ready()

    response = complete(api_client, cart, token="tok_capture_fails")

    assert response.status_code == 402, response.json()
    assert response.json()["code"] == "payment_declined"
    assert not Order.objects.exists()
    assert not Transaction.objects.filter(kind=T.Kind.CAPTURE, status=T.Status.SUCCESS).exists()
    assert not GatewayOperation.objects.filter(kind="capture", success=True).exists()


@pytest.mark.parametrize("buyer", ["guest", "customer"])
def test_order_events_carry_the_buyer_the_totals_and_the_lines(shop, staff, buyer):
    if buyer == "customer":
        member = register("alice@example.com", first_name="Alice", last_name="Abe")
        cart = cart_ready(email="", customer=member.customer, quantity=2)
        response = complete(member.api, cart)
    else:
        cart = cart_ready(email="guest@example.jp", quantity=2)
        response = complete(client(), cart)
    assert response.status_code == 201, response.json()
    order = Order.objects.get(number=response.json()["number"])
    assert act(staff, order, "refund", amount="1000", reason="Goodwill").status_code == 200
    assert act(staff, order, "cancel", reason="Customer asked").status_code == 200
    order = assert_books_balance(order)

    events = {
        kind: order_events(order, kind)
        for kind in ("order.placed", "order.paid", "order.refunded", "order.cancelled")
    }
    assert {kind: len(found) for kind, found in events.items()} == {
        "order.placed": 1,
        "order.paid": 1,
        "order.refunded": 2,
        "order.cancelled": 1,
    }
    assert order.customer_id is not None
    for found in events.values():
        for event in found:
            payload = event.payload
            assert payload["number"] == order.number
            assert payload["customer_id"] == order.customer_id
            assert payload["email"] == order.email != ""
            assert payload["channel"] == "web-jp"
            assert payload["currency"] == "JPY"
            assert Decimal(payload["total"]) == order.total == Decimal("5960")
            for field in ("subtotal", "shipping_total", "tax_total", "paid_total"):
                assert field in payload, (event.type, field)
            assert [(line["sku"], line["quantity"]) for line in payload["lines"]] == [
                ("TEE-RED-M", 2)
            ]
    assert Decimal(events["order.paid"][0].payload["paid_total"]) == order.total
    refunded = [Decimal(e.payload["refunded_total"]) for e in events["order.refunded"]]
    assert refunded == [Decimal("1000"), order.total]
    assert Decimal(events["order.cancelled"][0].payload["refunded_total"]) == order.total
    if buyer == "customer":
        assert order.customer == member.customer
        assert order.email == "alice@example.com"


def test_order_paid_is_published_once_whatever_repeats_the_news(shop, staff):
    order = place()
    payment = order.payments.get()
    operation = GatewayOperation.objects.get(key=payment.idempotency_key)
    payload = notification(payment, "payment.captured", event_id="evt_1", operation=operation)

    notify(client(), payload)
    notify(client(), {**payload, "id": "evt_2"})
    complete(client(), order.cart)
    act(staff, order, "refund", amount="100")

    assert_paid_once(order)
    assert_books_balance(order)


@pytest.mark.django_db(transaction=True)
def test_two_staff_refunds_of_the_whole_balance_at_once_refund_it_once(shop, staff_token):
    order = place()

    responses = run_concurrently(
        [lambda: act(client(staff_token), order, "refund", reason="Twice") for _ in range(2)]
    )

    assert sorted(r.status_code for r in responses) == [200, 409]
    assert totals(order) == (0, CART_TOTAL, CART_TOTAL, P.REFUNDED)
    assert GatewayOperation.objects.filter(kind="refund", success=True).count() == 1
    assert len(order_events(order, "order.refunded")) == 1
