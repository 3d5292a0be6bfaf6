"""Card testing: a stolen-card list tried against checkout, one card after another.

Every card payment sent to the gateway leaves a `PaymentAttempt` (cart, customer, client
address, a keyed hash of the token, amount, outcome). Before the next one is sent, checkout
counts the declined (and still unanswered) attempts of the cart, of the client address within
ORDERS_DECLINES_CLIENT_WINDOW_SECONDS and of the card token within
ORDERS_DECLINES_TOKEN_WINDOW_SECONDS. At a limit the payment is refused with 429
`too_many_declines` without calling the gateway, and the cart is closed for payment: the
storefront starts a new cart (which the client and token limits still cover until their windows
pass).

The counts come from the database, not the cache, so they hold while Redis is down and across
processes. They are taken with the cart row locked and, on PostgreSQL, transaction-level
advisory locks on the client and the token (always in that order, after the cart), and an
unanswered attempt counts like a decline: parallel completions on many carts cannot all slip
under the limit before any of them is answered.

Staff doors (phone orders, the till) pass no client address: a call centre or a store's tills
share one address for all their customers, and the agent is signed in and accountable. The
cart and token limits apply to them as to the web.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from commerce.errors import DomainError
from orders.models import Cart, Payment, PaymentAttempt

A = PaymentAttempt.Outcome
# An unanswered attempt may turn out declined: it counts until it is answered.
COUNTED = [A.PENDING, A.DECLINED]


class TooManyDeclines(DomainError):
    code = "too_many_declines"
    status = 429
    title = gettext_lazy("Too many declined payments")

    def __init__(self, detail, *, limit: str, retry_after: int) -> None:
        super().__init__(detail, limit=limit, retry_after=retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class PaymentClient:
    """Who is paying, as the door saw them. `ip` is blank for the staff doors."""

    ip: str = ""


def token_fingerprint(token: str) -> str:
    """A keyed hash of the card token (HMAC-SHA256 under SECRET_KEY): the same token always
    matches, and the token cannot be read back or guessed from a list of known tokens."""
    if not token:
        return ""
    return salted_hmac("orders.payment-token", token, algorithm="sha256").hexdigest()


def _advisory_locks(keys: list[str]) -> None:
    """Take the locks in the order given, in one statement (a volatile function in the select
    list runs after the ORDER BY, so row by row in that order)."""
    if connection.vendor != "postgresql" or not keys:
        return  # SQLite (the demo) runs one writer at a time
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('orders.payment-attempt'), hashtext(k)) "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n",
            [keys],
        )


def _seconds_until_below(
    times: list[datetime], *, limit: int, window: timedelta, now: datetime
) -> int | None:
    """None when under the limit; otherwise the seconds until enough attempts leave the window
    for one more to be allowed."""
    times = sorted(t for t in times if t > now - window)
    if len(times) < limit:
        return None
    frees_at = times[len(times) - limit] + window
    return max(1, math.ceil((frees_at - now).total_seconds()))


def declines_check(cart: Cart, *, client: PaymentClient, fingerprint: str) -> None:
    """Refuse a card payment past a decline limit. Call with the cart row locked, in the
    transaction that then records the attempt (`attempt_open`). A refusal is recorded (and the
    cart closed) by `attempt_refuse`, which the caller runs once this transaction commits."""
    now = timezone.now()
    locks = []
    if client.ip:
        locks.append(f"client:{client.ip}")
    if fingerprint:
        locks.append(f"token:{fingerprint}")
    _advisory_locks(locks)
    client_window = timedelta(seconds=settings.ORDERS_DECLINES_CLIENT_WINDOW_SECONDS)
    token_window = timedelta(seconds=settings.ORDERS_DECLINES_TOKEN_WINDOW_SECONDS)
    # The client's, the card's and the cart's counted attempts, in one read.
    counted = Q(cart=cart)
    if client.ip:
        counted |= Q(client_ip=client.ip, created_at__gt=now - client_window)
    if fingerprint:
        counted |= Q(token_fingerprint=fingerprint, created_at__gt=now - token_window)
    attempts = list(
        PaymentAttempt.objects.filter(counted, outcome__in=COUNTED).values_list(
            "cart_id", "client_ip", "token_fingerprint", "created_at"
        )
    )
    waits: dict[str, int] = {}
    if client.ip:
        wait = _seconds_until_below(
            [at for _cart, ip, _fp, at in attempts if ip == client.ip],
            limit=settings.ORDERS_DECLINES_PER_CLIENT,
            window=client_window,
            now=now,
        )
        if wait is not None:
            waits["client"] = wait
    if fingerprint:
        wait = _seconds_until_below(
            [at for _cart, _ip, fp, at in attempts if fp == fingerprint],
            limit=settings.ORDERS_DECLINES_PER_TOKEN,
            window=token_window,
            now=now,
        )
        if wait is not None:
            waits["card"] = wait
    on_cart = sum(1 for cart_id, *_rest in attempts if cart_id == cart.pk)
    if cart.payment_closed_at is not None or on_cart >= settings.ORDERS_DECLINES_PER_CART:
        limit = "cart"
    elif waits:
        limit = max(waits, key=waits.get)
    else:
        return
    # A closed cart never pays again; the wait is until a new cart may (at least a second).
    retry_after = max(waits.values(), default=1)
    reasons = {
        "cart": _("This cart has had too many declined payments."),
        "client": _("Too many payments from this device were declined."),
        "card": _("This card has been declined too many times."),
    }
    detail = (
        _(
            "%(reason)s The cart is closed for payment: start a new cart to try again, in "
            "%(seconds)s seconds at the earliest."
        )
        if waits
        else _("%(reason)s The cart is closed for payment: start a new cart to try again.")
    )
    raise TooManyDeclines(
        detail % {"reason": reasons[limit], "seconds": retry_after},
        limit=limit,
        retry_after=retry_after,
    )


def attempt_refuse(
    cart: Cart, *, client: PaymentClient, fingerprint: str, amount, currency: str, reason: str
) -> None:
    """Record a payment refused before the gateway and close the cart for payment (staff see
    it on the cart and in the payment attempts). Refused attempts do not count towards the
    limits: the windows end when the declines say, whatever else the client sends."""
    now = timezone.now()
    PaymentAttempt.objects.create(
        cart=cart,
        channel_id=cart.channel_id,
        customer_id=cart.customer_id,
        client_ip=client.ip,
        token_fingerprint=fingerprint,
        amount=amount,
        currency=currency,
        outcome=A.REFUSED,
        reason=reason[:250],
        created_at=now,
    )
    Cart.objects.filter(pk=cart.pk, payment_closed_at__isnull=True).update(
        payment_closed_at=now, payment_closed_reason=reason[:250]
    )


def attempt_open(payment: Payment, *, cart: Cart, client: PaymentClient, fingerprint: str) -> None:
    """Record a card payment about to be sent to the gateway (in its transaction)."""
    PaymentAttempt.objects.create(
        payment=payment,
        cart=cart,
        channel_id=cart.channel_id,
        customer_id=cart.customer_id,
        client_ip=client.ip,
        token_fingerprint=fingerprint,
        amount=payment.amount,
        currency=payment.currency,
        outcome=A.PENDING,
        created_at=payment.created_at,
    )


def attempt_settle(payment: Payment) -> None:
    """Write the gateway's answer onto the payment's attempt (once it is no longer pending)."""
    outcome = {
        Payment.Status.AUTHORIZED: A.APPROVED,
        Payment.Status.CAPTURED: A.APPROVED,
        Payment.Status.DECLINED: A.DECLINED,
        Payment.Status.FAILED: A.FAILED,
    }.get(payment.status)
    if outcome is None:
        return
    PaymentAttempt.objects.filter(payment=payment, outcome=A.PENDING).update(
        outcome=outcome, reason=payment.error[:250]
    )
