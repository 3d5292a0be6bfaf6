"""Payment reconciliation: orders whose payment state does not match their transactions,
payments the gateway took that no order holds, and a gateway settlement file against our books.

Settlement file: CSV with a header `reference,kind,amount,currency` (kind `capture` or
`refund`; `reference` is the gateway's operation reference, as on our transactions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import IO

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from commerce.errors import ValidationFailed
from commerce.importing import CsvFile
from orders.models import Order, Transaction
from orders.payments.services import _open_authorized, payment_status_for, payments_refresh
from orders.placement.checkout import payment_resolve, payments_unfinished

ZERO = Decimal(0)


@dataclass(frozen=True)
class Finding:
    kind: str  # totals, unfinished_payment, settlement_missing, settlement_amount, not_settled
    subject: str
    detail: str


def _sums(order: Order) -> tuple[Decimal, Decimal]:
    rows = dict(
        Transaction.objects.filter(payment__order=order, status=Transaction.Status.SUCCESS)
        .values("kind")
        .annotate(total=Sum("amount"))
        .values_list("kind", "total")
    )
    return rows.get(Transaction.Kind.CAPTURE, ZERO), rows.get(Transaction.Kind.REFUND, ZERO)


def orders_out_of_step(*, fix: bool = False) -> list[Finding]:
    """Orders whose paid/refunded totals or payment status differ from their transactions."""
    findings = []
    for order in Order.objects.order_by("id").iterator(chunk_size=500):
        paid, refunded = _sums(order)
        expected_status = payment_status_for(
            order, paid=paid, refunded=refunded, authorized=_open_authorized(order)
        )
        if (order.paid_total, order.refunded_total, order.payment_status) == (
            paid,
            refunded,
            expected_status,
        ):
            continue
        findings.append(
            Finding(
                "totals",
                order.number,
                _(
                    "paid %(paid)s (transactions %(tpaid)s), refunded %(refunded)s "
                    "(transactions %(trefunded)s), status %(status)s (expected %(expected)s)"
                )
                % {
                    "paid": order.paid_total,
                    "tpaid": paid,
                    "refunded": order.refunded_total,
                    "trefunded": refunded,
                    "status": order.payment_status,
                    "expected": expected_status,
                },
            )
        )
        if fix:
            with transaction.atomic():
                payments_refresh(Order.objects.select_for_update().get(pk=order.pk))
    return findings


def payments_without_order(*, fix: bool = False) -> list[Finding]:
    """Payments the gateway may have taken while no order holds them (the process died between
    payment and order). With `fix`, each is attached to its cart's one order or voided."""
    findings = []
    age = timedelta(seconds=settings.ORDERS_IDEMPOTENCY_LEASE_SECONDS)
    for payment in payments_unfinished(older_than=age):
        detail = _("%(status)s %(amount)s %(currency)s, cart %(cart)s") % {
            "status": payment.status,
            "amount": payment.amount,
            "currency": payment.currency,
            "cart": payment.cart_id,
        }
        if fix:
            detail += " → " + payment_resolve(payment)
        findings.append(Finding("unfinished_payment", payment.idempotency_key, detail))
    return findings


def settlement_compare(file: IO[str]) -> list[Finding]:
    """Rows of a gateway settlement file that our books lack or disagree with, and our
    gateway transactions the file should list but does not."""
    reader = CsvFile(file)
    if reader.header_problems:
        raise ValidationFailed({"file": reader.header_problems})
    missing_columns = {"reference", "kind", "amount", "currency"} - set(reader.header)
    if missing_columns:
        raise ValidationFailed(
            {"file": [_("Missing columns: %(c)s") % {"c": ", ".join(sorted(missing_columns))}]}
        )
    findings, seen = [], set()
    for row in reader.rows():
        number = row.line
        if row.problems:
            # Short, long or unreadable: compared with nothing, so no value is guessed.
            findings.append(Finding("settlement_row", f"row {number}", " ".join(row.problems)))
            continue
        reference, kind = row.clean("reference"), row.clean("kind")
        currency = row.clean("currency")
        try:
            amount = Decimal(row.clean("amount"))
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            findings.append(Finding("settlement_row", f"row {number}", _("amount is not a number")))
            continue
        seen.add(reference)
        ours = Transaction.objects.filter(
            gateway_reference=reference, kind=kind, status=Transaction.Status.SUCCESS
        ).first()
        if ours is None:
            findings.append(
                Finding(
                    "settlement_missing",
                    reference,
                    _("row %(n)s: not in our books") % {"n": number},
                )
            )
        elif ours.amount != amount or ours.payment.currency != currency:
            findings.append(
                Finding(
                    "settlement_amount",
                    reference,
                    _("row %(n)s: %(theirs)s %(tc)s, ours %(ours)s %(oc)s")
                    % {
                        "n": number,
                        "theirs": amount,
                        "tc": currency,
                        "ours": ours.amount,
                        "oc": ours.payment.currency,
                    },
                )
            )
    if seen:
        ours_not_listed = (
            Transaction.objects.filter(
                status=Transaction.Status.SUCCESS,
                kind__in=[Transaction.Kind.CAPTURE, Transaction.Kind.REFUND],
                payment__method="card",
            )
            .exclude(gateway_reference="")
            .exclude(gateway_reference__in=seen)
            .values_list("gateway_reference", "kind", "amount")
        )
        for reference, kind, amount in ours_not_listed:
            findings.append(
                Finding(
                    "not_settled",
                    reference,
                    _("our %(kind)s of %(amount)s is not in the file")
                    % {"kind": kind, "amount": amount},
                )
            )
    return findings
