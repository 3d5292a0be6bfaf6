"""Transfers: stock leaving one location on dispatch and arriving at another on receipt.

While a transfer is in transit its units are on hand nowhere: the ledger shows a `transfer_out`
at the source and, later, a `transfer_in` at the destination, both with the reference `T<id>`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import ProductVariant
from commerce import events
from inventory import events as inventory_events
from inventory.errors import InsufficientStock, InvalidStockOperation, InvalidTransition
from inventory.models import StockLocation, StockMovement, Transfer, TransferLine
from inventory.services.ledger import (
    active_holds,
    available,
    ensure_stock_rows,
    lock_stocks,
    move,
    refresh_signals,
    stock_transaction,
)

State = Transfer.State

# Which state each action may start from; anything else is an illegal transition (409).
TRANSITIONS: dict[str, dict[str, str]] = {
    "dispatch": {State.DRAFT: State.IN_TRANSIT},
    "receive": {State.IN_TRANSIT: State.RECEIVED},
    "cancel": {State.DRAFT: State.CANCELLED},
}


def transfer_reference(transfer: Transfer) -> str:
    """The reference its ledger rows carry."""
    return f"T{transfer.pk}"


def _lock(transfer: Transfer, action: str) -> tuple[Transfer, str]:
    """Lock the transfer row and check that `action` is allowed from its current state.

    The state is read under the lock, so of two concurrent dispatches (or receipts) the second
    waits for the first to commit, then finds the new state and is refused: each applies once."""
    locked = (
        Transfer.objects.select_for_update(of=("self",))
        .select_related("source", "destination")
        .get(pk=transfer.pk)
    )
    target = TRANSITIONS[action].get(locked.state)
    if target is None:
        raise InvalidTransition(
            _("Transfer %(reference)s cannot be %(action)s: its state is “%(state)s”.")
            % {
                "reference": transfer_reference(locked),
                "state": locked.get_state_display(),
                "action": {
                    "dispatch": _("dispatched"),
                    "receive": _("received"),
                    "cancel": _("cancelled"),
                }[action],
            },
            field="state",
            state=locked.state,
        )
    return locked, target


def _lines(transfer: Transfer) -> list[tuple[TransferLine, str]]:
    """The transfer's lines in variant order, each with its SKU (one query)."""
    lines = list(transfer.lines.select_related("variant").order_by("variant_id"))
    return [(line, line.variant.sku) for line in lines]


def _payload(transfer: Transfer, lines: list[tuple[TransferLine, str]]) -> dict:
    return {
        "transfer_id": transfer.pk,
        "source": transfer.source.code,
        "destination": transfer.destination.code,
        "lines": [{"sku": sku, "quantity": line.quantity} for line, sku in lines],
    }


@transaction.atomic
def transfer_create(
    *,
    source: StockLocation,
    destination: StockLocation,
    lines: Sequence[tuple[int, int]],
    note: str = "",
    actor: AbstractBaseUser | None = None,
) -> Transfer:
    """Draft a transfer of `lines` ((variant id, quantity) pairs) from `source` to `destination`.

    A draft moves nothing and checks no stock: availability is decided on dispatch. Refuses an
    empty transfer, the same location at both ends, a quantity below 1, an unknown variant and
    a variant listed twice; every problem of the lines is reported at once, and nothing is
    written unless all lines are valid. Locks nothing; publishes nothing. `actor` is accepted
    for the doors' uniform call: a transfer does not record its author (its ledger rows do, on
    dispatch and receipt)."""
    errors: dict[str, list[str]] = {}
    if source.pk == destination.pk:
        errors["destination"] = [_("The destination must differ from the source.")]
    if not lines:
        errors["lines"] = [_("A transfer needs at least one line.")]
    skus = dict(
        ProductVariant.objects.filter(pk__in={variant_id for variant_id, _q in lines}).values_list(
            "pk", "sku"
        )
    )
    line_errors = []
    seen: dict[int, int] = {}
    for number, (variant_id, quantity) in enumerate(lines, start=1):
        if variant_id not in skus:
            line_errors.append(
                _("Line %(number)s: there is no variant %(variant)s.")
                % {"number": number, "variant": variant_id}
            )
            continue
        if variant_id in seen:
            line_errors.append(
                _("Line %(number)s: SKU %(sku)s is already on line %(first)s.")
                % {"number": number, "sku": skus[variant_id], "first": seen[variant_id]}
            )
            continue
        seen[variant_id] = number
        if not isinstance(quantity, int) or quantity < 1:
            line_errors.append(
                _("Line %(number)s: the quantity of SKU %(sku)s must be at least 1.")
                % {"number": number, "sku": skus[variant_id]}
            )
    if line_errors:
        errors["lines"] = line_errors
    if errors:
        raise InvalidStockOperation(errors)
    transfer = Transfer.objects.create(source=source, destination=destination, note=note)
    TransferLine.objects.bulk_create(
        TransferLine(transfer=transfer, variant_id=variant_id, quantity=quantity)
        for variant_id, quantity in lines
    )
    return transfer


@stock_transaction
def transfer_dispatch(*, transfer: Transfer, actor: AbstractBaseUser | None = None) -> Transfer:
    """Send a draft transfer on its way: its units leave the source's on-hand (draft → in transit).

    Locks the transfer row first (a second, concurrent dispatch waits, then finds it in transit
    and is refused with `InvalidTransition`), then the source's stock rows of its variants in
    (variant, location) order. Every line must fit in what the source can give away now:
    on hand less allocated, unexpired cart holds and safety stock; otherwise `InsufficientStock`
    (409) names the first short SKU and nothing changes. Writes one `transfer_out` movement per
    line, publishes threshold events for the source and `transfer.dispatched`. Returns the
    updated transfer (a fresh instance)."""
    transfer, target = _lock(transfer, "dispatch")
    lines = _lines(transfer)
    source_id = transfer.source_id
    stocks = lock_stocks(
        variant_ids=[line.variant_id for line, _sku in lines], location_ids=[source_id]
    )
    held = active_holds([stock.pk for stock in stocks.values()])
    for line, sku in lines:
        stock = stocks.get((line.variant_id, source_id))
        free = available(stock, held.get(stock.pk, 0)) if stock is not None else 0
        if free < line.quantity:
            raise InsufficientStock(
                _(
                    "Only %(available)s of SKU %(sku)s are available at %(location)s; "
                    "%(requested)s were requested."
                )
                % {
                    "available": free,
                    "sku": sku,
                    "location": transfer.source.code,
                    "requested": line.quantity,
                },
                sku=sku,
                variant_id=line.variant_id,
                location=transfer.source.code,
                requested=line.quantity,
                available=free,
            )
    reference = transfer_reference(transfer)
    for line, _sku in lines:
        move(
            stocks[(line.variant_id, source_id)],
            reason=StockMovement.Reason.TRANSFER_OUT,
            on_hand_delta=-line.quantity,
            reference=reference,
            note=transfer.note,
            actor=actor,
        )
    transfer.state = target
    transfer.dispatched_at = timezone.now()
    transfer.save(update_fields=["state", "dispatched_at"])
    refresh_signals(stocks[(line.variant_id, source_id)] for line, _sku in lines)
    events.publish(
        type=inventory_events.TRANSFER_DISPATCHED,
        subject_type="transfer",
        subject_id=transfer.pk,
        payload=_payload(transfer, lines),
    )
    return transfer


@stock_transaction
def transfer_receive(*, transfer: Transfer, actor: AbstractBaseUser | None = None) -> Transfer:
    """Book a transfer in transit as arrived: its units join the destination's on-hand
    (in transit → received).

    Locks the transfer row first (a concurrent second receipt waits, then is refused with
    `InvalidTransition`), then the destination's stock rows in (variant, location) order,
    creating missing rows at zero. Writes one `transfer_in` movement per line, publishes
    threshold events for the destination and `transfer.received`. All or nothing. Returns the
    updated transfer (a fresh instance)."""
    transfer, target = _lock(transfer, "receive")
    lines = _lines(transfer)
    destination_id = transfer.destination_id
    ensure_stock_rows((line.variant_id, destination_id) for line, _sku in lines)
    stocks = lock_stocks(
        variant_ids=[line.variant_id for line, _sku in lines], location_ids=[destination_id]
    )
    reference = transfer_reference(transfer)
    for line, _sku in lines:
        move(
            stocks[(line.variant_id, destination_id)],
            reason=StockMovement.Reason.TRANSFER_IN,
            on_hand_delta=line.quantity,
            reference=reference,
            note=transfer.note,
            actor=actor,
        )
    transfer.state = target
    transfer.received_at = timezone.now()
    transfer.save(update_fields=["state", "received_at"])
    refresh_signals(stocks[(line.variant_id, destination_id)] for line, _sku in lines)
    events.publish(
        type=inventory_events.TRANSFER_RECEIVED,
        subject_type="transfer",
        subject_id=transfer.pk,
        payload=_payload(transfer, lines),
    )
    return transfer


@transaction.atomic
def transfer_cancel(*, transfer: Transfer) -> Transfer:
    """Cancel a draft transfer (draft → cancelled). A transfer that has left cannot be
    cancelled: its goods are on a truck and must be received. Locks the transfer row; moves no
    stock; publishes nothing. Returns the updated transfer (a fresh instance)."""
    transfer, target = _lock(transfer, "cancel")
    transfer.state = target
    transfer.save(update_fields=["state"])
    return transfer
