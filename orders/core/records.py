"""The order record: its lock, history, event names and payloads, states and the moves
between them that touch nothing else (confirm, hold, release, flag). Every other part of
`orders` writes an order's history and events through here."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from commerce.errors import Conflict, ValidationFailed
from commerce.events import publish
from orders.models import (
    Order,
    OrderHistory,
    OrderLine,
)

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


class OrderLinePayload(TypedDict):
    sku: str
    variant_id: int | None
    name: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


class OrderPayload(TypedDict):
    """What every `order.*` event carries (each event adds its own keys, e.g. `paid_at`,
    `reason`, `change`): the stable contract for consumers, webhooks and messages."""

    order_id: int
    number: str
    channel: str
    status: str
    payment_status: str
    payment_method: str
    currency: str
    subtotal: Decimal
    discount_total: Decimal
    shipping_total: Decimal
    tax_total: Decimal
    total: Decimal
    paid_total: Decimal
    refunded_total: Decimal
    customer_id: int | None
    email: str
    phone: str
    first_name: str
    last_name: str
    language: str
    shipping_country: str
    shipping_region: str
    pickup_location: str
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    discount_codes: list[str]
    lines: list[OrderLinePayload]
    placed_at: datetime | None


def order_payload(order: Order, **extra: Any) -> OrderPayload:
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
        "shipping_address": order.shipping_address,
        "billing_address": order.billing_address,
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


def order_transition(order: Order, to: str) -> None:
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
    order_transition(order, S.UNFULFILLED)
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
    order_transition(order, S.ON_HOLD)
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
    order_transition(order, order.status_before_hold or S.UNFULFILLED)
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
