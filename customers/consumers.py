"""Reactions to other apps' events: purchases from `order.paid` and `order.refunded`.

Each runs inside `commerce.events.dispatch`'s transaction with its receipt, so a re-delivered
event has no second effect; the services are idempotent on the order id as well.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from commerce.events import register_consumer
from commerce.models import EventReceipt, OutboxEvent
from customers import events as customer_events
from customers.services.purchases import purchase_record, purchase_refund

PURCHASES = "customers.purchases"


class PaidOrderNotYetSeen(Exception):
    """A refund arrived before its order's payment: dispatch retries it later."""


def on_order_paid(event: OutboxEvent) -> None:
    p = event.payload
    purchase_record(
        order_id=p.get("order_id") or event.subject_id,
        number=p.get("number", ""),
        channel=p.get("channel"),
        currency=p["currency"],
        total=p["total"],
        paid_at=p.get("paid_at") or event.occurred_at,
        customer_id=p.get("customer_id"),
        email=p.get("email") or "",
        phone=p.get("phone") or "",
        first_name=p.get("first_name") or "",
        last_name=p.get("last_name") or "",
    )


def on_order_refunded(event: OutboxEvent) -> None:
    p = event.payload
    order_id = str(p.get("order_id") or event.subject_id)
    purchase = purchase_refund(
        order_id=order_id, amount=p.get("amount"), refunded_total=p.get("refunded_total")
    )
    if purchase is not None:
        return
    paid_handled = EventReceipt.objects.filter(
        consumer=PURCHASES,
        event__type=customer_events.ORDER_PAID,
        event__subject_id=order_id,
    ).exists()
    if not paid_handled:
        raise PaidOrderNotYetSeen(
            _("Order %(id)s was refunded before its payment reached customers; retrying.")
            % {"id": order_id}
        )
    # Paid without a customer to credit (an anonymous till sale): nothing to reverse.


def register() -> None:
    register_consumer(
        name=PURCHASES,
        event_types=[customer_events.ORDER_PAID],
        handler=on_order_paid,
    )
    register_consumer(
        name=f"{PURCHASES}.refunds",
        event_types=[customer_events.ORDER_REFUNDED],
        handler=on_order_refunded,
    )
