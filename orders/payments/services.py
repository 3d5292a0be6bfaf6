"""Payments: recording what the gateway did, capture, refund, void, staff settlement,
gateway notifications. An order's paid and refunded totals are always sums of transactions."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from commerce.errors import Conflict, DomainError, ValidationFailed
from commerce.money import quantize
from orders.core.records import (
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_UPDATED,
    history_add,
    order_lock,
    order_publish,
)
from orders.models import Order, Payment, PaymentMethod, PaymentNotification, Transaction
from orders.payments.card_testing import attempt_settle
from orders.payments.gateways import GatewayResult, GatewayUnavailable, gateway_get

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
T = Transaction


class PaymentDeclined(DomainError):
    code = "payment_declined"
    status = 402
    title = gettext_lazy("The payment was declined")


class PaymentGatewayError(DomainError):
    code = "payment_gateway_error"
    status = 502
    title = gettext_lazy("The payment provider did not answer")


def transaction_record(
    payment: Payment,
    kind: str,
    result: GatewayResult,
    *,
    source: str = "api",
    note: str = "",
) -> Transaction:
    """Write what the gateway reported, once per gateway operation (a notification repeating
    the API's answer finds the row and adds nothing)."""
    row = Transaction(
        payment=payment,
        kind=kind,
        status=T.Status.SUCCESS if result.success else T.Status.FAILURE,
        amount=result.amount,
        gateway_reference=result.reference,
        error=result.error[:250],
        source=source,
        note=note[:250],
    )
    if not result.reference:  # no operation to recognise it by: each report is its own row
        row.save()
        return row
    # One operation is one row (a unique constraint): a repeat inserts nothing and the first
    # row is what is returned, whoever wrote it.
    Transaction.objects.bulk_create([row], ignore_conflicts=True)
    return Transaction.objects.get(payment=payment, kind=kind, gateway_reference=result.reference)


def _open_authorized(order: Order) -> Decimal:
    """Authorized and neither captured nor voided, over the order's payments."""
    total = ZERO
    for payment in order.payments.exclude(status=Payment.Status.VOIDED).prefetch_related(
        "transactions"
    ):
        done = [t for t in payment.transactions.all() if t.status == T.Status.SUCCESS]
        if any(t.kind == T.Kind.VOID for t in done):
            continue
        authorized = sum((t.amount for t in done if t.kind == T.Kind.AUTHORIZE), ZERO)
        captured = sum((t.amount for t in done if t.kind == T.Kind.CAPTURE), ZERO)
        total += max(authorized - captured, ZERO)
    return total


def payment_status_for(
    order: Order, *, paid: Decimal, refunded: Decimal, authorized: Decimal
) -> str:
    P = Order.PaymentStatus
    if refunded > 0:
        return P.REFUNDED if refunded >= paid else P.PARTIALLY_REFUNDED
    if paid > 0 or order.total == 0:
        return P.PAID if paid >= order.total else P.PARTIALLY_PAID
    if authorized > 0:
        return P.AUTHORIZED
    if order.payment_method != PaymentMethod.CARD and order.status != Order.Status.CANCELLED:
        return P.AWAITING
    return P.NOT_CHARGED


def _totals(order: Order) -> tuple[Decimal, Decimal, Decimal]:
    """(captured, refunded, authorized and neither captured nor voided) over the order's
    payments, from their successful transactions, in one read."""
    paid = refunded = ZERO
    by_payment: dict[int, list[tuple[str, Decimal]]] = {}
    voided_payments = set()
    for payment_id, payment_status, kind, amount in Transaction.objects.filter(
        payment__order=order, status=T.Status.SUCCESS
    ).values_list("payment_id", "payment__status", "kind", "amount"):
        if kind == T.Kind.CAPTURE:
            paid += amount
        elif kind == T.Kind.REFUND:
            refunded += amount
        if payment_status == Payment.Status.VOIDED or kind == T.Kind.VOID:
            voided_payments.add(payment_id)
        by_payment.setdefault(payment_id, []).append((kind, amount))
    authorized = ZERO
    for payment_id, done in by_payment.items():
        if payment_id in voided_payments:
            continue
        held = sum((a for k, a in done if k == T.Kind.AUTHORIZE), ZERO)
        captured = sum((a for k, a in done if k == T.Kind.CAPTURE), ZERO)
        authorized += max(held - captured, ZERO)
    return paid, refunded, authorized


def payments_refresh(order: Order, *, announce: bool = True) -> Order:
    """Recompute the order's payment totals and status from its transactions; publish
    `order.paid` the first time it is paid in full."""
    paid, refunded, authorized = _totals(order)
    status = payment_status_for(order, paid=paid, refunded=refunded, authorized=authorized)
    newly_paid = order.paid_at is None and paid >= order.total and paid > 0
    order.paid_total, order.refunded_total, order.authorized_total = paid, refunded, authorized
    order.payment_status = status
    fields = ["paid_total", "refunded_total", "authorized_total", "payment_status", "updated_at"]
    if newly_paid:
        order.paid_at = timezone.now()
        fields.append("paid_at")
    order.save(update_fields=fields)
    if newly_paid and announce:
        history_add(order, "paid", _("Paid in full."))
        order_publish(order, ORDER_PAID, paid_at=order.paid_at)
    return order


def _apply_result(payment: Payment, kind: str, result: GatewayResult, *, source: str) -> None:
    transaction_record(payment, kind, result, source=source)
    if not payment.gateway_reference and result.payment_reference:
        payment.gateway_reference = result.payment_reference
    if kind in (T.Kind.AUTHORIZE, T.Kind.CAPTURE) and payment.status == Payment.Status.PENDING:
        if result.success:
            payment.status = (
                Payment.Status.CAPTURED if kind == T.Kind.CAPTURE else Payment.Status.AUTHORIZED
            )
        else:
            payment.status, payment.error = Payment.Status.DECLINED, result.error[:250]
            # A declined payment is never sent again: the card token need not be kept.
            payment.token = ""
    elif kind == T.Kind.CAPTURE and result.success:
        payment.status = Payment.Status.CAPTURED
    elif kind == T.Kind.VOID and result.success:
        payment.status = Payment.Status.VOIDED
    payment.save(update_fields=["gateway_reference", "status", "error", "token", "updated_at"])
    attempt_settle(payment)


def payment_authorize(payment: Payment, *, capture: bool, source: str = "api") -> Payment:
    """Call the gateway for a pending payment with its saved key, outside any transaction, and
    record the answer. Repeating this after a crash asks the gateway again with the same key:
    it answers with its first result and charges once."""
    gateway = gateway_get(payment.gateway)
    result = gateway.authorize(
        amount=payment.amount,
        currency=payment.currency,
        token=payment.token,
        key=payment.idempotency_key,
        capture=capture,
    )
    kind = T.Kind.CAPTURE if capture and result.success else T.Kind.AUTHORIZE
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        _apply_result(payment, kind, result, source=source)
        if payment.order_id:
            payments_refresh(Order.objects.get(pk=payment.order_id))
    return payment


def payment_void_unplaced(payment: Payment, *, reason: str) -> None:
    """Give back money taken for an order that could not be made (stock or a code ran out
    while the gateway answered, or a second payment for a cart that already has its order)."""
    gateway = gateway_get(payment.gateway)
    key = f"{payment.idempotency_key}:undo"
    try:
        if payment.status == Payment.Status.CAPTURED:
            result = gateway.refund(
                payment_reference=payment.gateway_reference,
                amount=payment.amount,
                currency=payment.currency,
                key=key,
            )
            kind = T.Kind.REFUND
        else:
            result = gateway.void(payment_reference=payment.gateway_reference, key=key)
            kind = T.Kind.VOID
    except GatewayUnavailable:
        logger.warning("Could not undo payment %s; reconcile_payments will retry", payment.pk)
        return
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        transaction_record(payment, kind, result, note=reason)
        if result.success:
            payment.status = Payment.Status.VOIDED
            payment.error = reason[:250]
            payment.save(update_fields=["status", "error", "updated_at"])


def _card_payment(order: Order) -> Payment | None:
    """The card payment with an authorization still open (never a voided or declined one)."""
    for payment in order.payments.filter(
        method=PaymentMethod.CARD,
        status__in=[Payment.Status.AUTHORIZED, Payment.Status.CAPTURED],
    ).order_by("id"):
        if _payment_sum(payment, T.Kind.AUTHORIZE) > _payment_sum(payment, T.Kind.CAPTURE):
            return payment
    return None


def _check_amount(order: Order, amount: Decimal, field: str = "amount") -> Decimal:
    try:
        amount = Decimal(amount)
    except Exception as exc:
        raise ValidationFailed({field: [_("Not an amount.")]}) from exc
    if amount <= 0 or quantize(amount, order.currency) != amount:
        raise ValidationFailed(
            {field: [_("Give a positive amount in %(currency)s.") % {"currency": order.currency}]}
        )
    return amount


def payment_capture(
    order: Order, *, amount: Decimal | None = None, actor: AbstractBaseUser | None = None
) -> Order:
    """Capture (part of) what is authorized. A refusal is recorded (a failed transaction, the
    order flagged) and then raised with the gateway's reason."""
    with transaction.atomic():
        order = order_lock(order)
        open_amount = _open_authorized(order)
        amount = open_amount if amount is None else _check_amount(order, amount)
        if amount <= 0 or amount > open_amount:
            raise Conflict(
                _("Only %(open)s %(currency)s is authorized and not yet captured.")
                % {"open": quantize(open_amount, order.currency), "currency": order.currency},
                authorized=str(open_amount),
            )
        payment = _card_payment(order)
        result = _gateway_call(
            lambda g: g.capture(
                payment_reference=payment.gateway_reference,
                amount=amount,
                currency=order.currency,
                key=f"{payment.idempotency_key}:capture:{uuid.uuid4().hex}",
            ),
            payment,
        )
        _apply_result(payment, T.Kind.CAPTURE, result, source="staff")
        if result.success:
            history_add(
                order,
                "captured",
                _("Captured %(amount)s %(currency)s.")
                % {"amount": amount, "currency": order.currency},
                actor=actor,
            )
            payments_refresh(order)
            order_publish(order, ORDER_UPDATED, change="captured", amount=amount)
        else:
            reason = _("Capture failed: %(error)s") % {"error": result.error}
            history_add(order, "capture_failed", reason, actor=actor)
            order.flagged, order.flag_reason = True, reason[:250]
            order.save(update_fields=["flagged", "flag_reason", "updated_at"])
    if not result.success:
        raise PaymentDeclined(result.error, order=order.number)
    return order


def _gateway_call(call, payment: Payment) -> GatewayResult:
    try:
        return call(gateway_get(payment.gateway))
    except GatewayUnavailable as exc:
        raise PaymentGatewayError(str(exc)) from exc


def payment_refund(
    order: Order,
    *,
    amount: Decimal | None = None,
    reason: str = "",
    actor: AbstractBaseUser | None = None,
    operation: str | None = None,
) -> Order:
    """Refund part or all of what was paid: through the gateway for cards, recorded for money
    taken by staff (cash, transfer). Emits `order.refunded` with the running total. The order
    stays locked meanwhile, so two refunds cannot both spend the same balance."""
    declined = ""
    with transaction.atomic():
        order = order_lock(order)
        refundable = order.paid_total - order.refunded_total
        amount = refundable if amount is None else _check_amount(order, amount)
        if amount <= 0 or amount > refundable:
            raise Conflict(
                _("At most %(refundable)s %(currency)s can be refunded.")
                % {"refundable": quantize(refundable, order.currency), "currency": order.currency},
                refundable=str(refundable),
            )
        left = amount
        for payment in order.payments.order_by("-id"):
            take = min(
                left, _payment_sum(payment, T.Kind.CAPTURE) - _payment_sum(payment, T.Kind.REFUND)
            )
            if take <= 0:
                continue
            if payment.method == PaymentMethod.CARD:
                result = _gateway_call(
                    lambda g, p=payment, t=take: g.refund(
                        payment_reference=p.gateway_reference,
                        amount=t,
                        currency=order.currency,
                        # A named operation (a cancel) keeps its key: repeated after a failure
                        # part-way, the gateway answers the refunds it already made.
                        key=f"{p.idempotency_key}:refund:{operation or uuid.uuid4().hex}",
                    ),
                    payment,
                )
                transaction_record(payment, T.Kind.REFUND, result, source="staff", note=reason)
                if not result.success:
                    declined = result.error
                    break
            else:
                Transaction.objects.create(
                    payment=payment,
                    kind=T.Kind.REFUND,
                    status=T.Status.SUCCESS,
                    amount=take,
                    source="staff",
                    note=reason[:250],
                )
            left -= take
            if left == 0:
                break
        done = amount - left
        payments_refresh(order)
        if done > 0:
            history_add(
                order,
                "refunded",
                _("Refunded %(amount)s %(currency)s. %(reason)s")
                % {"amount": done, "currency": order.currency, "reason": reason},
                actor=actor,
                amount=str(done),
            )
            order_publish(
                order,
                ORDER_REFUNDED,
                amount=done,
                refunded_total=order.refunded_total,
                refunded_at=timezone.now(),
                reason=reason,
            )
        if declined:
            history_add(
                order,
                "refund_failed",
                _("Refund failed: %(error)s") % {"error": declined},
                actor=actor,
            )
    if declined:
        raise PaymentDeclined(declined, order=order.number, refunded=str(amount - left))
    return order


def _payment_sum(payment: Payment, kind: str) -> Decimal:
    return (
        payment.transactions.filter(kind=kind, status=T.Status.SUCCESS).aggregate(
            total=Sum("amount")
        )["total"]
        or ZERO
    )


def payment_void_open(order: Order, *, actor: AbstractBaseUser | None = None) -> None:
    """Void every authorization of the order that was not captured (part of a cancel), and what
    is left of one captured only in part."""
    for payment in order.payments.filter(
        status__in=[Payment.Status.AUTHORIZED, Payment.Status.CAPTURED]
    ):
        if _payment_sum(payment, T.Kind.AUTHORIZE) <= _payment_sum(payment, T.Kind.CAPTURE):
            continue  # captured in full (or at checkout): nothing is left to void
        result = _gateway_call(
            lambda g, p=payment: g.void(
                payment_reference=p.gateway_reference, key=f"{p.idempotency_key}:void"
            ),
            payment,
        )
        if payment.status == Payment.Status.CAPTURED:
            # The rest of the authorization ends; what was captured stays captured.
            transaction_record(payment, T.Kind.VOID, result, source="staff")
        else:
            _apply_result(payment, T.Kind.VOID, result, source="staff")
    for payment in order.payments.filter(status=Payment.Status.AWAITING):
        payment.status = Payment.Status.VOIDED
        payment.save(update_fields=["status", "updated_at"])
    payments_refresh(order)


@transaction.atomic
def payment_settle(
    order: Order,
    *,
    amount: Decimal | None = None,
    note: str = "",
    actor: AbstractBaseUser | None = None,
) -> Order:
    """Staff record money received outside the gateway: cash on delivery collected, a bank
    transfer arrived, paid at the store's till."""
    order = order_lock(order)
    if amount is None and order.balance_due <= 0:
        raise Conflict(_("Nothing is due."), due="0")
    if order.payment_method == PaymentMethod.CARD:
        raise Conflict(_("Card payments are settled by the gateway; capture instead."))
    if order.status == Order.Status.CANCELLED:
        raise Conflict(_("The order is cancelled."), status=order.status)
    if order.balance_due <= 0:
        raise Conflict(_("Nothing is due."), due="0")
    amount = order.balance_due if amount is None else _check_amount(order, amount)
    if amount > order.balance_due:
        raise Conflict(
            _("Only %(due)s %(currency)s is due.")
            % {
                "due": quantize(max(order.balance_due, ZERO), order.currency),
                "currency": order.currency,
            },
            due=str(order.balance_due),
        )
    payment = order.payments.order_by("id").first()
    Transaction.objects.create(
        payment=payment,
        kind=T.Kind.CAPTURE,
        status=T.Status.SUCCESS,
        amount=amount,
        source="staff",
        note=note[:250],
    )
    payment.status = Payment.Status.CAPTURED
    payment.save(update_fields=["status", "updated_at"])
    history_add(
        order,
        "settled",
        _("%(method)s received: %(amount)s %(currency)s.")
        % {
            "method": order.get_payment_method_display(),
            "amount": amount,
            "currency": order.currency,
        },
        actor=actor,
    )
    payments_refresh(order)
    if order.status == Order.Status.UNCONFIRMED and order.paid_total >= order.total:
        order.status = Order.Status.UNFULFILLED  # a bank transfer arrived: the order can ship
        order.save(update_fields=["status", "updated_at"])
        history_add(order, "confirmed", _("Order confirmed: paid in full."), actor=actor)
    order_publish(order, ORDER_UPDATED, change="settled", amount=amount)
    return order


NOTIFICATION_KINDS = {
    "payment.authorized": T.Kind.AUTHORIZE,
    "payment.captured": T.Kind.CAPTURE,
    "payment.voided": T.Kind.VOID,
    "payment.refunded": T.Kind.REFUND,
    "payment.failed": T.Kind.AUTHORIZE,
}


def notification_apply(
    gateway_code: str, payload: dict[str, Any]
) -> tuple[PaymentNotification | None, Payment | None, str]:
    """A gateway's notification, recorded once per event id and applied to the payment it
    names (by our idempotency key). Returns the notification (None for a repeat), the payment
    and what happened; `placement.notifications` places the order a completion call left."""
    event_id, kind_name = str(payload.get("id", "")), str(payload.get("type", ""))
    errors = {}
    if not event_id:
        errors["id"] = [_("This field is required.")]
    if kind_name not in NOTIFICATION_KINDS:
        errors["type"] = [_("Unknown notification type.")]
    if errors:
        raise ValidationFailed(errors)
    try:
        with transaction.atomic():
            notification = PaymentNotification.objects.create(
                gateway=gateway_code, event_id=event_id, type=kind_name, payload=payload
            )
    except IntegrityError:
        return None, None, "duplicate"
    payment = Payment.objects.filter(
        Q(idempotency_key=payload.get("merchant_reference", ""))
        | Q(gateway=gateway_code, gateway_reference=payload.get("payment_reference") or "-")
    ).first()
    if payment is None:
        result = "unknown_payment"
    else:
        success = kind_name != "payment.failed"
        gateway_result = GatewayResult(
            success=success,
            reference=str(payload.get("operation_reference") or event_id),
            payment_reference=str(payload.get("payment_reference", "")),
            amount=Decimal(str(payload.get("amount", payment.amount))),
            error=str(payload.get("reason", "")),
        )
        with transaction.atomic():
            if payment.order_id:
                # The order before the payment, the order staff actions lock them in (they
                # hold the order while they write the payment): the two queue, not deadlock.
                order_lock(Order(pk=payment.order_id))
            payment = Payment.objects.select_for_update().get(pk=payment.pk)
            _apply_result(
                payment, NOTIFICATION_KINDS[kind_name], gateway_result, source="notification"
            )
            if payment.order_id:
                payments_refresh(Order.objects.get(pk=payment.order_id))
        result = "applied"
    return notification, payment, result
