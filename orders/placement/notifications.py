"""Gateway notifications: applied to the payment, and the order placed when the money is there
and the completion call never finished."""

from __future__ import annotations

from typing import Any

from orders.models import Payment, PaymentNotification
from orders.payments.services import notification_apply
from orders.placement.checkout import payment_finish


def notification_handle(gateway_code: str, payload: dict[str, Any]) -> str:
    """A gateway's notification: recorded once per event id, applied to the payment it names
    (by our idempotency key), and (when it says the money is there and the completion call
    never finished) the order is placed from the payment's snapshot. Returns what happened."""
    notification, payment, result = notification_apply(gateway_code, payload)
    if notification is None:
        return result
    if (
        payment is not None
        and payment.order_id is None
        and payment.status in (Payment.Status.AUTHORIZED, Payment.Status.CAPTURED)
    ):
        order = payment_finish(payment)
        result = f"order {order.number}" if order else "voided"
    PaymentNotification.objects.filter(pk=notification.pk).update(result=result)
    return result
