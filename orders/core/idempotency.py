"""`Idempotency-Key` for writes that create orders or move money (the IETF draft's semantics).

The first request with a key runs and its response is stored; a retry with the same key and
the same body gets that response again (`Idempotent-Replayed: true`); a retry while the first is
still running gets 409; the same key with another body gets 422. Keys belong to the caller (a
signed-in user, else the cart a guest holds), so another caller's key is simply another key.
Responses are kept ORDERS_IDEMPOTENCY_TTL_HOURS; a run that has not answered within
ORDERS_IDEMPOTENCY_LEASE_SECONDS is taken to have died, and a retry may take it over (the
checkout then finishes or voids what the dead run left, see `orders.placement.checkout`).
Server errors (5xx) and 429s are not stored: the retry runs again (a 429 is about the moment,
not the request; replayed, it would lack the Retry-After its retry needs, as Stripe keeps none).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.utils.encoders import JSONEncoder

from commerce.errors import Conflict, DomainError, ValidationFailed
from orders.models import IdempotencyRecord

MAX_KEY_LENGTH = 255


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    title = gettext_lazy("A request with this Idempotency-Key is still running")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    title = gettext_lazy("This Idempotency-Key was used for a different request")


@dataclass
class Begun:
    record: IdempotencyRecord
    replay: bool


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def idempotency_begin(*, scope: str, key: str, fingerprint: str) -> Begun:
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            {"Idempotency-Key": [_("Use a key of 1 to 255 characters, e.g. a UUID.")]}
        )
    now = timezone.now()
    lease = now + timedelta(seconds=settings.ORDERS_IDEMPOTENCY_LEASE_SECONDS)
    expires = now + timedelta(hours=settings.ORDERS_IDEMPOTENCY_TTL_HOURS)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                locked_until=lease,
                expires_at=expires,
            )
        return Begun(record, replay=False)
    except IntegrityError:
        pass
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().filter(scope=scope, key=key).first()
        if record is None:  # the first run failed (5xx) and let go of the key meanwhile
            record = IdempotencyRecord.objects.create(
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                locked_until=lease,
                expires_at=expires,
            )
            return Begun(record, replay=False)
        if record.expires_at <= now:
            record.fingerprint, record.locked_until, record.expires_at = fingerprint, lease, expires
            record.response_status = record.response_body = None
            record.created_at = now
            record.save()
            return Begun(record, replay=False)
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                _("This Idempotency-Key was first used with a different request body.")
            )
        if record.response_status is not None:
            return Begun(record, replay=True)
        if record.locked_until and record.locked_until > now:
            raise IdempotencyKeyInUse(
                _("The first request with this key is still running; try again shortly.")
            )
        record.locked_until = lease  # the first run died: this retry takes over
        record.save(update_fields=["locked_until"])
        return Begun(record, replay=False)


def idempotency_finish(record: IdempotencyRecord, *, status: int, body: Any) -> None:
    if status >= 500 or status == 429:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    # Encoded as the API renders it (DRF's encoder keeps microseconds; Django's cuts them to
    # milliseconds), so a replay is the very body of the first response.
    body = json.loads(json.dumps(body, cls=JSONEncoder))
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        response_status=status, response_body=body, locked_until=None
    )


def idempotency_abandon(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).delete()


def idempotency_purge() -> int:
    """Forget expired keys (a beat task)."""
    deleted, _rows = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
