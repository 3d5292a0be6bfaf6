"""The customer 360 page: one person's whole history in one place.

Identity and contact, every order across channels with its fulfilments and tracking, payments,
loyalty and the recent point ledger, consents, addresses, segments and RFM scores; and a button
that starts a phone order for the customer. It lives in the orders app because orders sit above
customers (customers may not import orders; the customer's own page links here by URL name).

Served at admin/orders/order/customer-360/<id>/ (through `OrderAdmin.get_urls`) to staff who
may view both orders and customers. The reads are a fixed number of queries whatever the number
of orders (everything per order is prefetched).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from commerce.admin_helpers import money, when
from commerce.admin_panels import panels_for
from customers.models import Address, Customer, LoyaltyAccount, Medium, PointEntry
from customers.selectors import customers_for_staff
from orders.admin_fulfilment import day, is_late
from orders.models import Fulfilment, Order, Payment, PaymentAttempt, Transaction

PERMISSIONS = ("orders.view_order", "customers.view_customer")
ORDERS_SHOWN = 100
POINT_ENTRIES_SHOWN = 10


def customer_360(customer_id: int) -> dict[str, Any] | None:
    """Everything the page shows, read in a fixed number of queries. None: no such customer."""
    customer = (
        customers_for_staff()
        .select_related("loyalty__programme", "user")
        .prefetch_related(
            Prefetch("addresses", queryset=Address.objects.order_by("-is_default_shipping", "id")),
            "consents",
            "spend",
        )
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        return None
    orders_qs = Order.objects.filter(customer=customer).exclude(number=None)
    orders = list(
        orders_qs.select_related("channel")
        .prefetch_related(
            Prefetch(
                "fulfilments",
                queryset=Fulfilment.objects.select_related("location", "carrier").order_by("id"),
            ),
            Prefetch(
                "payments",
                queryset=Payment.objects.order_by("id").prefetch_related(
                    Prefetch(
                        "transactions", queryset=Transaction.objects.order_by("created_at", "id")
                    )
                ),
            ),
        )
        .order_by("-placed_at", "-id")[:ORDERS_SHOWN]
    )
    order_count = len(orders) if len(orders) < ORDERS_SHOWN else orders_qs.count()
    try:
        account = customer.loyalty
    except LoyaltyAccount.DoesNotExist:
        account = None
    entries = (
        list(
            PointEntry.objects.filter(account=account).order_by("-created_at", "-id")[
                :POINT_ENTRIES_SHOWN
            ]
        )
        if account
        else []
    )
    return {
        "customer": customer,
        "identity": [*_identity(customer), _declines(customer)],
        "orders": [_order_row(order) for order in orders],
        "order_count": order_count,
        "orders_cut": order_count > len(orders),
        "channels": sorted({order.channel.name for order in orders}),
        "payments": _payment_rows(orders),
        "money": _money_summary(orders),
        "spend": [
            {
                "currency": s.currency,
                "orders": s.order_count,
                "spent": money(s.total_spent, s.currency),
                "refunded": money(s.total_refunded, s.currency),
            }
            for s in customer.spend.all()
        ],
        "loyalty": _loyalty(account, entries),
        "consents": _consents(customer),
        "addresses": list(customer.addresses.all()),
        "segments": [s.name for s in customer.segments.all()],
        "tags": [t.name for t in customer.tags.all()],
        "identifiers": [
            {"channel": i.channel.name, "kind": i.get_kind_display(), "value": i.value}
            for i in customer.identifiers.all()
        ],
        "scores": _scores(customer),
    }


def _identity(customer: Customer) -> list[tuple[Any, Any]]:
    reading = " ".join(p for p in (customer.last_name_reading, customer.first_name_reading) if p)
    if customer.user_id is None:
        login = _("guest (no login)")
    else:
        login = _("yes, last sign-in %(when)s") % {
            "when": when(customer.user.last_login) if customer.user.last_login else _("never")
        }
    return [
        (_("Name"), customer.full_name or "—"),
        (_("Reading"), reading or "—"),
        (_("E-mail"), customer.email or "—"),
        (_("Phone"), customer.phone or "—"),
        (_("Preferred language"), customer.language or "—"),
        (_("Storefront login"), login),
        (
            _("Acquired"),
            _("%(channel)s, %(when)s")
            % {
                "channel": customer.acquired_channel.name if customer.acquired_channel else "—",
                "when": when(customer.acquired_at),
            },
        ),
        (_("State"), customer.get_state_display()),
    ]


def _declines(customer: Customer) -> tuple[Any, Any]:
    """Card testing shows here too: declined (or refused, past the limits) card payments of
    the last 30 days, linked to the payment attempts."""
    count = PaymentAttempt.objects.filter(
        customer=customer,
        outcome__in=[PaymentAttempt.Outcome.DECLINED, PaymentAttempt.Outcome.REFUSED],
        created_at__gte=timezone.now() - timedelta(days=30),
    ).count()
    if not count:
        return (_("Declined card payments (30 days)"), "0")
    url = reverse("admin:orders_paymentattempt_changelist")
    return (
        _("Declined card payments (30 days)"),
        format_html('<a href="{}?customer={}"><strong>{}</strong></a>', url, customer.pk, count),
    )


def _scores(customer: Customer) -> list[tuple[Any, Any]]:
    currency = customer.primary_currency
    rfm = (
        f"{customer.rfm_recency} / {customer.rfm_frequency} / {customer.rfm_monetary}"
        if customer.rfm_recency is not None
        else "—"
    )
    return [
        (_("Orders (paid)"), customer.order_count),
        (_("Lifetime value"), money(customer.lifetime_value, currency) if currency else "—"),
        (
            _("Average order"),
            money(customer.average_order_value, currency) if currency else "—",
        ),
        (_("First order"), when(customer.first_order_at)),
        (_("Last order"), when(customer.last_order_at)),
        (_("R / F / M"), rfm),
        (_("RFM segment"), customer.get_rfm_segment_display() or "—"),
        (_("Churn risk"), _("yes") if customer.churn_risk else _("no")),
    ]


def _order_row(order: Order) -> dict[str, Any]:
    now = timezone.now()
    return {
        "pk": order.pk,
        "number": order.number,
        "url": reverse("admin:orders_order_change", args=[order.pk]),
        "channel": order.channel.name,
        "channel_kind": order.channel.get_kind_display(),
        "placed": when(order.placed_at),
        "status": order.get_status_display(),
        "payment_status": order.get_payment_status_display(),
        "payment_method": order.get_payment_method_display(),
        "total": money(order.total, order.currency),
        "fulfilments": [
            {
                "pk": f.pk,
                "number": f.number,
                "url": reverse("admin:orders_fulfilment_change", args=[f.pk]),
                "kind": f.get_kind_display(),
                "state": f.get_state_display(),
                "late": is_late(f, now),
                "location": f.location.name,
                "carrier": f.carrier.name if f.carrier_id else "",
                "tracking_number": f.tracking_number,
                "tracking_url": f.tracking_url,
                "estimated_delivery": day(f.estimated_delivery),
                "delivered": when(f.delivered_at) if f.delivered_at else "",
            }
            for f in order.fulfilments.all()
        ],
    }


def _payment_rows(orders: list[Order]) -> list[dict[str, Any]]:
    rows = []
    for order in orders:
        for payment in order.payments.all():
            done: dict[str, Decimal] = defaultdict(Decimal)
            last = None
            for t in payment.transactions.all():
                last = t
                if t.status == Transaction.Status.SUCCESS:
                    done[t.kind] += t.amount
            rows.append(
                {
                    "order": order.number,
                    "order_url": reverse("admin:orders_order_change", args=[order.pk]),
                    "url": reverse("admin:orders_payment_change", args=[payment.pk]),
                    "pk": payment.pk,
                    "method": payment.get_method_display(),
                    "status": payment.get_status_display(),
                    "amount": money(payment.amount, payment.currency),
                    "captured": money(done[Transaction.Kind.CAPTURE], payment.currency),
                    "refunded": money(done[Transaction.Kind.REFUND], payment.currency),
                    "reference": payment.gateway_reference or "—",
                    "last": (
                        f"{when(last.created_at)} {last.get_kind_display()} "
                        f"{last.get_status_display()}"
                    )
                    if last
                    else (payment.error or "—"),
                }
            )
    return rows


def _money_summary(orders: list[Order]) -> list[dict[str, str]]:
    """Per currency over the orders shown (cancelled ones left out of the ordered total)."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for order in orders:
        t = totals[order.currency]
        if order.status != Order.Status.CANCELLED:
            t["ordered"] += order.total
            t["due"] += max(order.balance_due, Decimal(0))
        t["paid"] += order.paid_total
        t["refunded"] += order.refunded_total
    return [
        {
            "currency": currency,
            "ordered": money(t["ordered"], currency),
            "paid": money(t["paid"], currency),
            "refunded": money(t["refunded"], currency),
            "due": money(t["due"], currency),
        }
        for currency, t in sorted(totals.items())
    ]


def _loyalty(account, entries: list[PointEntry]) -> dict[str, Any] | None:
    if account is None:
        return None
    return {
        "programme": account.programme.name,
        "tier": account.tier.name if account.tier_id else "—",
        "balance": account.balance,
        "lifetime": account.lifetime_points,
        "joined": when(account.joined_at),
        "ledger_url": reverse("admin:customers_pointentry_changelist")
        + f"?account__id__exact={account.pk}",
        "entries": [
            {
                "at": when(e.created_at),
                "kind": e.get_kind_display(),
                "points": f"{e.points:+d}",
                "reference": e.reference or "—",
                "reason": e.reason or "—",
            }
            for e in entries
        ],
    }


def _consents(customer: Customer) -> list[dict[str, Any]]:
    current = {c.medium: c for c in customer.consents.all()}
    rows = []
    for medium in Medium:
        consent = current.get(medium.value)
        rows.append(
            {
                "medium": medium.label,
                "answer": (_("opted in") if consent.granted else _("opted out"))
                if consent
                else _("never asked (no)"),
                "since": when(consent.changed_at) if consent else "—",
                "text_version": (consent.text_version if consent else "") or "—",
            }
        )
    return rows


def customer_360_view(order_admin, request, customer_id: int):
    if not all(request.user.has_perm(p) for p in PERMISSIONS):
        raise PermissionDenied
    data = customer_360(customer_id)
    if data is None:
        raise Http404(_("There is no customer #%(id)s.") % {"id": customer_id})
    customer = data["customer"]
    context = {
        **order_admin.admin_site.each_context(request),
        "opts": order_admin.model._meta,
        "title": _("Customer 360: %(name)s") % {"name": customer},
        **data,
        "extra_panels": panels_for("customer_360", request, customer),
        "can_phone_order": customer.is_active and request.user.has_perm("orders.add_order"),
        "phone_order_url": f"{reverse('admin:orders_order_phone')}?customer={customer.pk}",
        "profile_url": reverse("admin:customers_customer_change", args=[customer.pk]),
        "merged_into_url": reverse("admin:orders_customer_360", args=[customer.merged_into_id])
        if customer.merged_into_id
        else "",
    }
    return TemplateResponse(request, "admin/orders/customer_360.html", context)


def urls(order_admin) -> list:
    return [
        path(
            "customer-360/<int:customer_id>/",
            order_admin.admin_site.admin_view(partial(customer_360_view, order_admin)),
            name="orders_customer_360",
        )
    ]
