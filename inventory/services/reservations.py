"""Reserving stock: holds for carts, allocations for orders, release and shipment."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.selectors import bundle_components
from commerce.models import Channel
from inventory import allocation
from inventory.allocation import Destination, Route, shortage_error
from inventory.errors import InsufficientStock, InvalidStockOperation, NotEnoughOnHand
from inventory.models import Reservation, Stock, StockLocation, StockMovement
from inventory.services.ledger import (
    active_holds,
    available,
    ensure_stock_rows,
    lock_stocks,
    move,
    move_many,
    refresh_signals,
    stock_transaction,
)


@dataclass(frozen=True)
class ReserveLine:
    variant_id: int
    quantity: int
    line_reference: str = ""


def locations_for_channel(
    channel: Channel,
    *,
    preferred_location_id: int | None = None,
    destination: Destination | None = None,
) -> list[StockLocation]:
    """Where a channel may take stock from, best first: the preferred location (e.g. the store
    chosen for pickup); then, for a delivery address, locations in its region, then in its
    country; then by routing priority. (Distance-based routing comes with fulfilment routing.)"""
    locations = list(
        StockLocation.objects.filter(
            is_active=True, channels=channel, counts_for_online=True
        ).order_by("routing_priority", "code")
    )
    if destination is not None:
        country, region = destination.country.upper(), destination.region.strip().lower()
        # sort() is stable: within each group the routing priority order is kept.
        locations.sort(
            key=lambda loc: (
                0
                if loc.country.upper() == country
                and region
                and loc.region.strip().lower() == region
                else 1
                if loc.country.upper() == country
                else 2
            )
        )
    if preferred_location_id is not None:
        preferred = next((loc for loc in locations if loc.pk == preferred_location_id), None)
        if preferred is None:
            preferred = StockLocation.objects.filter(
                pk=preferred_location_id, is_active=True, channels=channel
            ).first()
        if preferred is None:
            raise InvalidStockOperation(
                {"location": [_("This location does not serve the channel.")]}
            )
        locations = [preferred, *[loc for loc in locations if loc.pk != preferred.pk]]
    return locations


Components = dict[int, list[tuple[int, int]]]  # bundle -> [(component, units each)]


def _expand_bundles(
    lines: Sequence[ReserveLine], components: Components | None = None
) -> list[tuple[ReserveLine, int, int]]:
    """(line, stocked variant, units) triples: a bundle line becomes its components.
    `components` (as `catalog.selectors.bundle_components` gives them) when the caller has
    read them already."""
    if components is None:
        components = bundle_components(line.variant_id for line in lines)
    expanded = []
    for line in lines:
        if line.quantity < 1:
            raise InvalidStockOperation({"quantity": [_("Must be at least 1.")]})
        for variant_id, per_unit in components.get(line.variant_id) or [(line.variant_id, 1)]:
            expanded.append((line, variant_id, line.quantity * per_unit))
    return expanded


def _lock_references(references: Sequence[str]) -> None:
    """Queue calls that replace the same cart's holds, until this transaction ends.

    Two calls for one cart at once (a double submit) would otherwise both read the same earlier
    holds before either commits, and each leave its own new ones: the cart would hold twice.
    Taken before any stock row lock, and in sorted order, so it adds no deadlock. SQLite runs
    one writer at a time and needs none."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for reference in references:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext('inventory.reservation'), hashtext(%s))",
                [reference],
            )


@stock_transaction
def stock_reserve(
    *,
    channel: Channel,
    lines: Sequence[ReserveLine],
    reference: str,
    kind: str = Reservation.Kind.CART,
    ttl: timedelta | None = None,
    preferred_location_id: int | None = None,
    destination: Destination | None = None,
    replaces_reference: str | None = None,
    actor: AbstractBaseUser | None = None,
    route: Route | None = None,
) -> list[Reservation]:
    """Reserve every line or none. `preferred_location_id` (a pickup store) or `destination`
    (a delivery address's country and region) decides which locations are tried first.

    A cart hold (`kind="cart"`) expires after `ttl` (default INVENTORY_CART_HOLD_SECONDS) and
    replaces the cart's earlier holds. An order allocation (`kind="order"`) lasts until shipped
    or released, raises `allocated` and writes the ledger; `replaces_reference` turns a cart's
    holds into the order's allocation in the same transaction.

    Demand is summed per variant first (two lines of one SKU are checked together; bundles count
    as their components), then the stock rows of every candidate location are locked at once in
    (variant, location) order and availability is decided there, inside this transaction.
    Raises `InsufficientStock` (409) naming the first short variant.

    `route` gives the candidate locations best first (`allocation.route_for`); without it they
    are `locations_for_channel`'s. Either way `allocation.plan` spreads the demand over them under
    the row locks and writes its reasons on the route.
    """
    if not lines:
        raise InvalidStockOperation({"lines": [_("Nothing to reserve.")]})
    now = timezone.now()
    expanded = _expand_bundles(lines)
    demand: dict[int, int] = defaultdict(int)
    for _line, variant_id, units in expanded:
        demand[variant_id] += units
    if route is None:
        route = Route.over(
            locations_for_channel(
                channel, preferred_location_id=preferred_location_id, destination=destination
            )
        )
    locations = route.locations
    if not locations:
        raise InsufficientStock(
            _("No stock location serves this channel."), requested=sum(demand.values()), available=0
        )

    replaced_references = sorted(
        r for r in {reference if kind == Reservation.Kind.CART else None, replaces_reference} if r
    )
    _lock_references(replaced_references)
    replaced = list(
        Reservation.objects.filter(
            reference__in=replaced_references,
            state=Reservation.State.ACTIVE,
            kind=Reservation.Kind.CART,
        )
    )
    variant_ids = {*demand, *(r.variant_id for r in replaced)}
    location_ids = {*(loc.pk for loc in locations), *(r.location_id for r in replaced)}
    stocks = lock_stocks(variant_ids=variant_ids, location_ids=location_ids)
    missing = {(v, loc.pk) for v in demand for loc in locations} - set(stocks)
    if missing:
        # The first reservation of a variant at a location: its row is made at zero, and the
        # rows are locked again with it. (Out of the global order only this once per pair; a
        # deadlock that causes is retried by stock_transaction.)
        ensure_stock_rows(missing)
        stocks = lock_stocks(variant_ids=variant_ids, location_ids=location_ids)
    if replaced:
        Reservation.objects.filter(
            pk__in=[r.pk for r in replaced], state=Reservation.State.ACTIVE
        ).update(
            state=Reservation.State.CONVERTED
            if kind == Reservation.Kind.ORDER
            else Reservation.State.RELEASED,
            closed_at=now,
        )
    held = active_holds([s.pk for s in stocks.values()], now=now)
    free = {key: available(stock, held.get(stock.pk, 0)) for key, stock in stocks.items()}
    plan = allocation.plan(route, dict(demand), free)

    # Spread each variant's planned parts back over the lines that asked for it.
    parts_left = {variant: list(parts) for variant, parts in plan.items()}
    reservations = []
    expires_at = None
    if kind == Reservation.Kind.CART:
        expires_at = now + (ttl or timedelta(seconds=settings.INVENTORY_CART_HOLD_SECONDS))
    for line, variant_id, units in expanded:
        while units > 0:
            location_id, quantity = parts_left[variant_id][0]
            take = min(units, quantity)
            stock = stocks[(variant_id, location_id)]
            reservations.append(
                Reservation(
                    kind=kind,
                    stock=stock,
                    variant_id=variant_id,
                    location_id=location_id,
                    quantity=take,
                    reference=reference,
                    line_reference=line.line_reference,
                    expires_at=expires_at,
                    created_at=now,
                )
            )
            units -= take
            if take == quantity:
                parts_left[variant_id].pop(0)
            else:
                parts_left[variant_id][0] = (location_id, quantity - take)
    Reservation.objects.bulk_create(reservations)
    if kind == Reservation.Kind.ORDER:
        totals: dict[tuple[int, int], int] = defaultdict(int)
        for reservation in reservations:
            totals[(reservation.variant_id, reservation.location_id)] += reservation.quantity
        for key in sorted(totals):
            move(
                stocks[key],
                reason=StockMovement.Reason.RESERVATION,
                allocated_delta=totals[key],
                reference=reference,
                actor=actor,
            )
    # Under the row locks the holds are what was read plus what was just added.
    held_now = dict(held)
    if kind == Reservation.Kind.CART:
        for reservation in reservations:
            held_now[reservation.stock.pk] = held_now.get(reservation.stock.pk, 0) + (
                reservation.quantity
            )
    refresh_signals(stocks.values(), now=now, held=held_now)
    return reservations


@stock_transaction
def stock_hold_convert(
    *,
    hold_reference: str,
    reference: str,
    lines: Sequence[ReserveLine],
    location_ids: Collection[int],
    components: Components | None = None,
    actor: AbstractBaseUser | None = None,
) -> list[Reservation] | None:
    """Make a cart's holds the order's allocation in place, when every hold is unexpired, at
    one of `location_ids` (those that may still serve the order), and together they hold
    exactly what `lines` want, line by line (bundles as their components, matched by
    `line_reference`). The reservations become the order's, `allocated` rises by
    what they held and the ledger says so.

    The units free to everyone else do not change (held becomes allocated), so nothing needs
    re-planning and no low-stock signal can cross. Returns None, having changed nothing, when
    the holds do not match (the cart changed after the hold, or a hold ran out): the caller
    then reserves afresh with `stock_reserve(replaces_reference=...)`.

    The caller holds the lock that keeps the cart's holds from being replaced meanwhile (the
    cart's row); a hold may still run out, which is why expiry is checked under the stock locks.
    """
    now = timezone.now()
    wanted: dict[tuple[str, int], int] = defaultdict(int)
    for line, variant_id, units in _expand_bundles(lines, components):
        wanted[(line.line_reference, variant_id)] += units
    holds = Reservation.objects.filter(
        reference=hold_reference, state=Reservation.State.ACTIVE, kind=Reservation.Kind.CART
    )
    # Stock rows first, in the global order every writer uses, then the holds.
    stocks = {
        (s.variant_id, s.location_id): s
        for s in Stock.objects.select_related("location")
        .select_for_update(of=("self",))
        .filter(pk__in=holds.values("stock_id"))
        .order_by("variant_id", "location_id")
    }
    taken = list(holds.order_by("pk"))
    held: dict[tuple[str, int], int] = defaultdict(int)
    for hold in taken:
        held[(hold.line_reference, hold.variant_id)] += hold.quantity
    if (
        not taken
        or held != wanted
        or any(hold.expires_at is None or hold.expires_at <= now for hold in taken)
        or any((hold.variant_id, hold.location_id) not in stocks for hold in taken)
        or any(hold.location_id not in location_ids for hold in taken)
    ):
        return None
    Reservation.objects.filter(pk__in=[hold.pk for hold in taken]).update(
        kind=Reservation.Kind.ORDER, reference=reference, expires_at=None
    )
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for hold in taken:
        hold.kind, hold.reference, hold.expires_at = Reservation.Kind.ORDER, reference, None
        hold.stock = stocks[(hold.variant_id, hold.location_id)]
        totals[(hold.variant_id, hold.location_id)] += hold.quantity
    move_many(
        [(stocks[key], totals[key]) for key in sorted(totals)],
        reason=StockMovement.Reason.RESERVATION,
        counter="allocated",
        reference=reference,
        actor=actor,
    )
    return taken


@stock_transaction
def stock_release(*, reference: str, actor: AbstractBaseUser | None = None, note: str = "") -> int:
    """Release what `reference` still holds (a cart's holds or an order's allocation). Releasing
    twice changes nothing. Returns the number of units released."""
    now = timezone.now()
    reservations = list(
        Reservation.objects.filter(reference=reference, state=Reservation.State.ACTIVE)
    )
    if not reservations:
        return 0
    stocks = lock_stocks(
        variant_ids={r.variant_id for r in reservations},
        location_ids={r.location_id for r in reservations},
    )
    # Re-read under the lock: a concurrent release may have closed some meanwhile.
    reservations = list(
        Reservation.objects.filter(
            pk__in=[r.pk for r in reservations], state=Reservation.State.ACTIVE
        )
    )
    Reservation.objects.filter(pk__in=[r.pk for r in reservations]).update(
        state=Reservation.State.RELEASED, closed_at=now
    )
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for reservation in reservations:
        if reservation.kind == Reservation.Kind.ORDER:
            totals[(reservation.variant_id, reservation.location_id)] += reservation.quantity
    for key in sorted(totals):
        move(
            stocks[key],
            reason=StockMovement.Reason.RELEASE,
            allocated_delta=-totals[key],
            reference=reference,
            actor=actor,
            note=note,
        )
    refresh_signals(stocks.values(), now=now)
    return sum(r.quantity for r in reservations)


@stock_transaction
def stock_ship(
    *,
    reference: str,
    quantities: dict[int, int] | None = None,
    location_id: int | None = None,
    actor: AbstractBaseUser | None = None,
) -> int:
    """Turn an order's allocation into a decrement of on-hand: the goods left the building.

    `quantities` (variant -> units) ships part of the allocation; by default everything still
    allocated to `reference` (at `location_id`, when given). Returns the units shipped."""
    now = timezone.now()
    queryset = Reservation.objects.filter(
        reference=reference, kind=Reservation.Kind.ORDER, state=Reservation.State.ACTIVE
    )
    if location_id is not None:
        queryset = queryset.filter(location_id=location_id)
    reservations = list(queryset)
    if not reservations:
        return 0
    stocks = lock_stocks(
        variant_ids={r.variant_id for r in reservations},
        location_ids={r.location_id for r in reservations},
    )
    reservations = list(
        queryset.filter(pk__in=[r.pk for r in reservations]).order_by(
            "variant_id", "location_id", "pk"
        )
    )
    wanted = dict(quantities) if quantities is not None else None
    if wanted is not None:
        allocated: dict[int, int] = defaultdict(int)
        for reservation in reservations:
            allocated[reservation.variant_id] += reservation.quantity
        too_many = {v: q for v, q in wanted.items() if q > allocated.get(v, 0) or q < 0}
        if too_many:
            raise InvalidStockOperation(
                {
                    "quantities": [
                        _("More than is allocated for variant %(variant)s.") % {"variant": v}
                        for v in too_many
                    ]
                }
            )
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for reservation in reservations:
        take = (
            reservation.quantity
            if wanted is None
            else min(reservation.quantity, wanted.get(reservation.variant_id, 0))
        )
        if take <= 0:
            continue
        if wanted is not None:
            wanted[reservation.variant_id] -= take
        if take == reservation.quantity:
            Reservation.objects.filter(pk=reservation.pk).update(
                state=Reservation.State.SHIPPED, closed_at=now
            )
        else:
            Reservation.objects.filter(pk=reservation.pk).update(
                quantity=reservation.quantity - take
            )
            Reservation.objects.create(
                kind=reservation.kind,
                state=Reservation.State.SHIPPED,
                stock_id=reservation.stock_id,
                variant_id=reservation.variant_id,
                location_id=reservation.location_id,
                quantity=take,
                reference=reservation.reference,
                line_reference=reservation.line_reference,
                closed_at=now,
            )
        totals[(reservation.variant_id, reservation.location_id)] += take
    # A count or a damage write-off may have left less on hand than was allocated: the goods
    # cannot leave, and the order needs re-routing or a cancellation, not a database error.
    for key in sorted(totals):
        if stocks[key].on_hand < totals[key]:
            raise NotEnoughOnHand(
                _(
                    "Only %(on_hand)s of SKU %(sku)s are on hand at %(location)s; %(units)s cannot ship."
                )
                % {
                    "on_hand": stocks[key].on_hand,
                    "sku": stocks[key].variant.sku,
                    "location": stocks[key].location.code,
                    "units": totals[key],
                },
                sku=stocks[key].variant.sku,
                location=stocks[key].location.code,
                on_hand=stocks[key].on_hand,
                requested=totals[key],
            )
    for key in sorted(totals):
        move(
            stocks[key],
            reason=StockMovement.Reason.SHIPMENT,
            on_hand_delta=-totals[key],
            allocated_delta=-totals[key],
            reference=reference,
            actor=actor,
        )
    refresh_signals(stocks.values(), now=now)
    return sum(totals.values())


@stock_transaction
def stock_reallocate(
    *,
    reference: str,
    from_location_id: int,
    to_location_id: int,
    quantities: dict[int, int],
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> list[Reservation]:
    """Move part of an order's allocation to another location (a fulfilment re-routed before
    it shipped): released at one, allocated at the other, both written to the ledger in one
    transaction. `quantities` is stocked variant -> units. Raises `InsufficientStock` (409) when
    the new location has too few free units, leaving everything as it was."""
    if from_location_id == to_location_id:
        raise InvalidStockOperation({"location": [_("The stock is already allocated there.")]})
    quantities = {variant: units for variant, units in quantities.items() if units > 0}
    if not quantities:
        raise InvalidStockOperation({"quantities": [_("Nothing to move.")]})
    now = timezone.now()
    ensure_stock_rows((variant, to_location_id) for variant in quantities)
    stocks = lock_stocks(variant_ids=quantities, location_ids=[from_location_id, to_location_id])
    sources = list(
        Reservation.objects.filter(
            reference=reference,
            kind=Reservation.Kind.ORDER,
            state=Reservation.State.ACTIVE,
            location_id=from_location_id,
            variant_id__in=quantities,
        ).order_by("variant_id", "pk")
    )
    allocated: dict[int, int] = defaultdict(int)
    for reservation in sources:
        allocated[reservation.variant_id] += reservation.quantity
    for variant_id, units in quantities.items():
        if allocated[variant_id] < units:
            raise InvalidStockOperation(
                {
                    "quantities": [
                        _("More than is allocated there for variant %(variant)s.")
                        % {"variant": variant_id}
                    ]
                }
            )
    held = active_holds([stocks[(v, to_location_id)].pk for v in quantities], now=now)
    for variant_id, units in sorted(quantities.items()):
        target = stocks[(variant_id, to_location_id)]
        free = available(target, held.get(target.pk, 0))
        if free < units:
            raise shortage_error(variant_id, units, free)
    moved = []
    left = dict(quantities)
    for reservation in sources:
        take = min(reservation.quantity, left.get(reservation.variant_id, 0))
        if take <= 0:
            continue
        left[reservation.variant_id] -= take
        if take == reservation.quantity:
            Reservation.objects.filter(pk=reservation.pk).update(
                state=Reservation.State.RELEASED, closed_at=now
            )
        else:
            Reservation.objects.filter(pk=reservation.pk).update(
                quantity=reservation.quantity - take
            )
        moved.append(
            Reservation(
                kind=Reservation.Kind.ORDER,
                stock=stocks[(reservation.variant_id, to_location_id)],
                variant_id=reservation.variant_id,
                location_id=to_location_id,
                quantity=take,
                reference=reference,
                line_reference=reservation.line_reference,
                created_at=now,
            )
        )
    Reservation.objects.bulk_create(moved)
    for variant_id, units in sorted(quantities.items()):
        move(
            stocks[(variant_id, from_location_id)],
            reason=StockMovement.Reason.RELEASE,
            allocated_delta=-units,
            reference=reference,
            actor=actor,
            note=note or _("re-routed"),
        )
        move(
            stocks[(variant_id, to_location_id)],
            reason=StockMovement.Reason.RESERVATION,
            allocated_delta=units,
            reference=reference,
            actor=actor,
            note=note or _("re-routed"),
        )
    refresh_signals(stocks.values(), now=now)
    return moved


@stock_transaction
def reservation_expire_holds(*, now=None, batch: int = 1000) -> int:
    """Close cart holds past their expiry (they already stopped counting) and publish any
    threshold crossing their release causes. Run by a beat task; safe to run concurrently."""
    now = now or timezone.now()
    expired = list(
        Reservation.objects.filter(
            kind=Reservation.Kind.CART, state=Reservation.State.ACTIVE, expires_at__lte=now
        )
        .order_by("id")
        .values_list("pk", "stock_id")[:batch]
    )
    if not expired:
        return 0
    # Stock rows first, in the global order, then the holds: the order every writer uses. Closing
    # the holds first deadlocks with a cart reserving again or released, which holds the stock
    # rows while it waits to close those same holds.
    stocks = list(
        Stock.objects.select_related("location")
        .select_for_update(of=("self",))
        .filter(pk__in={stock_id for _, stock_id in expired})
        .order_by("variant_id", "location_id")
    )
    closed = Reservation.objects.filter(
        pk__in=[pk for pk, _ in expired], state=Reservation.State.ACTIVE
    ).update(state=Reservation.State.RELEASED, closed_at=now)
    refresh_signals(stocks, now=now)
    return closed
