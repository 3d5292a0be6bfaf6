"""The one way to change stock counters: lock rows in a global order, update with atomic
expressions, write the movement, and re-evaluate low-stock signals. Shared by every service."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from functools import wraps
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import OperationalError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from catalog.models import ProductVariant
from commerce import events
from inventory import events as inventory_events
from inventory.errors import StockBusy
from inventory.models import Reservation, Stock, StockMovement

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# serialization_failure, deadlock_detected, lock_not_available (lock_timeout)
RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}
DEFAULT_LOW_STOCK_THRESHOLD = 5


def _sqlstate(error: OperationalError) -> str | None:
    cause = error.__cause__
    return getattr(cause, "sqlstate", None)


def stock_transaction(function: Callable[P, R]) -> Callable[P, R]:
    """Run a stock service in its own transaction (a savepoint when nested), with a lock
    timeout, retrying deadlocks, serialization failures and lock timeouts a bounded number of
    times. What is still failing after that is `StockBusy` (503), never a 500."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        attempts = settings.INVENTORY_LOCK_RETRIES
        for attempt in range(1, attempts + 1):
            try:
                with transaction.atomic():
                    if connection.vendor == "postgresql":
                        with connection.cursor() as cursor:
                            cursor.execute(
                                "SELECT set_config('lock_timeout', %s, true)",
                                [f"{settings.INVENTORY_LOCK_TIMEOUT_MS}ms"],
                            )
                    return function(*args, **kwargs)
            except OperationalError as error:
                if _sqlstate(error) not in RETRYABLE_SQLSTATES:
                    raise
                logger.info(
                    "Stock contention in %s (attempt %s): %s", function.__name__, attempt, error
                )
                if attempt == attempts:
                    raise StockBusy() from error
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    return wrapper


def ensure_stock_rows(pairs: Iterable[tuple[int, int]]) -> None:
    """Create missing (variant, location) rows at zero. Conflicts with a concurrent creator are
    fine: the row exists either way, and the caller locks it next."""
    pairs = set(pairs)
    if not pairs:
        return
    existing = set(
        Stock.objects.filter(
            variant_id__in={v for v, _ in pairs}, location_id__in={loc for _, loc in pairs}
        ).values_list("variant_id", "location_id")
    )
    missing = [Stock(variant_id=v, location_id=loc) for v, loc in pairs - existing]
    if missing:
        Stock.objects.bulk_create(missing, ignore_conflicts=True)


def lock_stocks(
    *, variant_ids: Iterable[int], location_ids: Iterable[int] | None = None
) -> dict[tuple[int, int], Stock]:
    """Lock stock rows in (variant, location) order, the order every writer uses, so that two
    writers touching the same rows queue instead of deadlocking."""
    # of=self: the location rows are read, not locked, or every write at a store would queue.
    queryset = (
        Stock.objects.select_related("location")
        .select_for_update(of=("self",))
        .filter(variant_id__in=set(variant_ids))
    )
    if location_ids is not None:
        queryset = queryset.filter(location_id__in=set(location_ids))
    return {
        (s.variant_id, s.location_id): s for s in queryset.order_by("variant_id", "location_id")
    }


def active_holds(stock_ids: Iterable[int], *, now=None) -> dict[int, int]:
    """Units held by unexpired cart reservations, per stock row. An expired hold simply stops
    counting here, whether or not the tidy-up task has run."""
    now = now or timezone.now()
    return dict(
        Reservation.objects.filter(
            stock_id__in=list(stock_ids),
            kind=Reservation.Kind.CART,
            state=Reservation.State.ACTIVE,
            expires_at__gt=now,
        )
        .values_list("stock_id")
        .annotate(total=Sum("quantity"))
        .values_list("stock_id", "total")
    )


def available(stock: Stock, held: int) -> int:
    return max(0, stock.on_hand - stock.allocated - held - stock.safety_stock)


def move(
    stock: Stock,
    *,
    reason: str,
    on_hand_delta: int = 0,
    allocated_delta: int = 0,
    reference: str = "",
    note: str = "",
    actor: AbstractBaseUser | None = None,
) -> StockMovement:
    """Apply a change to a locked stock row and write its ledger entry. The update is an atomic
    expression; the before/after figures are exact because the caller holds the row lock."""
    before_on_hand, before_allocated = stock.on_hand, stock.allocated
    Stock.objects.filter(pk=stock.pk).update(
        on_hand=F("on_hand") + on_hand_delta,
        allocated=F("allocated") + allocated_delta,
        updated_at=timezone.now(),
    )
    stock.on_hand += on_hand_delta
    stock.allocated += allocated_delta
    return StockMovement.objects.create(
        stock=stock,
        reason=reason,
        on_hand_delta=on_hand_delta,
        allocated_delta=allocated_delta,
        on_hand_before=before_on_hand,
        on_hand_after=stock.on_hand,
        allocated_before=before_allocated,
        allocated_after=stock.allocated,
        reference=reference[:100],
        note=note[:250],
        actor=actor if actor is not None and actor.is_authenticated else None,
    )


def move_many(
    changes: Sequence[tuple[Stock, int]],
    *,
    reason: str,
    counter: str = "on_hand",
    reference: str = "",
    note: str = "",
    actor: AbstractBaseUser | None = None,
) -> list[StockMovement]:
    """`move` for many locked rows at once (a count of thousands of rows, an order taking over
    its holds): one UPDATE of `counter = counter + delta` expressions (`counter` is "on_hand"
    or "allocated") and one INSERT of their ledger rows."""
    changes = [(stock, delta) for stock, delta in changes if delta]
    if not changes:
        return []
    now = timezone.now()
    updates = [
        Stock(pk=stock.pk, **{counter: F(counter) + delta}, updated_at=now)
        for stock, delta in changes
    ]
    Stock.objects.bulk_update(updates, [counter, "updated_at"], batch_size=1000)
    movements = []
    for stock, delta in changes:
        on_hand_delta = delta if counter == "on_hand" else 0
        allocated_delta = delta if counter == "allocated" else 0
        movements.append(
            StockMovement(
                stock=stock,
                reason=reason,
                on_hand_delta=on_hand_delta,
                allocated_delta=allocated_delta,
                on_hand_before=stock.on_hand,
                on_hand_after=stock.on_hand + on_hand_delta,
                allocated_before=stock.allocated,
                allocated_after=stock.allocated + allocated_delta,
                reference=reference[:100],
                note=note[:250],
                created_at=now,
                actor=actor if actor is not None and actor.is_authenticated else None,
            )
        )
        stock.on_hand += on_hand_delta
        stock.allocated += allocated_delta
    return StockMovement.objects.bulk_create(movements, batch_size=1000)


def refresh_signals(
    stocks: Iterable[Stock],
    *,
    now=None,
    publish: bool = True,
    held: dict[int, int] | None = None,
) -> None:
    """Publish stock.low / stock.out / stock.restocked for rows whose level crossed a threshold
    since the last signal: once per crossing, not on every change. With `publish=False` the
    levels are recorded silently (an opening balance when going live is not news). `held`
    (stock id -> units in active holds) when the caller, holding the row locks, knows it.
    The threshold of each row is `inventory.selectors.stock_thresholds` on the merchant's date
    at `now`; a seasonal threshold starting or ending is applied at the row's next change."""
    stocks = list(stocks)
    if not stocks:
        return
    # Imported here: the selectors read stock through this module, so a module-level import
    # either way round would be circular.
    from inventory.selectors import merchant_today, stock_thresholds

    if held is None:
        held = active_holds([s.pk for s in stocks], now=now)
    # The row's own threshold, else the seasonal one active on the merchant's today, else the
    # variant's policy, else the default (see stock_thresholds).
    thresholds = stock_thresholds(stocks, on=merchant_today(now))
    changed = []
    for stock in stocks:
        threshold = thresholds[stock.pk]
        level = available(stock, held.get(stock.pk, 0))
        signal = (
            Stock.Signal.OUT
            if level <= 0
            else Stock.Signal.LOW
            if level <= threshold
            else Stock.Signal.IN_STOCK
        )
        if signal == stock.signal:
            continue
        event_type = {
            Stock.Signal.OUT: inventory_events.STOCK_OUT,
            Stock.Signal.LOW: inventory_events.STOCK_LOW
            if stock.signal == Stock.Signal.IN_STOCK
            else inventory_events.STOCK_RESTOCKED,
            Stock.Signal.IN_STOCK: inventory_events.STOCK_RESTOCKED,
        }[signal]
        stock.signal = signal
        changed.append((stock, event_type, level, threshold))
    if not changed:
        return
    Stock.objects.bulk_update([stock for stock, *_ in changed], ["signal"], batch_size=1000)
    if not publish:
        return
    skus = dict(
        ProductVariant.objects.filter(pk__in={s.variant_id for s, *_ in changed}).values_list(
            "pk", "sku"
        )
    )
    for stock, event_type, level, threshold in changed:
        events.publish(
            type=event_type,
            subject_type="stock",
            subject_id=stock.pk,
            payload={
                "variant_id": stock.variant_id,
                "sku": skus.get(stock.variant_id, ""),
                "location": stock.location.code,
                "available": level,
                "threshold": threshold,
                "on_hand": stock.on_hand,
                "level": stock.signal,
            },
        )
