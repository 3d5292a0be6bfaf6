"""The process dies between the payment and the order. The pieces of `checkout_complete` are
called by hand up to the crash: `_prepare` (stock held, payment written), then the gateway (it
took the money), and no `payment_finish`. Whoever comes next — a retry of the completion call
under the same Idempotency-Key once the dead run's lease is over, `payment_resolve`, or
`reconcile_payments --fix` — makes the one order from that payment without charging again, or
gives the money back."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory.models import Reservation
from inventory.services import stock_adjust
from orders.core.idempotency import fingerprint
from orders.models import Cart, IdempotencyRecord, Order, Payment, Transaction
from orders.models import TestGatewayOperation as GatewayOperation
from orders.payments.gateways import TestGateway
from orders.payments.services import payment_authorize
from orders.placement.checkout import (
    PaymentInput,
    _prepare,
    payment_resolve,
    payments_unfinished,
)
from tests.orders_api.conftest import (
    CART_TOTAL,
    PROBLEM,
    active_cart_holds,
    assert_books_balance,
    assert_paid_once,
    cart_ready,
    complete,
    complete_body,
    complete_path,
    limited_variant,
)

pytestmark = pytest.mark.django_db
T = Transaction


def crashed_after_capture(cart: Cart, *, token: str = "tok_visa", capture: bool = True) -> Payment:
    """Steps 1 and 2 of the checkout ran, step 3 never did."""
    payment = _prepare(cart, PaymentInput(token=token), None)
    return payment_authorize(payment, capture=capture)


def dead_run_key(cart: Cart, key: str, *, lease_over: bool = True) -> IdempotencyRecord:
    """The key's record as the dead run left it: no response, its lease over (or not yet)."""
    now = timezone.now()
    return IdempotencyRecord.objects.create(
        scope=f"cart:{cart.token}",
        key=key,
        fingerprint=fingerprint("POST", complete_path(cart), complete_body("tok_visa")),
        locked_until=now + (timedelta(seconds=-1) if lease_over else timedelta(seconds=60)),
        expires_at=now + timedelta(hours=24),
    )


def captures(payment: Payment) -> list[Transaction]:
    return list(payment.transactions.filter(kind=T.Kind.CAPTURE, status=T.Status.SUCCESS))


def test_a_retry_with_the_same_key_after_the_lease_places_one_order_with_the_taken_payment(
    api_client, shop
):
    cart = cart_ready()
    payment = crashed_after_capture(cart)
    dead_run_key(cart, "k-1")
    assert payment.status == Payment.Status.CAPTURED

    response = complete(api_client, cart, key="k-1")

    assert response.status_code == 201, response.json()
    assert "Idempotent-Replayed" not in response
    order = Order.objects.get(cart=cart)
    assert order.number == response.json()["number"]
    assert list(order.payments.all()) == [payment]
    assert Payment.objects.filter(cart=cart).count() == 1
    assert len(captures(payment)) == 1
    assert GatewayOperation.objects.count() == 1
    assert GatewayOperation.objects.get().kind == "capture"
    assert order.paid_total == CART_TOTAL
    assert_books_balance(order)
    assert_paid_once(order)
    assert active_cart_holds(cart) == []
    assert Reservation.objects.filter(reference=order.reference, state="active").count() == 1
    assert IdempotencyRecord.objects.get(key="k-1").response_status == 201


def test_a_retry_while_the_dead_runs_lease_lasts_is_told_to_wait(api_client, shop):
    cart = cart_ready()
    crashed_after_capture(cart)
    record = dead_run_key(cart, "k-1", lease_over=False)

    waiting = complete(api_client, cart, key="k-1")
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    taken_over = complete(api_client, cart, key="k-1")

    assert waiting.status_code == 409
    assert waiting["Content-Type"] == PROBLEM
    assert waiting.json()["code"] == "idempotency_key_in_use"
    assert taken_over.status_code == 201
    assert Order.objects.filter(cart=cart).count() == 1
    assert GatewayOperation.objects.count() == 1


def test_a_retry_after_the_gateway_charged_but_before_its_answer_was_recorded_charges_once(
    api_client, shop
):
    """The gateway did its work under the payment's key, and the process died before writing the
    answer down: the payment is still pending. The retry asks the gateway again with the same
    key and gets the first result back."""
    cart = cart_ready()
    payment = _prepare(cart, PaymentInput(token="tok_visa"), None)
    TestGateway().authorize(
        amount=payment.amount,
        currency=payment.currency,
        token=payment.token,
        key=payment.idempotency_key,
        capture=True,
    )
    dead_run_key(cart, "k-1")

    response = complete(api_client, cart, key="k-1")

    assert response.status_code == 201, response.json()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CAPTURED
    assert payment.order.number == response.json()["number"]
    assert GatewayOperation.objects.count() == 1
    assert len(captures(payment)) == 1
    assert captures(payment)[0].gateway_reference == GatewayOperation.objects.get().reference
    assert_books_balance(payment.order)


def test_a_retry_without_a_key_also_finishes_the_dead_runs_payment(api_client, shop):
    cart = cart_ready()
    payment = crashed_after_capture(cart)

    response = complete(api_client, cart)

    assert response.status_code == 201
    assert list(Order.objects.get(cart=cart).payments.all()) == [payment]
    assert GatewayOperation.objects.count() == 1


def test_when_the_hold_ran_out_and_the_stock_was_sold_the_retry_gets_409_and_the_money_back(
    api_client, shop
):
    limited = limited_variant(shop, warehouse=1)
    cart = cart_ready(sku="TEE-LTD-L")
    payment = crashed_after_capture(cart)
    Reservation.objects.filter(reference=cart.reference).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    stock_adjust(variant_id=limited.pk, location_id=shop.warehouse.pk, delta=-1)
    dead_run_key(cart, "k-1")

    response = complete(api_client, cart, key="k-1")

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["sku"] == "TEE-LTD-L"
    assert not Order.objects.exists()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.VOIDED
    (refund,) = payment.transactions.filter(kind=T.Kind.REFUND, status=T.Status.SUCCESS)
    assert refund.amount == payment.amount
    assert GatewayOperation.objects.get(kind="refund").amount == payment.amount
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.OPEN
    assert active_cart_holds(cart) == []


# --- payment_resolve, payments_unfinished, reconcile_payments --------------------------------


def test_payments_unfinished_lists_payments_no_order_holds_once_old_enough(api_client, shop):
    orphan = crashed_after_capture(cart_ready(email="ann@example.jp"))
    placed = complete(api_client, cart_ready(email="ben@example.jp"))
    assert placed.status_code == 201
    assert payments_unfinished(older_than=timedelta(minutes=5)) == []

    Payment.objects.update(created_at=timezone.now() - timedelta(minutes=10))

    assert payments_unfinished(older_than=timedelta(minutes=5)) == [orphan]


def test_resolving_a_captured_payment_without_order_places_its_order(shop):
    cart = cart_ready()
    payment = crashed_after_capture(cart)

    outcome = payment_resolve(payment)

    order = Order.objects.get(cart=cart)
    assert outcome == f"attached to order {order.number}"
    assert list(order.payments.all()) == [payment]
    assert GatewayOperation.objects.count() == 1
    assert order.paid_total == CART_TOTAL
    assert_books_balance(order)
    assert_paid_once(order)
    assert payments_unfinished(older_than=timedelta(0)) == []


def test_resolving_a_pending_payment_asks_the_gateway_again_with_its_key(shop):
    cart = cart_ready()
    payment = _prepare(cart, PaymentInput(token="tok_visa"), None)

    outcome = payment_resolve(payment)

    order = Order.objects.get(cart=cart)
    assert outcome == f"attached to order {order.number}"
    assert GatewayOperation.objects.get().key == payment.idempotency_key
    assert_books_balance(order)


def test_resolving_a_pending_payment_the_gateway_declines_gives_the_stock_back(shop):
    cart = cart_ready()
    payment = _prepare(cart, PaymentInput(token="tok_declined"), None)
    assert len(active_cart_holds(cart)) == 1

    outcome = payment_resolve(payment)

    assert outcome == "declined"
    assert not Order.objects.exists()
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.DECLINED
    assert active_cart_holds(cart) == []
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.OPEN


def second_payment(order: Order, *, token: str = "tok_visa") -> Payment:
    """A second payment for a cart that already has its order (a second attempt raced the
    first one past the gateway)."""
    first = order.payments.get()
    return Payment.objects.create(
        cart=first.cart,
        method=first.method,
        gateway=first.gateway,
        idempotency_key="second-" + first.idempotency_key[:50],
        token=token,
        currency=first.currency,
        amount=first.amount,
        status=Payment.Status.PENDING,
        snapshot=first.snapshot,
    )


def test_a_captured_payment_for_a_cart_that_has_its_order_is_refunded(api_client, shop):
    cart = cart_ready()
    order = Order.objects.get(number=complete(api_client, cart).json()["number"])
    extra = payment_authorize(second_payment(order), capture=True)
    assert extra.status == Payment.Status.CAPTURED

    outcome = payment_resolve(extra)

    assert outcome == f"voided (order {order.number} already placed)"
    extra.refresh_from_db()
    assert (extra.status, extra.order) == (Payment.Status.VOIDED, None)
    (refund,) = extra.transactions.filter(kind=T.Kind.REFUND, status=T.Status.SUCCESS)
    assert refund.amount == extra.amount
    assert GatewayOperation.objects.filter(kind="refund", amount=extra.amount).count() == 1
    assert Order.objects.count() == 1
    order = assert_books_balance(order)
    assert (order.paid_total, order.refunded_total) == (CART_TOTAL, 0)
    assert order.payments.count() == 1
    assert payments_unfinished(older_than=timedelta(0)) == []


def test_an_authorized_payment_for_a_cart_that_has_its_order_is_voided(api_client, shop, settings):
    settings.ORDERS_CARD_CAPTURE = "authorize"
    cart = cart_ready()
    order = Order.objects.get(number=complete(api_client, cart).json()["number"])
    extra = payment_authorize(second_payment(order), capture=False)
    assert extra.status == Payment.Status.AUTHORIZED

    outcome = payment_resolve(extra)

    assert outcome == f"voided (order {order.number} already placed)"
    extra.refresh_from_db()
    assert extra.status == Payment.Status.VOIDED
    assert extra.transactions.filter(kind=T.Kind.VOID, status=T.Status.SUCCESS).count() == 1
    assert not extra.transactions.filter(kind=T.Kind.REFUND).exists()
    assert GatewayOperation.objects.filter(kind="void").count() == 1
    order = assert_books_balance(order)
    assert (order.authorized_total, order.paid_total) == (CART_TOTAL, 0)


def test_reconcile_payments_fix_attaches_or_voids_what_dead_runs_left(api_client, shop):
    orphan_cart = cart_ready(email="ann@example.jp")
    orphan = crashed_after_capture(orphan_cart)
    order = Order.objects.get(
        number=complete(api_client, cart_ready(email="ben@example.jp")).json()["number"]
    )
    duplicate = payment_authorize(second_payment(order), capture=True)
    Payment.objects.filter(pk__in=[orphan.pk, duplicate.pk]).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    out = StringIO()

    call_command("reconcile_payments", "--fix", stdout=out)

    attached = Order.objects.get(cart=orphan_cart)
    assert list(attached.payments.all()) == [orphan]
    assert_books_balance(attached)
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.order) == (Payment.Status.VOIDED, None)
    assert duplicate.transactions.filter(kind=T.Kind.REFUND, status=T.Status.SUCCESS).exists()
    assert Order.objects.count() == 2
    assert GatewayOperation.objects.filter(kind="capture").count() == 3
    assert payments_unfinished(older_than=timedelta(0)) == []
    assert attached.number in out.getvalue()
