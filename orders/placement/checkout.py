"""Checkout completion: a cart becomes at most one order, paid at most once.

1. In a short transaction with the cart locked: re-price the cart, check it is ready, hold its
   stock for ORDERS_CHECKOUT_HOLD_SECONDS (409 naming the short SKU otherwise), and write the
   `Payment` with the gateway's idempotency key and the priced snapshot. Commit.
   A card payment past a decline limit (card testing, see `checkout_limits`) is refused here
   with 429, before the gateway, and the cart is closed for payment.
2. Call the gateway with no transaction open and no row locked (a slow provider blocks nobody).
   Declined: release the hold, leave the cart as it was, 402 with the gateway's reason.
3. In one transaction with the cart locked again: the hold becomes the order's allocation and
   the order is made from the snapshot (`order_place`). If the hold ran out and the stock was
   sold meanwhile, the money is given back and the buyer gets the 409.

If the process dies after 2, the payment is left without an order: a retry of the completion
(same Idempotency-Key or none), the gateway's notification or `reconcile_payments` finds it and
finishes step 3 once (the cart's one-order constraint and its row lock decide who), or voids it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from commerce.errors import Conflict, ValidationFailed
from inventory import services as inventory
from inventory.errors import InsufficientStock
from orders.carts.services import cart_lock, hold_stock
from orders.core.drafts import DraftLine, OrderDraft
from orders.models import Cart, Order, Payment, PaymentMethod
from orders.payments.card_testing import (
    PaymentClient,
    TooManyDeclines,
    attempt_open,
    attempt_refuse,
    attempt_settle,
    declines_check,
    token_fingerprint,
)
from orders.payments.gateways import GatewayUnavailable
from orders.payments.services import (
    PaymentDeclined,
    PaymentGatewayError,
    payment_authorize,
    payment_void_unplaced,
)
from orders.placement.placement import order_place
from orders.pricing.discounts import DiscountNotApplicable
from orders.pricing.quotes import CartQuote, cart_quote, destination_for

OPEN_PAYMENT = [Payment.Status.PENDING, Payment.Status.AUTHORIZED, Payment.Status.CAPTURED]


class PriceChanged(Conflict):
    code = "price_changed"
    title = gettext_lazy("The total has changed")


@dataclass(frozen=True)
class PaymentInput:
    method: str = PaymentMethod.CARD
    token: str = ""


def _draft(cart: Cart, quote: CartQuote) -> OrderDraft:
    destination = destination_for(cart)
    return OrderDraft(
        cart_id=cart.pk,
        channel_id=cart.channel_id,
        customer_id=cart.customer_id,
        email=cart.email or (cart.customer.email if cart.customer else ""),
        phone=cart.phone,
        language=cart.language,
        note=cart.note,
        currency=quote.currency,
        prices_include_tax=quote.prices_include_tax,
        lines=tuple(DraftLine.of(line) for line in quote.lines),
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        shipping_total=quote.shipping_total,
        shipping_tax=quote.shipping_tax,
        tax_total=quote.tax_total,
        total=quote.total,
        tax_bands=quote.tax_bands,
        discounts=quote.discounts,
        shipping_address=cart.shipping_address,
        billing_address=cart.billing_address,
        shipping_method_id=cart.shipping_method_id,
        shipping_method_name=cart.shipping_method.name if cart.shipping_method_id else "",
        pickup_location_id=cart.pickup_location_id,
        destination={"country": destination.country, "region": destination.region},
    )


def _check_ready(cart: Cart, quote: CartQuote, payment: PaymentInput) -> None:
    errors: dict[str, list[str]] = {}
    if not quote.lines:
        errors["lines"] = [_("The cart is empty.")]
    errors.update(quote.problems)
    at_till = cart.channel.kind == "pos" and cart.pickup_location_id is not None
    if not (cart.email or (cart.customer and cart.customer.email) or cart.phone or at_till):
        errors["email"] = [_("Give an e-mail address for the order confirmation.")]
    if cart.pickup_location_id is None:
        if cart.shipping_method_id is None:
            errors["shipping_method"] = [_("Choose a shipping method or a pickup store.")]
        if not cart.shipping_address:
            errors["shipping_address"] = [_("Give the address to deliver to.")]
    if payment.method not in PaymentMethod.values:
        errors["payment.method"] = [_("Unknown payment method.")]
    elif payment.method == PaymentMethod.CARD and not payment.token:
        errors["payment.token"] = [_("A card payment needs the token from the payment form.")]
    elif payment.method == PaymentMethod.PAY_AT_STORE and cart.pickup_location_id is None:
        errors["payment.method"] = [_("Paying at the store is for pickup orders.")]
    elif payment.method == PaymentMethod.CASH and cart.channel.kind != "pos":
        errors["payment.method"] = [_("Cash is taken at a store's till.")]
    elif payment.method == PaymentMethod.MARKETPLACE:
        errors["payment.method"] = [_("Marketplace orders come in by import.")]
    elif payment.method == PaymentMethod.CASH_ON_DELIVERY and cart.pickup_location_id:
        errors["payment.method"] = [_("Cash on delivery is for delivered orders.")]
    if errors:
        raise ValidationFailed(errors)
    if quote.code_problem:
        raise DiscountNotApplicable(
            quote.code_problem["reason"], quote.code_problem["detail"], code=cart.discount_code
        )


def checkout_ready(cart: Cart, payment: PaymentInput) -> None:
    """Raise what completing the cart with this payment would refuse before any money moves
    (empty, no contact, no delivery choice, a payment method the order cannot use), so a
    caller that builds the cart in a transaction can refuse with nothing left behind."""
    _check_ready(cart, cart_quote(cart), payment)


def _prepare(
    cart: Cart,
    payment: PaymentInput,
    expected_total: Decimal | None,
    client: PaymentClient | None = None,
) -> Payment | None:
    """Step 1. Returns the payment to send (or the open one an earlier attempt left). A card
    payment past a decline limit is recorded as refused, the cart closed for payment and its
    hold given back, all committed, and then `TooManyDeclines` raised."""
    client = client or PaymentClient()
    refused: TooManyDeclines | None = None
    with transaction.atomic():
        cart = cart_lock(cart)
        if cart.state == Cart.State.COMPLETED:
            return None
        open_payment = cart.payments.filter(order__isnull=True, status__in=OPEN_PAYMENT).first()
        if open_payment is not None:
            return open_payment  # an attempt that died after the gateway: finish it
        quote = cart_quote(cart)
        _check_ready(cart, quote, payment)
        if expected_total is not None and Decimal(expected_total) != quote.total:
            raise PriceChanged(
                _("The total is now %(total)s %(currency)s, not %(expected)s.")
                % {"total": quote.total, "currency": quote.currency, "expected": expected_total},
                total=str(quote.total),
            )
        card = payment.method == PaymentMethod.CARD
        fingerprint = token_fingerprint(payment.token) if card else ""
        if card:
            try:
                declines_check(cart, client=client, fingerprint=fingerprint)
            except TooManyDeclines as exc:
                refused = exc
                attempt_refuse(
                    cart,
                    client=client,
                    fingerprint=fingerprint,
                    amount=quote.total,
                    currency=quote.currency,
                    reason=str(exc.detail),
                )
                inventory.stock_release(reference=cart.reference)
                Cart.objects.filter(pk=cart.pk).update(hold_expires_at=None)
        if refused is None:
            hold_stock(
                cart, ttl=timedelta(seconds=settings.ORDERS_CHECKOUT_HOLD_SECONDS), quote=quote
            )
            cart.save(update_fields=["hold_expires_at", "hold_route"])
            prepared = Payment.objects.create(
                cart=cart,
                method=payment.method,
                gateway=settings.ORDERS_GATEWAY if card else "",
                idempotency_key=uuid.uuid4().hex,
                token=payment.token[:100] if card else "",
                currency=quote.currency,
                amount=quote.total,
                status=Payment.Status.PENDING if card else Payment.Status.AWAITING,
                snapshot=_draft(cart, quote).as_json(),
            )
            if card:
                attempt_open(prepared, cart=cart, client=client, fingerprint=fingerprint)
    if refused is not None:
        raise refused  # after the commit: the refusal and the closed cart are kept
    return prepared


def _give_back_hold(cart_id: int) -> None:
    with transaction.atomic():
        cart = Cart.objects.select_for_update().get(pk=cart_id)
        if cart.state == Cart.State.OPEN:
            inventory.stock_release(reference=cart.reference)
            Cart.objects.filter(pk=cart.pk).update(hold_expires_at=None)


def checkout_complete(
    cart: Cart,
    *,
    payment: PaymentInput,
    expected_total: Decimal | None = None,
    client: PaymentClient | None = None,
) -> Order:
    """Turn the cart into its order (see the module's steps). Returns the cart's order when it
    already has one: completing twice never makes a second order. `client` is who pays, for the
    card-testing limits (`checkout_limits`); the staff doors leave it out."""
    prepared = _prepare(cart, payment, expected_total, client)
    if prepared is None:
        return Order.objects.get(cart_id=cart.pk)
    if prepared.status == Payment.Status.PENDING:
        try:
            prepared = payment_authorize(
                prepared, capture=settings.ORDERS_CARD_CAPTURE == "capture"
            )
        except GatewayUnavailable as exc:
            Payment.objects.filter(pk=prepared.pk, status=Payment.Status.PENDING).update(
                status=Payment.Status.FAILED, error=str(exc)[:250], updated_at=timezone.now()
            )
            attempt_settle(Payment.objects.get(pk=prepared.pk))
            _give_back_hold(prepared.cart_id)
            raise PaymentGatewayError(str(exc)) from exc
        if prepared.status == Payment.Status.DECLINED:
            _give_back_hold(prepared.cart_id)
            raise PaymentDeclined(prepared.error or _("The payment was declined."))
    order = payment_finish(prepared)
    if order is None:
        raise Conflict(_("The order could not be made; the payment was returned."))
    return order


def payment_finish(payment: Payment) -> Order | None:
    """Step 3, for whoever gets there first: the order for a payment that went through. A
    payment for a cart that already has its order (a second attempt raced the first) is
    voided, and the existing order returned. Raises the stock or discount error after giving
    the money back when the order cannot be made."""
    duplicate_of = None
    try:
        with transaction.atomic():
            cart = cart_lock(payment.cart_id)
            payment = Payment.objects.select_for_update().get(pk=payment.pk)
            if payment.order_id is not None:
                return payment.order
            duplicate_of = Order.objects.filter(cart=cart).first()
            if duplicate_of is None:
                return order_place(payment, cart=cart)
    except (InsufficientStock, DiscountNotApplicable) as exc:
        payment_void_unplaced(payment, reason=str(exc.detail))
        _give_back_hold(payment.cart_id)
        raise
    payment_void_unplaced(payment, reason=_("A second payment for an order already placed."))
    return duplicate_of


def payments_unfinished(*, older_than: timedelta) -> list[Payment]:
    """Payments the gateway may have taken but no order holds, older than `older_than`."""
    return list(
        Payment.objects.filter(
            order__isnull=True,
            status__in=OPEN_PAYMENT,
            created_at__lte=timezone.now() - older_than,
        ).order_by("id")
    )


def payment_resolve(payment: Payment) -> str:
    """For `reconcile_payments`: ask the gateway again (same key) about a payment left pending,
    then attach it to the cart's one order or void it. Returns what was done."""
    if payment.status == Payment.Status.PENDING:
        try:
            payment = payment_authorize(
                payment, capture=settings.ORDERS_CARD_CAPTURE == "capture", source="reconcile"
            )
        except GatewayUnavailable:
            return "gateway unavailable"
        if payment.status == Payment.Status.DECLINED:
            _give_back_hold(payment.cart_id)
            return "declined"
    try:
        order = payment_finish(payment)
    except (InsufficientStock, DiscountNotApplicable):
        return "voided (could not be placed)"
    if order is None or order.pk != (Payment.objects.get(pk=payment.pk).order_id or 0):
        return f"voided (order {order.number if order else '-'} already placed)"
    return f"attached to order {order.number}"
