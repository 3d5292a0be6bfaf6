"""Cancelling an order: the stock goes back, the money is voided or refunded."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import services as inventory
from orders.core.records import (
    ORDER_CANCELLED,
    InvalidOrderTransition,
    S,
    history_add,
    order_lock,
    order_publish,
    order_transition,
)
from orders.fulfilment.services import fulfilments_cancel_open
from orders.models import Order
from orders.payments.services import payment_refund, payment_void_open


@transaction.atomic
def order_cancel(order: Order, *, reason: str = "", actor: AbstractBaseUser | None = None) -> Order:
    """Cancel: the allocation goes back to stock, an open authorization is voided and what was
    captured is refunded, all in one transaction with the status change."""
    order = order_lock(order)
    if any(line.quantity_fulfilled for line in order.lines.all()):
        raise InvalidOrderTransition(
            _("Part of this order has shipped; return it instead of cancelling."),
            status=order.status,
        )
    order_transition(order, S.CANCELLED)
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
