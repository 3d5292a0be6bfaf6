"""Helpers that make customers' data the way the product does: through `customers.services`.

No row here is written behind the services' back, so every test sees only what the application
itself could have written (statistics, ledger sums and events included).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connections, transaction
from django.db.models import Sum
from django.utils import timezone

from commerce import events
from commerce.models import Channel, OutboxEvent
from customers import events as customer_events
from customers.models import Customer, LoyaltyAccount, PointEntry, Purchase
from customers.services import customer_create, purchase_record, purchase_refund

_numbers = itertools.count(1)


def customer(
    *, email: str | None = None, channel: Channel | None = None, **fields: Any
) -> Customer:
    """A guest profile through `customer_create`; a unique e-mail unless one is given."""
    n = next(_numbers)
    if email is None:
        email = f"person{n}@example.com"
    fields.setdefault("first_name", f"First{n}")
    fields.setdefault("last_name", f"Last{n}")
    return customer_create(email=email, channel=channel, **fields)


def order_id() -> str:
    return f"ord-{next(_numbers):06d}"


def buy(
    person: Customer,
    total: Decimal | str | int,
    *,
    currency: str = "JPY",
    paid_at: datetime | None = None,
    order: str | None = None,
    channel: str | None = None,
) -> Purchase:
    """A paid order of `person`, recorded as the `order.paid` consumer records it."""
    purchase = purchase_record(
        order_id=order or order_id(),
        number="",
        channel=channel,
        currency=currency,
        total=str(total),
        paid_at=paid_at or timezone.now(),
        customer_id=person.pk,
    )
    assert purchase is not None
    return purchase


def refund(purchase: Purchase, refunded_total: Decimal | str | int) -> Purchase:
    result = purchase_refund(order_id=purchase.order_id, refunded_total=str(refunded_total))
    assert result is not None
    return result


def publish_order_paid(
    order: str,
    total: Decimal | str | int,
    *,
    currency: str = "JPY",
    paid_at: datetime | None = None,
    **payload: Any,
) -> OutboxEvent:
    """What `orders` publishes when an order is paid: the event, committed with its transaction."""
    with transaction.atomic():
        return events.publish(
            type=customer_events.ORDER_PAID,
            subject_type="order",
            subject_id=order,
            payload={
                "order_id": order,
                "number": f"N-{order}",
                "currency": currency,
                "total": str(total),
                "paid_at": (paid_at or timezone.now()).isoformat(),
                **payload,
            },
        )


def publish_order_refunded(
    order: str, *, currency: str = "JPY", amount: Any = None, refunded_total: Any = None
) -> OutboxEvent:
    payload: dict[str, Any] = {"order_id": order, "currency": currency}
    if amount is not None:
        payload["amount"] = str(amount)
    if refunded_total is not None:
        payload["refunded_total"] = str(refunded_total)
    payload["refunded_at"] = timezone.now().isoformat()
    with transaction.atomic():
        return events.publish(
            type=customer_events.ORDER_REFUNDED,
            subject_type="order",
            subject_id=order,
            payload=payload,
        )


def account_of(person: Customer) -> LoyaltyAccount:
    return LoyaltyAccount.objects.get(customer_id=person.pk)


def ledger(person: Customer) -> list[tuple[str, int, str]]:
    """(kind, points, reference) of the person's point entries, oldest first."""
    return list(
        PointEntry.objects.filter(account__customer_id=person.pk)
        .order_by("created_at", "id")
        .values_list("kind", "points", "reference")
    )


def ledger_sum(account: LoyaltyAccount) -> int:
    return account.entries.aggregate(s=Sum("points"))["s"] or 0


def events_of(event_type: str, *, after_id: int = 0) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=event_type, pk__gt=after_id).order_by("pk"))


def last_event_id() -> int:
    return OutboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def run_concurrently(calls: list[Callable[[], Any]], *, timeout: float = 60) -> list[Any]:
    """Each call in its own thread, released together by a barrier; results or exceptions.

    Each thread closes its database connection when done, so none outlives the test.
    """
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[index] = call()
        except BaseException as exc:  # reported to the test as the outcome
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    return outcomes


# Customer fields that identify the person (what an erasure blanks).
PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "first_name_reading",
    "last_name_reading",
    "email",
    "phone",
    "notes",
)
