"""Staff stock operations: adjustments, counts, receipts and external feeds, all through the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext as _

from inventory.errors import InvalidStockOperation
from inventory.models import Stock, StockLocation, StockMovement
from inventory.services.ledger import (
    ensure_stock_rows,
    lock_stocks,
    move,
    move_many,
    refresh_signals,
    stock_transaction,
)

ADJUSTMENT_REASONS = {
    StockMovement.Reason.ADJUSTMENT,
    StockMovement.Reason.RECEIPT,
    StockMovement.Reason.RETURN_RESTOCK,
    StockMovement.Reason.COUNT_CORRECTION,
    StockMovement.Reason.SYNC,
}


@dataclass(frozen=True)
class StockLevel:
    """An absolute quantity for a variant at a location (a count, or a line of an external feed)."""

    variant_id: int
    location_id: int
    quantity: int


@stock_transaction
def stock_adjust(
    *,
    variant_id: int,
    location_id: int,
    delta: int,
    reason: str = StockMovement.Reason.ADJUSTMENT,
    reference: str = "",
    note: str = "",
    actor: AbstractBaseUser | None = None,
) -> Stock:
    """Add or remove units on hand with a reason (damage, found, receipt, return restock).

    Locks the stock row; refuses to go below zero on hand. Publishes threshold events."""
    if reason not in ADJUSTMENT_REASONS:
        raise InvalidStockOperation(
            {"reason": [_("%(reason)s is not an adjustment reason.") % {"reason": reason}]}
        )
    if delta == 0:
        raise InvalidStockOperation({"delta": [_("The change must not be zero.")]})
    ensure_stock_rows([(variant_id, location_id)])
    stock = lock_stocks(variant_ids=[variant_id], location_ids=[location_id])[
        (variant_id, location_id)
    ]
    if stock.on_hand + delta < 0:
        raise InvalidStockOperation(
            {
                "delta": [
                    _("Only %(on_hand)s on hand; cannot remove %(units)s.")
                    % {"on_hand": stock.on_hand, "units": -delta}
                ]
            }
        )
    move(stock, reason=reason, on_hand_delta=delta, reference=reference, note=note, actor=actor)
    refresh_signals([stock])
    return stock


@stock_transaction
def stock_set_levels(
    *,
    levels: Sequence[StockLevel],
    reason: str = StockMovement.Reason.COUNT_CORRECTION,
    reference: str = "",
    note: str = "",
    actor: AbstractBaseUser | None = None,
    publish_signals: bool = True,
) -> list[StockMovement]:
    """Set on-hand to counted or reported quantities (cycle count, WMS or marketplace feed).

    All rows are locked together in the global order, so a count racing reservations or
    adjustments loses no update: the correction is computed from the locked value. Rows whose
    quantity is already right get no movement. All or nothing; written in bulk.
    `publish_signals=False` records threshold levels without events (an opening balance)."""
    if reason not in (StockMovement.Reason.COUNT_CORRECTION, StockMovement.Reason.SYNC):
        raise InvalidStockOperation({"reason": [_("Use count_correction or sync.")]})
    wanted: dict[tuple[int, int], int] = {}
    for level in levels:
        if level.quantity < 0:
            raise InvalidStockOperation({"quantity": [_("A counted quantity cannot be negative.")]})
        wanted[(level.variant_id, level.location_id)] = level.quantity
    ensure_stock_rows(wanted)
    stocks = lock_stocks(
        variant_ids={v for v, _ in wanted}, location_ids={loc for _, loc in wanted}
    )
    movements = move_many(
        [(stocks[key], wanted[key] - stocks[key].on_hand) for key in sorted(wanted)],
        reason=reason,
        reference=reference,
        note=note,
        actor=actor,
    )
    refresh_signals([stocks[key] for key in sorted(wanted)], publish=publish_signals)
    return movements


def location_get(*, code: str) -> StockLocation:
    location = StockLocation.objects.filter(code=code).first()
    if location is None:
        raise InvalidStockOperation({"location": [_("No location %(code)s.") % {"code": code}]})
    return location
