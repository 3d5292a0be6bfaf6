"""Payment gateways: the interface the checkout and staff actions call, and the test gateway.

Every call carries the merchant's idempotency key: the provider answers a repeated key with its
first result and does not charge twice. That is what makes retrying after a crash safe.

The test gateway's outcome is chosen by the card token (see `TEST_TOKENS`), so every path runs
without a network: `tok_visa` succeeds, `tok_declined` is declined, `tok_error` fails with a
gateway error, `tok_capture_fails` authorizes but cannot be captured later, `tok_slow` answers
after ORDERS_TEST_GATEWAY_SLOW_SECONDS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from orders.models import TestGatewayOperation


@dataclass(frozen=True)
class GatewayResult:
    success: bool
    reference: str  # the provider's id of this operation
    payment_reference: str  # the provider's id of the payment it belongs to
    amount: Decimal
    error: str = ""


class GatewayUnavailable(Exception):
    """No answer (timeout, 5xx): whether the operation happened is unknown; retry with the key."""


class Gateway(Protocol):
    code: str

    def authorize(
        self, *, amount: Decimal, currency: str, token: str, key: str, capture: bool
    ) -> GatewayResult: ...

    def capture(
        self, *, payment_reference: str, amount: Decimal, currency: str, key: str
    ) -> GatewayResult: ...

    def void(self, *, payment_reference: str, key: str) -> GatewayResult: ...

    def refund(
        self, *, payment_reference: str, amount: Decimal, currency: str, key: str
    ) -> GatewayResult: ...

    def verify_notification(self, body: bytes, signature: str) -> bool: ...


TEST_TOKENS = {
    "tok_visa": _("succeeds"),
    "tok_declined": _("is declined (insufficient funds)"),
    "tok_error": _("fails with a gateway error"),
    "tok_capture_fails": _("authorizes, but capturing later fails"),
    "tok_slow": _("succeeds after a delay"),
}


class TestGateway:
    """A provider that keeps its books in `TestGatewayOperation`, like a real one on its side."""

    code = "test"

    def _once(self, key: str, run) -> GatewayResult:
        done = TestGatewayOperation.objects.filter(key=key).first()
        if done is None:
            result, kind, currency = run()
            try:
                with transaction.atomic():
                    done = TestGatewayOperation.objects.create(
                        key=key,
                        kind=kind,
                        reference=result.reference,
                        payment_reference=result.payment_reference,
                        amount=result.amount,
                        currency=currency,
                        success=result.success,
                        error=result.error,
                    )
            except IntegrityError:
                done = TestGatewayOperation.objects.get(key=key)  # a concurrent retry won
        return GatewayResult(
            success=done.success,
            reference=done.reference,
            payment_reference=done.payment_reference,
            amount=done.amount,
            error=done.error,
        )

    def authorize(self, *, amount, currency, token, key, capture) -> GatewayResult:
        if token == "tok_slow":
            time.sleep(settings.ORDERS_TEST_GATEWAY_SLOW_SECONDS)
        if token == "tok_error":
            raise GatewayUnavailable(_("The payment provider did not answer."))

        def run():
            reference = "pay_" + secrets.token_hex(8)
            if token == "tok_declined":
                return (
                    GatewayResult(
                        False, reference, reference, amount, _("Card declined: insufficient funds.")
                    ),
                    "authorize",
                    currency,
                )
            if token not in TEST_TOKENS:
                return (
                    GatewayResult(
                        False, reference, reference, amount, _("Unknown test card token.")
                    ),
                    "authorize",
                    currency,
                )
            if token == "tok_capture_fails":
                if capture:  # a sale captures at once: it is the capture that fails
                    return (
                        GatewayResult(
                            False, reference, reference, amount, _("Capture refused by the issuer.")
                        ),
                        "authorize",
                        currency,
                    )
                return (
                    GatewayResult(True, reference, reference, amount),
                    "authorize_nocapture",
                    currency,
                )
            kind = "capture" if capture else "authorize"
            return GatewayResult(True, reference, reference, amount), kind, currency

        return self._once(key, run)

    def _captured(self, payment_reference: str) -> Decimal:
        return TestGatewayOperation.objects.filter(
            payment_reference=payment_reference, success=True, kind__in=["capture"]
        ).aggregate(total=Sum("amount"))["total"] or Decimal(0)

    def capture(self, *, payment_reference, amount, currency, key) -> GatewayResult:
        def run():
            reference = "cap_" + secrets.token_hex(8)
            first = TestGatewayOperation.objects.filter(
                payment_reference=payment_reference, kind__startswith="authorize"
            ).first()
            if first is None or first.kind == "authorize_nocapture":
                return (
                    GatewayResult(
                        False,
                        reference,
                        payment_reference,
                        amount,
                        _("Capture refused by the issuer."),
                    ),
                    "capture",
                    currency,
                )
            return GatewayResult(True, reference, payment_reference, amount), "capture", currency

        return self._once(key, run)

    def void(self, *, payment_reference, key) -> GatewayResult:
        def run():
            reference = "void_" + secrets.token_hex(8)
            return GatewayResult(True, reference, payment_reference, Decimal(0)), "void", ""

        return self._once(key, run)

    def refund(self, *, payment_reference, amount, currency, key) -> GatewayResult:
        def run():
            reference = "re_" + secrets.token_hex(8)
            refunded = TestGatewayOperation.objects.filter(
                payment_reference=payment_reference, success=True, kind="refund"
            ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
            if refunded + amount > self._captured(payment_reference):
                return (
                    GatewayResult(
                        False, reference, payment_reference, amount, _("More than was captured.")
                    ),
                    "refund",
                    currency,
                )
            return GatewayResult(True, reference, payment_reference, amount), "refund", currency

        return self._once(key, run)

    def verify_notification(self, body: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(body), signature or "")

    @staticmethod
    def sign(body: bytes) -> str:
        secret = settings.ORDERS_TEST_GATEWAY_SECRET.encode()
        return hmac.new(secret, body, hashlib.sha256).hexdigest()


# The test gateway takes made-up cards and, with its development secret, forged notifications:
# with DEBUG off it exists only where ORDERS_ALLOW_TEST_GATEWAY=1 says so (commerce/settings.py).
_GATEWAYS: dict[str, Gateway] = (
    {"test": TestGateway()} if settings.ORDERS_TEST_GATEWAY_ENABLED else {}
)


class UnknownGateway(LookupError):
    """No gateway of that code is registered: a notification for a provider we do not use, or
    a payment taken through a gateway since removed (orders.E001 stops a deployment whose
    `ORDERS_GATEWAY` names none)."""


def gateway_get(code: str | None = None) -> Gateway:
    code = code or settings.ORDERS_GATEWAY
    try:
        return _GATEWAYS[code]
    except KeyError:
        raise UnknownGateway(f"No payment gateway {code!r} is registered.") from None


def registered_gateway_codes() -> set[str]:
    return set(_GATEWAYS)


def gateway_register(gateway: Gateway) -> None:
    """Plug in a provider: an object with the `Gateway` methods, registered from an app's
    `AppConfig.ready()`; `ORDERS_GATEWAY` then names its code. Its credentials come from the
    environment, never from the image (see the README's Production section)."""
    _GATEWAYS[gateway.code] = gateway
