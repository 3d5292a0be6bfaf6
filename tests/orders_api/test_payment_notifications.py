"""The payment provider's notifications (POST /api/v1/payments/notifications/test/, signed with
`Gateway-Signature`): racing the completion call, delivered twice or out of order, each has its
effect once — one order, one payment, and totals that are the sums of the transactions."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connections

from orders.models import Cart, Order, Payment, PaymentNotification, Transaction
from orders.models import TestGatewayOperation as GatewayOperation
from orders.payments.gateways import TestGateway
from orders.placement.checkout import PaymentInput, _prepare
from orders.services import payment_capture
from tests.inventory.conftest import run_concurrently
from tests.orders_api.conftest import (
    CART_TOTAL,
    active_cart_holds,
    assert_books_balance,
    assert_paid_once,
    cart_ready,
    client,
    complete,
    notification,
    notify,
)

T = Transaction


def gateway_took_the_money(payment: Payment, *, capture: bool = True) -> GatewayOperation:
    """The provider processed the payment under its key; we have not written its answer down.
    (For `tok_slow` only the answer to our call is slow: the processing itself is not.)"""
    TestGateway().authorize(
        amount=payment.amount,
        currency=payment.currency,
        token="tok_visa" if payment.token == "tok_slow" else payment.token,
        key=payment.idempotency_key,
        capture=capture,
    )
    return GatewayOperation.objects.get(key=payment.idempotency_key)


def crashed_before_the_answer(cart: Cart) -> tuple[Payment, GatewayOperation]:
    payment = _prepare(cart, PaymentInput(token="tok_visa"), None)
    return payment, gateway_took_the_money(payment)


@pytest.mark.django_db(transaction=True)
def test_a_notification_arriving_while_the_completion_call_waits_on_the_gateway(shop, settings):
    """The provider's notification comes before its answer to the API call (it often does): the
    notification places the order; the completion call then finds it and answers with it."""
    settings.ORDERS_TEST_GATEWAY_SLOW_SECONDS = 3
    cart = cart_ready()
    outcome = {}

    def checkout() -> None:
        try:
            outcome["response"] = complete(client(), cart, token="tok_slow", key="k-1")
        except BaseException as exc:
            outcome["response"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=checkout)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not Payment.objects.filter(cart=cart, status=Payment.Status.PENDING).exists():
            assert time.monotonic() < deadline, "the checkout never reached the gateway"
            time.sleep(0.02)
        payment = Payment.objects.get(cart=cart)
        operation = gateway_took_the_money(payment)
        notified = notify(
            client(),
            notification(payment, "payment.captured", event_id="evt_1", operation=operation),
        )
        assert thread.is_alive(), "the completion call should still be waiting on the gateway"
    finally:
        thread.join(30)

    order = Order.objects.get(cart=cart)
    assert notified.status_code == 200
    assert notified.json() == {"result": f"order {order.number}"}
    response = outcome["response"]
    assert not isinstance(response, BaseException), response
    assert response.status_code == 201, response.json()
    assert response.json()["number"] == order.number
    assert list(Payment.objects.filter(cart=cart)) == [payment]
    assert GatewayOperation.objects.count() == 1
    assert payment.transactions.filter(kind=T.Kind.CAPTURE).count() == 1
    order = assert_books_balance(order)
    assert order.paid_total == CART_TOTAL
    assert_paid_once(order)


@pytest.mark.django_db(transaction=True)
def test_a_notification_and_the_retried_completion_call_racing_make_one_order(shop):
    """After a crash, the buyer's retry and the provider's notification arrive at the same
    moment, several times over on separate carts."""
    for attempt in range(5):
        cart = cart_ready(email=f"buyer{attempt}@example.jp")
        payment, operation = crashed_before_the_answer(cart)
        payload = notification(
            payment, "payment.captured", event_id=f"evt_{attempt}", operation=operation
        )

        retried, notified = run_concurrently(
            [lambda cart=cart: complete(client(), cart), lambda p=payload: notify(client(), p)]
        )

        order = Order.objects.get(cart=cart)
        assert retried.status_code == 201, retried.json()
        assert retried.json()["number"] == order.number
        assert notified.status_code == 200, notified.json()
        assert list(Payment.objects.filter(cart=cart)) == [payment]
        assert list(order.payments.all()) == [payment]
        assert payment.transactions.filter(kind=T.Kind.CAPTURE).count() == 1
        assert GatewayOperation.objects.filter(key=payment.idempotency_key).count() == 1
        assert_books_balance(order)
        assert_paid_once(order)


@pytest.mark.django_db
def test_a_notification_delivered_twice_has_its_effect_once(shop):
    cart = cart_ready()
    payment, operation = crashed_before_the_answer(cart)
    payload = notification(payment, "payment.captured", event_id="evt_1", operation=operation)
    resent = {**payload, "id": "evt_1-resent"}  # the same operation under a new event id

    first = notify(client(), payload)
    second = notify(client(), payload)
    third = notify(client(), resent)
    retried = complete(client(), cart)

    order = Order.objects.get(cart=cart)
    assert first.json() == {"result": f"order {order.number}"}
    assert second.json() == {"result": "duplicate"}
    assert third.status_code == 200
    assert retried.status_code == 201
    assert retried.json()["number"] == order.number
    assert PaymentNotification.objects.filter(event_id="evt_1").count() == 1
    assert Payment.objects.filter(cart=cart).count() == 1
    assert payment.transactions.filter(kind=T.Kind.CAPTURE).count() == 1
    order = assert_books_balance(order)
    assert order.paid_total == CART_TOTAL
    assert_paid_once(order)
    assert active_cart_holds(cart) == []


@pytest.mark.django_db
def test_notifications_out_of_order_leave_one_order_and_totals_equal_to_transactions(
    api_client, shop, settings
):
    """Authorized at checkout, captured by staff in two parts; the provider's notifications of
    all this arrive afterwards, newest first, one of them twice."""
    settings.ORDERS_CARD_CAPTURE = "authorize"
    cart = cart_ready()
    order = Order.objects.get(number=complete(api_client, cart).json()["number"])
    payment = order.payments.get()
    payment_capture(order, amount=Decimal("1000"))
    payment_capture(order, amount=Decimal("2780"))
    authorized, *captured = GatewayOperation.objects.order_by("id")
    assert [o.kind for o in (authorized, *captured)] == ["authorize", "capture", "capture"]
    before = list(Transaction.objects.values_list("pk", flat=True).order_by("pk"))

    results = [
        notify(client(), notification(payment, type, event_id=event, operation=operation)).json()
        for type, event, operation in [
            ("payment.captured", "evt_3", captured[1]),
            ("payment.captured", "evt_2", captured[0]),
            ("payment.authorized", "evt_1", authorized),
            ("payment.captured", "evt_3", captured[1]),
        ]
    ]

    assert results == [{"result": "applied"}] * 3 + [{"result": "duplicate"}]
    assert list(Transaction.objects.values_list("pk", flat=True).order_by("pk")) == before
    assert Order.objects.count() == 1
    order = assert_books_balance(order)
    assert (order.paid_total, order.authorized_total) == (CART_TOTAL, 0)
    assert order.payment_status == Order.PaymentStatus.PAID
    assert_paid_once(order)


@pytest.mark.django_db
def test_an_older_authorized_notification_after_the_captured_one_changes_nothing_owed(shop):
    cart = cart_ready()
    payment, operation = crashed_before_the_answer(cart)

    captured = notify(
        client(), notification(payment, "payment.captured", event_id="evt_2", operation=operation)
    )
    authorized = notify(
        client(), notification(payment, "payment.authorized", event_id="evt_1", operation=operation)
    )

    order = Order.objects.get(cart=cart)
    assert captured.json() == {"result": f"order {order.number}"}
    assert authorized.status_code == 200
    order = assert_books_balance(order)
    assert (order.paid_total, order.authorized_total, order.payment_status) == (
        CART_TOTAL,
        0,
        Order.PaymentStatus.PAID,
    )
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.CAPTURED
    assert_paid_once(order)


@pytest.mark.django_db
def test_a_refund_notified_before_the_capture_it_undoes_still_counts_once(shop):
    """After a crash, the provider captured and then refunded part (a dispute settled at once);
    its notifications arrive refund first. One order, with both sums from the transactions."""
    cart = cart_ready()
    payment, captured = crashed_before_the_answer(cart)
    TestGateway().refund(
        payment_reference=captured.payment_reference,
        amount=Decimal("780"),
        currency="JPY",
        key="provider-refund-1",
    )
    refunded = GatewayOperation.objects.get(kind="refund")

    first = notify(
        client(), notification(payment, "payment.refunded", event_id="evt_2", operation=refunded)
    )
    second = notify(
        client(), notification(payment, "payment.captured", event_id="evt_1", operation=captured)
    )
    retried = complete(client(), cart)

    order = Order.objects.get(cart=cart)
    assert first.json() == {"result": "applied"}
    assert second.json() == {"result": f"order {order.number}"}
    assert retried.json()["number"] == order.number
    assert Payment.objects.filter(cart=cart).count() == 1
    order = assert_books_balance(order)
    assert (order.paid_total, order.refunded_total) == (CART_TOTAL, Decimal("780"))
    assert order.payment_status == Order.PaymentStatus.PARTIALLY_REFUNDED
    assert_paid_once(order)


@pytest.mark.django_db
def test_a_refund_made_at_the_provider_is_recorded_once_from_its_notification(api_client, shop):
    cart = cart_ready()
    order = Order.objects.get(number=complete(api_client, cart).json()["number"])
    payment = order.payments.get()
    TestGateway().refund(
        payment_reference=payment.gateway_reference,
        amount=Decimal("500"),
        currency="JPY",
        key="dashboard-refund-1",
    )
    refund = GatewayOperation.objects.get(kind="refund")
    payload = notification(payment, "payment.refunded", event_id="evt_r1", operation=refund)

    notify(client(), payload)
    notify(client(), {**payload, "id": "evt_r1-again"})

    assert payment.transactions.filter(kind=T.Kind.REFUND).count() == 1
    order = assert_books_balance(order)
    assert (order.paid_total, order.refunded_total) == (CART_TOTAL, Decimal("500"))
    assert order.payment_status == Order.PaymentStatus.PARTIALLY_REFUNDED


@pytest.mark.django_db
def test_a_notification_with_a_bad_signature_is_refused_with_403_and_changes_nothing(shop):
    cart = cart_ready()
    payment, operation = crashed_before_the_answer(cart)
    payload = notification(payment, "payment.captured", event_id="evt_1", operation=operation)

    forged = notify(client(), payload, signature="0" * 64)
    unsigned = notify(client(), payload, signature="")

    assert forged.status_code == unsigned.status_code == 403
    assert forged.json()["code"] == "bad_signature"
    assert not PaymentNotification.objects.exists()
    assert not Order.objects.exists()
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PENDING
    assert not Transaction.objects.exists()


@pytest.mark.django_db
def test_a_signed_notification_that_is_not_a_json_object_is_a_400(shop):
    for raw in (b"not json", b'["payment.captured"]'):
        response = notify(client(), None, raw=raw)

        assert response.status_code == 400, (raw, response.status_code)
    assert not PaymentNotification.objects.exists()


@pytest.mark.django_db
def test_a_notification_for_a_gateway_we_do_not_use_is_a_404_problem(shop):
    response = client().post("/api/v1/payments/notifications/acme/", data={}, format="json")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
    assert not PaymentNotification.objects.exists()


@pytest.mark.django_db
def test_a_notification_about_a_payment_we_do_not_know_is_acknowledged(shop):
    response = notify(
        client(),
        {
            "id": "evt_x",
            "type": "payment.captured",
            "merchant_reference": "not-ours",
            "payment_reference": "pay_unknown",
            "operation_reference": "op_unknown",
            "amount": "100",
        },
    )

    assert response.status_code == 200
    assert response.json() == {"result": "unknown_payment"}
    assert PaymentNotification.objects.get().result == "unknown_payment"
    assert not Transaction.objects.exists()


@pytest.fixture
def slow_gateway_money_calls(monkeypatch) -> threading.Event:
    """Captures and refunds at the test gateway answer after 1.5 s (the provider is slow);
    the returned event is set when one has started."""
    started = threading.Event()
    for name in ("capture", "refund"):
        original = getattr(TestGateway, name)

        def slow(self, *args, _original=original, **kwargs):
            started.set()
            time.sleep(1.5)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TestGateway, name, slow)
    return started


def in_thread(call) -> tuple[threading.Thread, dict]:
    outcome = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:
            outcome["result"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["capture", "refund"])
def test_a_notification_arriving_during_a_staff_capture_or_refund(
    shop, settings, slow_gateway_money_calls, action
):
    """While staff capture (or refund) and the provider takes its time, the provider re-sends
    an earlier notification about the payment. Both finish; the totals are the transactions'."""
    from orders.services import payment_refund

    if action == "capture":
        settings.ORDERS_CARD_CAPTURE = "authorize"
    response = complete(client(), cart_ready())
    order = Order.objects.get(number=response.json()["number"])
    payment = order.payments.get()
    first = GatewayOperation.objects.get(key=payment.idempotency_key)
    kind = "payment.authorized" if action == "capture" else "payment.captured"
    staff_call = (
        (lambda: payment_capture(order))
        if action == "capture"
        else (lambda: payment_refund(order, amount=Decimal("1000"), reason="Goodwill"))
    )

    thread, outcome = in_thread(staff_call)
    try:
        assert slow_gateway_money_calls.wait(10)
        notified = notify(client(), notification(payment, kind, event_id="evt_x", operation=first))
    finally:
        thread.join(30)

    assert notified.status_code == 200, notified.json()
    assert isinstance(outcome["result"], Order), outcome["result"]
    order = assert_books_balance(order)
    if action == "capture":
        assert (order.paid_total, order.authorized_total) == (CART_TOTAL, 0)
    else:
        assert (order.paid_total, order.refunded_total) == (CART_TOTAL, Decimal("1000"))
    assert_paid_once(order)
