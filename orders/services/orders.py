"""Orders: placing one from a paid-for snapshot, the life cycle, history and events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from commerce.errors import Conflict, ValidationFailed
from commerce.events import publish
from customers import services as customers
from customers.models import Customer
from inventory import services as inventory
from orders.discounts import DiscountNotApplicable
from orders.models import (
    Cart,
    Discount,
    DiscountCode,
    DiscountRedemption,
    Fulfilment,
    Order,
    OrderHistory,
    OrderLine,
    Payment,
    PaymentMethod,
)
from orders.models.fulfilments import OPEN_STATES

ORDER_PLACED = "order.placed"
ORDER_PAID = "order.paid"
ORDER_REFUNDED = "order.refunded"
ORDER_CANCELLED = "order.cancelled"
ORDER_UPDATED = "order.updated"

S = Order.Status
# Shipping a fulfilment moves orders to partially fulfilled / fulfilled (services.fulfilments).
TRANSITIONS: dict[str, set[str]] = {
    S.UNCONFIRMED: {S.UNFULFILLED, S.ON_HOLD, S.CANCELLED},
    S.UNFULFILLED: {S.PARTIALLY_FULFILLED, S.FULFILLED, S.ON_HOLD, S.CANCELLED},
    S.PARTIALLY_FULFILLED: {S.FULFILLED, S.ON_HOLD},
    S.ON_HOLD: {S.UNCONFIRMED, S.UNFULFILLED, S.PARTIALLY_FULFILLED, S.CANCELLED},
    S.FULFILLED: set(),
    S.CANCELLED: set(),
}


class InvalidOrderTransition(Conflict):
    code = "invalid_transition"


def order_lock(order: Order) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("channel").get(pk=order.pk)


def history_add(
    order: Order,
    kind: str,
    message: str,
    *,
    actor: AbstractBaseUser | None = None,
    **data: Any,
) -> OrderHistory:
    return OrderHistory.objects.create(
        order=order,
        kind=kind,
        message=message,
        data=data,
        actor=actor if actor is not None and actor.is_authenticated else None,
    )


def order_payload(order: Order, **extra: Any) -> dict[str, Any]:
    """Everything a consumer of an order event needs, so none has to query back."""
    address = order.shipping_address or order.billing_address or {}
    return {
        "order_id": order.pk,
        "number": order.number,
        "channel": order.channel.code,
        "status": order.status,
        "payment_status": order.payment_status,
        "payment_method": order.payment_method,
        "currency": order.currency,
        "subtotal": order.subtotal,
        "discount_total": order.discount_total,
        "shipping_total": order.shipping_total,
        "tax_total": order.tax_total,
        "total": order.total,
        "paid_total": order.paid_total,
        "refunded_total": order.refunded_total,
        "customer_id": order.customer_id,
        "email": order.email,
        "phone": order.phone,
        "first_name": address.get("first_name", ""),
        "last_name": address.get("last_name", ""),
        "language": order.language,
        "shipping_country": (order.shipping_address or {}).get("country", ""),
        "shipping_region": (order.shipping_address or {}).get("region", ""),
        "pickup_location": order.pickup_location.code if order.pickup_location_id else "",
        "discount_codes": [d["code"] for d in order.discounts if d.get("code")],
        "lines": [
            {
                "sku": line.sku,
                "variant_id": line.variant_id,
                "name": line.product_name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount": line.amount,
            }
            for line in order.lines.all()
        ],
        "placed_at": order.placed_at,
        **extra,
    }


def order_publish(order: Order, event_type: str, **extra: Any) -> None:
    publish(
        type=event_type,
        subject_type="order",
        subject_id=order.pk,
        payload=order_payload(order, **extra),
    )


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _redeem(order: Order, snapshot: dict[str, Any], customer: Customer | None) -> None:
    """Count the order's discounts against their limits, the rows locked so two last uses of a
    code cannot both pass."""
    for applied in snapshot.get("discounts", []):
        discount = Discount.objects.select_for_update().get(pk=applied["discount_id"])
        code = None
        if applied.get("code"):
            code = DiscountCode.objects.select_for_update().get(
                discount=discount, code=applied["code"]
            )
            if code.single_use and code.times_used > 0:
                raise DiscountNotApplicable("used_up", _("This code has already been used."))
        if discount.usage_limit is not None and discount.times_used >= discount.usage_limit:
            raise DiscountNotApplicable("used_up", _("This offer has been used up."))
        if discount.per_customer_limit is not None and customer is not None:
            used = DiscountRedemption.objects.filter(discount=discount, customer=customer).count()
            if used >= discount.per_customer_limit:
                raise DiscountNotApplicable(
                    "customer_used_up", _("You have already used this offer.")
                )
        Discount.objects.filter(pk=discount.pk).update(times_used=F("times_used") + 1)
        if code is not None:
            DiscountCode.objects.filter(pk=code.pk).update(times_used=F("times_used") + 1)
        DiscountRedemption.objects.create(
            discount=discount,
            code=code,
            customer=customer,
            reference=order.number,
            amount=_d(applied["amount"]),
        )


def _placed_at(value: Any):
    if isinstance(value, str):  # read back from the JSON column
        value = parse_datetime(value)
    return value or timezone.now()


def _customer_for(snapshot: dict[str, Any], channel) -> Customer | None:
    if snapshot.get("customer_id"):
        customer = Customer.objects.filter(pk=snapshot["customer_id"]).first()
        return customers.customer_resolve(customer) if customer else None
    if not (snapshot.get("email") or snapshot.get("phone")):
        return None
    address = snapshot.get("billing_address") or snapshot.get("shipping_address") or {}
    names = {
        name: address.get(name, "")
        for name in ("first_name", "last_name", "first_name_reading", "last_name_reading")
        if address.get(name)
    }
    customer, _created = customers.customer_find_or_create(
        email=snapshot.get("email") or None,
        phone=snapshot.get("phone") or address.get("phone") or None,
        channel=channel,
        actor="checkout",
        **names,
    )
    return customer


def remember_lines(order: Order, lines: list[OrderLine]) -> Order:
    """Keep the lines just written on the order as `prefetch_related` would, so routing, the
    event payloads and the answer read them without a query each."""
    if any(line.pk is None for line in lines):  # a database that returns no new ids
        return order
    queryset = order.lines.all()
    queryset._result_cache = list(lines)
    queryset._prefetch_done = True
    order._prefetched_objects_cache = {"lines": queryset}
    return order


def order_place(payment: Payment, *, cart: Cart | None = None) -> Order:
    """Make the order a payment was for, from its snapshot, in the caller's transaction: the
    cart's stock hold becomes the order's allocation, discounts are counted, the customer is
    found or created, and `order.placed` (and `order.paid` if captured) is published.

    The caller holds the cart's row lock (`cart`, when it has it at hand, with its channel)
    and has checked that the cart has no order yet.
    Raises `InsufficientStock` when the hold ran out and the stock went elsewhere, or
    `DiscountNotApplicable` when a code was used up meanwhile: the caller voids the payment."""
    from orders.services.payments import payments_refresh
    from orders.services.routing import order_route

    snapshot = payment.snapshot
    if cart is None:
        cart = Cart.objects.select_related("channel").get(pk=payment.cart_id)
    channel = cart.channel
    customer = _customer_for(snapshot, channel)
    manual = payment.method != "card"
    order = Order.objects.create(
        channel=channel,
        cart=cart,
        customer=customer,
        email=snapshot.get("email", ""),
        phone=snapshot.get("phone", ""),
        language=snapshot.get("language", ""),
        status=Order.Status.UNCONFIRMED if payment.method == "bank_transfer" else S.UNFULFILLED,
        payment_method=payment.method,
        currency=snapshot["currency"],
        prices_include_tax=snapshot["prices_include_tax"],
        subtotal=_d(snapshot["subtotal"]),
        discount_total=_d(snapshot["discount_total"]),
        shipping_total=_d(snapshot["shipping_total"]),
        tax_total=_d(snapshot["tax_total"]),
        total=_d(snapshot["total"]),
        tax_bands=snapshot.get("tax_bands", []),
        discounts=snapshot.get("discounts", []),
        shipping_address=snapshot.get("shipping_address"),
        billing_address=snapshot.get("billing_address") or snapshot.get("shipping_address"),
        shipping_method_id=snapshot.get("shipping_method_id"),
        shipping_method_name=snapshot.get("shipping_method_name", ""),
        pickup_location_id=snapshot.get("pickup_location_id"),
        note=snapshot.get("note", ""),
        # An imported order keeps the marketplace's id (unique per channel: a second import
        # of it fails here, before any stock moves) and its time of sale.
        external_id=snapshot.get("external_id", ""),
        placed_at=_placed_at(snapshot.get("placed_at")),
    )

    order.number = str(settings.ORDERS_NUMBER_START + order.pk)
    order.save(update_fields=["number"])
    lines = OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            variant_id=line["variant_id"],
            sku=line["sku"],
            product_name=line["product_name"],
            variant_name=line["variant_name"],
            tax_class=line["tax_class"],
            quantity=line["quantity"],
            unit_price=_d(line["unit_price"]),
            discount=_d(line["discount"]),
            amount=_d(line["amount"]),
            tax_rate=_d(line["tax_rate"]),
            tax=_d(line["tax"]),
        )
        for line in snapshot["lines"]
    )
    remember_lines(order, lines)
    order_route(order, replaces_reference=cart.reference, held_route=cart.hold_route)
    _redeem(order, snapshot, customer)
    payment.order = order
    payment.save(update_fields=["order", "updated_at"])
    Cart.objects.filter(pk=cart.pk).update(
        state=Cart.State.COMPLETED, completed_at=timezone.now(), hold_expires_at=None
    )
    history_add(
        order,
        "placed",
        _("Order placed in %(channel)s (%(method)s).")
        % {"channel": channel.name, "method": payment.get_method_display()},
        payment_id=payment.pk,
    )
    # Totals first, so `order.placed` carries the payment state; then `order.paid` after it.
    payments_refresh(order, announce=False)
    order_publish(order, ORDER_PLACED)
    if order.paid_at is not None:
        history_add(order, "paid", _("Paid in full."))
        order_publish(order, ORDER_PAID, paid_at=order.paid_at)
    if manual and payment.method not in (PaymentMethod.CASH, PaymentMethod.MARKETPLACE):
        history_add(order, "awaiting_payment", _("Awaiting payment (settled by staff)."))
    return order


def _transition(order: Order, to: str) -> None:
    if to not in TRANSITIONS[order.status]:
        raise InvalidOrderTransition(
            _("An order that is %(status)s cannot become %(to)s.")
            % {"status": order.get_status_display(), "to": Order.Status(to).label},
            status=order.status,
            to=to,
        )
    order.status = to


@transaction.atomic
def order_confirm(order: Order, *, actor: AbstractBaseUser | None = None) -> Order:
    order = order_lock(order)
    _transition(order, S.UNFULFILLED)
    order.save(update_fields=["status", "updated_at"])
    history_add(order, "confirmed", _("Order confirmed."), actor=actor)
    order_publish(order, ORDER_UPDATED, change="confirmed")
    return order


@transaction.atomic
def order_hold(order: Order, *, reason: str, actor: AbstractBaseUser | None = None) -> Order:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [_("Say why the order is on hold.")]})
    order = order_lock(order)
    before = order.status
    _transition(order, S.ON_HOLD)
    order.status_before_hold = before
    order.save(update_fields=["status", "status_before_hold", "updated_at"])
    history_add(order, "held", _("Put on hold: %(reason)s") % {"reason": reason}, actor=actor)
    order_publish(order, ORDER_UPDATED, change="held", reason=reason)
    return order


@transaction.atomic
def order_release(order: Order, *, actor: AbstractBaseUser | None = None) -> Order:
    order = order_lock(order)
    if order.status != S.ON_HOLD:
        raise InvalidOrderTransition(_("The order is not on hold."), status=order.status)
    _transition(order, order.status_before_hold or S.UNFULFILLED)
    order.status_before_hold = ""
    order.save(update_fields=["status", "status_before_hold", "updated_at"])
    history_add(order, "released", _("Hold released."), actor=actor)
    order_publish(order, ORDER_UPDATED, change="released")
    return order


@transaction.atomic
def order_flag(
    order: Order, *, reason: str, actor: AbstractBaseUser | None = None, flagged: bool = True
) -> Order:
    reason = (reason or "").strip()[:250]
    if flagged and not reason:
        raise ValidationFailed({"reason": [_("Say what needs following up.")]})
    order = order_lock(order)
    order.flagged, order.flag_reason = flagged, reason if flagged else ""
    order.save(update_fields=["flagged", "flag_reason", "updated_at"])
    message = (
        _("Flagged for follow-up: %(reason)s") % {"reason": reason}
        if flagged
        else _("Follow-up flag cleared.")
    )
    history_add(order, "flagged" if flagged else "unflagged", message, actor=actor)
    order_publish(order, ORDER_UPDATED, change="flagged" if flagged else "unflagged", reason=reason)
    return order


def fulfilments_cancel_open(order: Order) -> int:
    """Close the order's fulfilments that have not left (it is cancelled, or edited and routed
    again); the caller releases the allocation, in its transaction."""
    now = timezone.now()
    return Fulfilment.objects.filter(order=order, state__in=OPEN_STATES).update(
        state=Fulfilment.State.CANCELLED, cancelled_at=now, updated_at=now
    )


@transaction.atomic
def order_cancel(order: Order, *, reason: str = "", actor: AbstractBaseUser | None = None) -> Order:
    """Cancel: the allocation goes back to stock, an open authorization is voided and what was
    captured is refunded, all in one transaction with the status change."""
    from orders.services.payments import payment_refund, payment_void_open

    order = order_lock(order)
    if any(line.quantity_fulfilled for line in order.lines.all()):
        raise InvalidOrderTransition(
            _("Part of this order has shipped; return it instead of cancelling."),
            status=order.status,
        )
    _transition(order, S.CANCELLED)
    fulfilments_cancel_open(order)
    inventory.stock_release(reference=order.reference, actor=actor, note=reason[:250])
    payment_void_open(order, actor=actor)
    outstanding = order.paid_total - order.refunded_total
    if outstanding > 0:
        payment_refund(
            order,
            amount=outstanding,
            reason=_("Order cancelled"),
            actor=actor,
            operation="cancel",
        )
        order.refresh_from_db()
        order.status = S.CANCELLED
    order.cancelled_at = timezone.now()
    order.save(update_fields=["status", "cancelled_at", "updated_at"])
    history_add(
        order,
        "cancelled",
        _("Order cancelled: %(reason)s") % {"reason": reason} if reason else _("Order cancelled."),
        actor=actor,
    )
    order_publish(order, ORDER_CANCELLED, reason=reason, cancelled_at=order.cancelled_at)
    return order
