"""Order and fulfilment events → the customer's notifications.

Each handler runs in `commerce.events.dispatch`'s transaction with its receipt and only writes
log rows (and, for a delay, the order's follow-up flag); sending happens in the messages queue
after commit. A re-delivered event finds its receipt, and the unique constraint on the rows
would stop a second message even without it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from automation.messages import kinds
from automation.messages.selectors import notification_enabled, recipient_for_order
from automation.messages.services import message_queue
from automation.models import Message
from commerce.events import register_consumer
from commerce.models import OutboxEvent
from orders.models import Fulfilment, Order, PaymentMethod
from orders.services import order_flag

CONSUMER = "automation.messages"

PAID_LATER = frozenset({PaymentMethod.BANK_TRANSFER, PaymentMethod.CASH_ON_DELIVERY})


def _queue(
    event: OutboxEvent,
    order: Order,
    kind: str,
    *,
    fulfilment: Fulfilment | None = None,
    context: dict | None = None,
    due_at: datetime | None = None,
) -> None:
    if not notification_enabled(order.channel, kind):
        return
    recipient = recipient_for_order(order)
    if recipient is None:
        return
    message_queue(
        kind=kind,
        recipient=recipient.address,
        medium=recipient.medium,
        language=recipient.language,
        channel=order.channel,
        customer=recipient.customer,
        order=order,
        fulfilment=fulfilment,
        event=event,
        context=context,
        due_at=due_at,
    )


def _id(value) -> int | None:
    """An order or fulfilment id from a payload; events from other sources (a marketplace's
    own order ids, say) name no order of ours."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _order(event: OutboxEvent) -> Order | None:
    order_id = _id(
        event.payload.get("order_id")
        or (event.subject_id if event.subject_type == "order" else None)
    )
    if order_id is None:
        return None
    return Order.objects.select_related("channel", "customer").filter(pk=order_id).first()


def _fulfilment(event: OutboxEvent) -> Fulfilment | None:
    fulfilment_id = _id(event.payload.get("fulfilment_id") or event.subject_id)
    if fulfilment_id is None:
        return None
    return (
        Fulfilment.objects.select_related("order__channel", "order__customer", "location")
        .filter(pk=fulfilment_id)
        .first()
    )


def on_order_event(event: OutboxEvent) -> None:
    order = _order(event)
    if order is None:
        return
    if event.type == "order.placed":
        _queue(event, order, kinds.ORDER_CONFIRMATION)
    elif event.type == "order.paid":
        if order.payment_method in PAID_LATER:
            _queue(event, order, kinds.PAYMENT_RECEIVED)
    elif event.type == "order.cancelled":
        _queue(
            event,
            order,
            kinds.ORDER_CANCELLED,
            context={"cancellation_reason": event.payload.get("reason", "")},
        )
    elif event.type == "order.refunded":
        amount = event.payload.get("amount") or event.payload.get("refunded_total") or "0"
        _queue(event, order, kinds.REFUNDED, context={"refund_amount": str(amount)})


def on_fulfilment_event(event: OutboxEvent) -> None:
    fulfilment = _fulfilment(event)
    if fulfilment is None:
        return
    order = fulfilment.order
    shipment = fulfilment.kind == Fulfilment.Kind.SHIPMENT
    if event.type == "fulfilment.shipped" and shipment:
        _queue(event, order, kinds.SHIPPED, fulfilment=fulfilment)
    elif event.type == "fulfilment.delivered" and shipment:
        _queue(event, order, kinds.DELIVERED, fulfilment=fulfilment)
    elif event.type == "pickup.ready":
        _queue(event, order, kinds.PICKUP_READY, fulfilment=fulfilment)
        ready_at = fulfilment.ready_at or parse_datetime(str(event.payload.get("ready_at")))
        collect_by = (ready_at or timezone.now()) + timedelta(
            days=settings.ORDERS_PICKUP_COLLECT_DAYS
        )
        remind_at = max(
            collect_by - timedelta(hours=settings.MESSAGES_PICKUP_REMINDER_HOURS_BEFORE),
            (ready_at or timezone.now()) + timedelta(hours=1),
        )
        _queue(event, order, kinds.PICKUP_REMINDER, fulfilment=fulfilment, due_at=remind_at)
    elif event.type == "fulfilment.delayed":
        in_transit = bool(event.payload.get("in_transit"))
        if not order.flagged:
            reason = (
                _("%(number)s is in transit past its estimated delivery: check with the carrier.")
                if in_transit
                else _("%(number)s missed its promised dispatch: tell the customer when it ships.")
            )
            order_flag(order, reason=reason % {"number": fulfilment.number})
        context = None
        if in_transit:
            # Our new estimate: one more day from today in the shop's zone. The carrier knows
            # better; its next tracking report (import_tracking) updates the parcel.
            today = timezone.localdate(timezone.now(), timezone=ZoneInfo(settings.TIME_ZONE))
            context = {"in_transit": True, "new_estimate": str(today + timedelta(days=1))}
        _queue(event, order, kinds.DELAY_NOTICE, fulfilment=fulfilment, context=context)


ORDER_EVENTS = ["order.placed", "order.paid", "order.cancelled", "order.refunded"]
FULFILMENT_EVENTS = [
    "fulfilment.shipped",
    "fulfilment.delivered",
    "pickup.ready",
    "fulfilment.delayed",
]


def register() -> None:
    register_consumer(name=f"{CONSUMER}.orders", event_types=ORDER_EVENTS, handler=on_order_event)
    register_consumer(
        name=f"{CONSUMER}.fulfilments", event_types=FULFILMENT_EVENTS, handler=on_fulfilment_event
    )
    register_privacy()


def on_customer_erased(event: OutboxEvent) -> None:
    """The messages to an erased person keep what was sent when (proof), not to whom or what."""
    customer_id = _id(event.payload.get("customer_id"))
    if customer_id is None:
        return
    Message.objects.filter(Q(customer_id=customer_id) | Q(order__customer_id=customer_id)).update(
        recipient="", subject="", body_text="", context={}, reason=""
    )


def register_privacy() -> None:
    register_consumer(
        name=f"{CONSUMER}.erasure", event_types=["customer.erased"], handler=on_customer_erased
    )
