"""Reactions to the customers app's events: a merge re-points orders and carts to the profile
that stays; an erasure removes the person from orders, carts and order events (the amounts,
dates and numbers stay: accounting keeps them)."""

from __future__ import annotations

from commerce.events import register_consumer
from commerce.models import OutboxEvent
from orders.models import Cart, Fulfilment, Order

CUSTOMER_MERGED = "customer.merged"
CUSTOMER_ERASED = "customer.erased"
PERSONAL_PAYLOAD_KEYS = {"email", "phone", "first_name", "last_name"}
PERSONAL_ADDRESS_KEYS = (
    "first_name",
    "last_name",
    "first_name_reading",
    "last_name_reading",
    "company",
    "line1",
    "line2",
    "phone",
)


def _anonymous(address: dict | None) -> dict | None:
    """Keep where (country, region, postal area) for reports; drop who and the street."""
    if not address:
        return address
    return {k: ("" if k in PERSONAL_ADDRESS_KEYS else v) for k, v in address.items()}


def on_customer_merged(event: OutboxEvent) -> None:
    survivor, duplicate = event.payload["survivor_id"], event.payload["duplicate_id"]
    Order.objects.filter(customer_id=duplicate).update(customer_id=survivor)
    Cart.objects.filter(customer_id=duplicate).update(customer_id=survivor)


def on_customer_erased(event: OutboxEvent) -> None:
    customer_id = event.payload["customer_id"]
    orders = list(Order.objects.filter(customer_id=customer_id))
    for order in orders:
        order.email = order.phone = order.note = ""
        order.shipping_address = _anonymous(order.shipping_address)
        order.billing_address = _anonymous(order.billing_address)
        order.save(update_fields=["email", "phone", "note", "shipping_address", "billing_address"])
    carts = list(Cart.objects.filter(customer_id=customer_id))
    for cart in carts:
        cart.email = cart.phone = cart.note = ""
        cart.shipping_address = _anonymous(cart.shipping_address)
        cart.billing_address = _anonymous(cart.billing_address)
        cart.save(update_fields=["email", "phone", "note", "shipping_address", "billing_address"])
    fulfilments = Fulfilment.objects.filter(order__in=orders).values_list("pk", flat=True)
    subjects = [
        ("order", [str(o.pk) for o in orders]),
        ("cart", [str(c.pk) for c in carts]),
        ("fulfilment", [str(pk) for pk in fulfilments]),
    ]
    for subject_type, ids in subjects:
        for row in OutboxEvent.objects.filter(subject_type=subject_type, subject_id__in=ids):
            payload = _anonymous_payload(row.payload)
            if payload != row.payload:
                OutboxEvent.objects.filter(pk=row.pk).update(payload=payload)


def _anonymous_payload(payload: dict) -> dict:
    """An event's payload without the person: their contact keys go, addresses keep only where."""
    kept = {k: v for k, v in payload.items() if k not in PERSONAL_PAYLOAD_KEYS}
    for key in ("shipping_address", "billing_address"):
        if isinstance(kept.get(key), dict):
            kept[key] = _anonymous(kept[key])
    return kept


def register() -> None:
    register_consumer(
        name="orders.customer_merged", event_types=[CUSTOMER_MERGED], handler=on_customer_merged
    )
    register_consumer(
        name="orders.customer_erased", event_types=[CUSTOMER_ERASED], handler=on_customer_erased
    )
