"""When to try a failed delivery again: exponential back-off with full jitter, and the
receiver's Retry-After when it gives one.

Full jitter (a random wait between 0 and the exponential ceiling) spreads the retries of many
deliveries that failed together, e.g. when a receiver comes back after an outage, instead of
sending them all again at the same moments.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings


def base_seconds() -> float:
    return getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", 30)


def max_delay_seconds() -> float:
    return getattr(settings, "WEBHOOK_RETRY_MAX_DELAY_SECONDS", 3600)


def retry_window() -> timedelta:
    return timedelta(seconds=getattr(settings, "WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600))


def ceiling(attempts: int) -> float:
    """The longest wait after the `attempts`-th failed attempt: 30 s, 60 s, 2 min, ... 1 h."""
    return min(max_delay_seconds(), base_seconds() * 2 ** max(attempts - 1, 0))


def retry_delay(attempts: int, *, retry_after: str = "", now: datetime) -> timedelta:
    asked = retry_after_seconds(retry_after, now=now)
    if asked is not None:
        return timedelta(seconds=min(asked, max_delay_seconds()))
    return timedelta(seconds=random.uniform(0, ceiling(attempts)))


def retry_after_seconds(value: str, *, now: datetime) -> float | None:
    """Retry-After as seconds ("120") or an HTTP date; None when absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)
