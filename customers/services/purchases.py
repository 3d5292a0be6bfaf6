"""What customers bought, learnt from order events, and the statistics derived from it.

`orders` sits above this app and publishes `order.paid` / `order.refunded` with everything needed
here; this app never imports it. Statistics are recomputed from the customer's purchases on each
change (a few rows, one indexed query), so they cannot drift from them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Sum
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from commerce.models import Channel
from customers.errors import CustomerNotFound, ValidationFailed
from customers.models import Customer, CustomerSpend, Purchase
from customers.services.loyalty import points_earn_for_purchase, points_reverse_for_refund
from customers.services.profiles import customer_find_or_create, customer_resolve

ZERO = Decimal(0)
logger = logging.getLogger(__name__)


def _decimal(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError) as exc:
        raise ValidationFailed(
            {field: [_("%(value)s is not an amount.") % {"value": value}]}
        ) from exc


def _when(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value or ""))
    if parsed is None:
        raise ValidationFailed({field: [_("%(value)s is not a date and time.") % {"value": value}]})
    return parsed


def _customer_for(
    *, customer_id: Any, email: str, phone: str, channel: Channel | None, names: dict[str, str]
) -> Customer | None:
    if customer_id:
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            raise CustomerNotFound(_("Customer #%(id)s does not exist.") % {"id": customer_id})
        return customer_resolve(customer)
    if email or phone:
        try:
            customer, _created = customer_find_or_create(
                email=email, phone=phone, channel=channel, **names
            )
        except ValidationFailed:
            # Only an unusable phone number to go by: retrying would never succeed, and the
            # sale must still count for the shop. It stays unattributed, like a till sale.
            logger.warning("A paid order's contact details are unusable; credited to nobody")
            return None
        return customer
    return None  # an anonymous till sale: nobody to credit


@transaction.atomic
def purchase_record(
    *,
    order_id: Any,
    currency: str,
    total: Any,
    paid_at: Any,
    number: str = "",
    channel: str | None = None,
    customer_id: Any = None,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
) -> Purchase | None:
    """Record a paid order for its customer, refresh their statistics and earn points. The
    same order twice is recorded once."""
    existing = Purchase.objects.filter(order_id=str(order_id)).first()
    if existing is not None:
        return existing
    channel_obj = Channel.objects.filter(code=channel).first() if channel else None
    names = {k: v for k, v in {"first_name": first_name, "last_name": last_name}.items() if v}
    customer = _customer_for(
        customer_id=customer_id, email=email, phone=phone, channel=channel_obj, names=names
    )
    if customer is None:
        return None
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    while customer.state == Customer.State.MERGED:  # merged while we looked it up
        customer = Customer.objects.select_for_update().get(pk=customer_resolve(customer).pk)
    purchase = Purchase.objects.create(
        customer=customer,
        order_id=str(order_id),
        order_number=number or "",
        channel=channel_obj,
        currency=currency,
        total=_decimal(total, "total"),
        paid_at=_when(paid_at, "paid_at"),
    )
    stats_refresh(customer)
    if customer.is_active:
        points_earn_for_purchase(purchase)
    return purchase


@transaction.atomic
def purchase_refund(
    *, order_id: Any, amount: Any = None, refunded_total: Any = None
) -> Purchase | None:
    """Apply a refund. With `refunded_total` (the order's cumulative refunds) the result does
    not depend on how often or in which order refund events arrive. Returns None when the order
    is unknown here."""
    purchase = _lock_purchase(str(order_id))
    if purchase is None:
        return None
    if refunded_total is not None:
        refunded = max(purchase.refunded, _decimal(refunded_total, "refunded_total"))
    else:
        refunded = purchase.refunded + _decimal(amount, "amount")
    refunded = min(refunded, purchase.total)
    if refunded == purchase.refunded:
        return purchase
    purchase.refunded = refunded
    purchase.save(update_fields=["refunded"])
    stats_refresh(purchase.customer)
    points_reverse_for_refund(purchase)
    return purchase


def _lock_purchase(order_id: str) -> Purchase | None:
    """Lock the purchase's customer, then the purchase: the order a merge locks them in. A
    merge may move the purchase between the two steps; then lock its new customer."""
    while True:
        customer_id = (
            Purchase.objects.filter(order_id=order_id).values_list("customer_id", flat=True).first()
        )
        if customer_id is None:
            return None
        Customer.objects.select_for_update().filter(pk=customer_id).first()
        purchase = Purchase.objects.select_for_update().filter(order_id=order_id).first()
        if purchase.customer_id == customer_id:
            return purchase


def stats_refresh(customer: Customer) -> Customer:
    """Recompute the customer's statistics from their purchases (caller holds the row lock)."""
    per_currency = list(
        Purchase.objects.filter(customer=customer)
        .values("currency")
        .annotate(orders=Count("id"), paid=Sum("total"), refunded=Sum("refunded"))
        .order_by("currency")
    )
    CustomerSpend.objects.filter(customer=customer).exclude(
        currency__in=[row["currency"] for row in per_currency]
    ).delete()
    for row in per_currency:
        CustomerSpend.objects.update_or_create(
            customer=customer,
            currency=row["currency"],
            defaults={
                "order_count": row["orders"],
                "total_spent": row["paid"] or ZERO,
                "total_refunded": row["refunded"] or ZERO,
            },
        )
    times = Purchase.objects.filter(customer=customer).aggregate(
        first=Min("paid_at"), last=Max("paid_at"), count=Count("id")
    )
    customer.order_count = times["count"]
    customer.first_order_at = times["first"]
    customer.last_order_at = times["last"]
    if per_currency:
        main = max(per_currency, key=lambda r: (r["orders"], r["paid"] - r["refunded"]))
        net = main["paid"] - main["refunded"]
        customer.primary_currency = main["currency"]
        customer.lifetime_value = net
        customer.average_order_value = net / main["orders"]
    else:
        customer.primary_currency = ""
        customer.lifetime_value = ZERO
        customer.average_order_value = ZERO
    customer.average_days_between_orders = _rhythm(customer)
    customer.churn_risk_from = _churn_risk_from(customer)
    customer.save(
        update_fields=[
            "order_count",
            "first_order_at",
            "last_order_at",
            "primary_currency",
            "lifetime_value",
            "average_order_value",
            "average_days_between_orders",
            "churn_risk_from",
            "updated_at",
        ]
    )
    return customer


def _rhythm(customer: Customer) -> Decimal | None:
    if customer.order_count < 2:
        return None
    span = customer.last_order_at - customer.first_order_at
    days = Decimal(span.total_seconds()) / Decimal(86400) / (customer.order_count - 1)
    return days.quantize(Decimal("0.1"))


def _churn_risk_from(customer: Customer) -> datetime | None:
    """When silence since the last order becomes unusual for this customer: a multiple of their
    own average gap between orders (at least a floor, so weekly buyers are not flagged after a
    fortnight's holiday); for one-time buyers, a fixed number of days."""
    if customer.last_order_at is None:
        return None
    rhythm = customer.average_days_between_orders
    if rhythm is None:
        days = Decimal(settings.CUSTOMERS_CHURN_SINGLE_ORDER_DAYS)
    else:
        days = max(
            rhythm * Decimal(str(settings.CUSTOMERS_CHURN_RHYTHM_FACTOR)),
            Decimal(settings.CUSTOMERS_CHURN_MIN_DAYS),
        )
    return customer.last_order_at + timedelta(days=float(days))
