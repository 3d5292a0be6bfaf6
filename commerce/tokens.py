"""API tokens: issued with an expiry, stored as a hash (django-rest-knox), revoked per user.

The plaintext token exists only in the answer that issues it; the database keeps its SHA-512
digest and a 15-character lookup key, so a leaked backup or a stolen row is no login. Every door
that issues or ends tokens (customer sign-in, password changes, erasure, merges, the staff
command, the demo) goes through these functions, so expiry and revocation work one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from knox.models import AuthToken


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; only its digest is stored
    expires_at: datetime | None
    token_key: str


def staff_token_ttl() -> timedelta:
    return timedelta(days=settings.API_TOKEN_STAFF_TTL_DAYS)


def customer_token_ttl() -> timedelta:
    return settings.REST_KNOX["TOKEN_TTL"]


def token_issue(*, user, ttl: timedelta) -> IssuedToken:
    """A new token for `user`, valid for `ttl`. The user's expired tokens are deleted on the way
    (knox deletes them only when one is presented), so sign-ins do not pile up rows."""
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    instance, token = AuthToken.objects.create(user=user, expiry=ttl)
    return IssuedToken(token=token, expires_at=instance.expiry, token_key=instance.token_key)


def tokens_revoke(*, user) -> int:
    """End every token of `user` (every device, every script); returns how many there were."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted
