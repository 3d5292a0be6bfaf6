"""Reads of stock: availability per channel and per location (in bulk, in a fixed number of
queries), stock across locations, and the ledger's reconciliation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from catalog.models import BundleComponent
from catalog.selectors import bundle_components
from commerce.models import Channel
from inventory.models import Reservation, Stock, StockLocation, StockMovement
from inventory.services.ledger import active_holds, available


def _online_locations(channel: Channel | int) -> QuerySet[StockLocation]:
    return StockLocation.objects.filter(is_active=True, channels=channel, counts_for_online=True)


def _available_by_stock(stocks: list[Stock]) -> dict[int, int]:
    held = active_holds([s.pk for s in stocks])
    return {s.pk: available(s, held.get(s.pk, 0)) for s in stocks}


def free_units(
    *, variant_ids: Iterable[int], location_ids: Iterable[int]
) -> dict[tuple[int, int], int]:
    """Units free to allocate per (variant, location) now, read without locks: for previews
    (a delivery estimate, the endless aisle); allocation decides again under the row locks."""
    stocks = list(
        Stock.objects.filter(variant_id__in=list(variant_ids), location_id__in=list(location_ids))
    )
    free = _available_by_stock(stocks)
    return {(s.variant_id, s.location_id): free[s.pk] for s in stocks}


def availability_for_channel(
    *,
    channel: Channel | int,
    variant_ids: Iterable[int],
    components: dict[int, list[tuple[int, int]]] | None = None,
) -> dict[int, int]:
    """Units each variant can sell in the channel right now, summed over the locations whose
    stock counts for it. A bundle has what its scarcest component allows. One query when the
    caller knows the bundles' components (`components`, as the storefront's cached cards do),
    two otherwise."""
    variant_ids = list(variant_ids)
    if components is None:
        components = bundle_components(variant_ids)
    stocked = set(variant_ids) | {c for parts in components.values() for c, _ in parts}
    totals = _sellable_units(channel if isinstance(channel, int) else channel.pk, stocked)
    result = {}
    for variant_id in variant_ids:
        if variant_id in components:
            result[variant_id] = min(totals.get(c, 0) // q for c, q in components[variant_id])
        else:
            result[variant_id] = totals.get(variant_id, 0)
    return result


def _sellable_units(channel_id: int, variant_ids: Iterable[int]) -> dict[int, int]:
    """`_sellable_stocks` summed per variant, as one hand-written statement: a storefront page
    asks this for some 150 variants on every request, and building the same query through the
    ORM cost more than running it. Other databases (the embedded demo's SQLite) get the same
    figures from the ORM."""
    variant_ids = list(variant_ids)
    if connection.vendor != "postgresql":
        return _sellable_units_orm(channel_id, variant_ids)
    stock, location = Stock._meta, StockLocation._meta
    channels = StockLocation.channels.through._meta
    sql = f"""
        SELECT s.variant_id,
               SUM(GREATEST(s.on_hand - s.allocated - s.safety_stock - COALESCE(h.held, 0), 0))
          FROM {stock.db_table} s
          JOIN {location.db_table} l ON l.id = s.location_id
          JOIN {channels.db_table} lc ON lc.stocklocation_id = l.id AND lc.channel_id = %s
          LEFT JOIN LATERAL (
                SELECT SUM(r.quantity) AS held FROM {Reservation._meta.db_table} r
                 WHERE r.stock_id = s.id AND r.kind = %s AND r.state = %s AND r.expires_at > %s
               ) h ON TRUE
         WHERE s.variant_id = ANY(%s) AND l.is_active AND l.counts_for_online
         GROUP BY s.variant_id"""
    params = [
        channel_id,
        Reservation.Kind.CART.value,
        Reservation.State.ACTIVE.value,
        timezone.now(),
        variant_ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {variant_id: int(units) for variant_id, units in cursor.fetchall()}


def _sellable_units_orm(channel_id: int, variant_ids: list[int]) -> dict[int, int]:
    """The same figures through the ORM."""
    totals: dict[int, int] = defaultdict(int)
    for variant_id, units in (
        _sellable_stocks(channel_id)
        .filter(variant_id__in=variant_ids)
        .values_list("variant_id", "available_units")
    ):
        totals[variant_id] += units
    return dict(totals)


@dataclass(frozen=True)
class LocationAvailability:
    location: StockLocation
    available: int
    on_hand: int


def availability_by_location(
    *, variant_id: int, channel: Channel | None = None, pickup_only: bool = False
) -> list[LocationAvailability]:
    """A variant's availability at each location ("in stock here" for click-and-collect, and
    the endless aisle: what other stores and the warehouse hold)."""
    locations = StockLocation.objects.filter(is_active=True)
    if channel is not None:
        locations = locations.filter(channels=channel)
    if pickup_only:
        locations = locations.filter(pickup_enabled=True)
    components = bundle_components([variant_id]).get(variant_id) or [(variant_id, 1)]
    stocks = list(
        Stock.objects.filter(
            variant_id__in=[c for c, _ in components], location__in=locations
        ).select_related("location")
    )
    free = _available_by_stock(stocks)
    by_location: dict[int, dict[int, Stock]] = defaultdict(dict)
    for stock in stocks:
        by_location[stock.location_id][stock.variant_id] = stock
    result = []
    for location in locations.order_by("routing_priority", "code"):
        rows = by_location.get(location.pk, {})
        units = min((free[rows[c].pk] // q if c in rows else 0) for c, q in components)
        on_hand = min((rows[c].on_hand // q if c in rows else 0) for c, q in components)
        result.append(LocationAvailability(location=location, available=units, on_hand=on_hand))
    return result


def stock_with_availability(
    queryset: QuerySet[Stock] | None = None, *, now=None
) -> QuerySet[Stock]:
    """Stock rows annotated with `held` (units in unexpired cart holds) and `available_units`
    (on hand - allocated - held - safety, never below zero), in the same query."""
    now = now or timezone.now()
    holds = (
        Reservation.objects.filter(
            stock=OuterRef("pk"),
            kind=Reservation.Kind.CART,
            state=Reservation.State.ACTIVE,
            expires_at__gt=now,
        )
        .values("stock")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    queryset = Stock.objects.all() if queryset is None else queryset
    return queryset.annotate(
        held=Coalesce(Subquery(holds, output_field=IntegerField()), Value(0))
    ).annotate(
        available_units=Greatest(
            F("on_hand") - F("allocated") - F("held") - F("safety_stock"), Value(0)
        )
    )


def _sellable_stocks(channel: Channel | int, *, now=None) -> QuerySet[Stock]:
    """Stock rows of the channel's online locations, with their availability."""
    return stock_with_availability(
        Stock.objects.filter(location__in=_online_locations(channel)), now=now
    )


def product_in_stock_condition(*, channel: Channel) -> Q:
    """A condition on catalogue products: some variant has sellable stock in the channel.

    In SQL, holds subtracted while unexpired, so that it filters a product list. A bundle counts
    when each of its components has enough summed over the channel's locations, as
    `availability_for_channel` counts it and `stock_reserve` may split it."""
    sellable = _sellable_stocks(channel)
    plain = Exists(
        sellable.filter(
            variant__product=OuterRef("pk"),
            on_hand__gt=F("allocated") + F("safety_stock") + F("held"),
        )
    )
    component_available = (
        sellable.filter(variant=OuterRef("component"))
        .values("variant")
        .annotate(
            total=Sum(
                Greatest(F("on_hand") - F("allocated") - F("safety_stock") - F("held"), Value(0))
            )
        )
        .values("total")
    )
    component_short = BundleComponent.objects.annotate(
        available=Coalesce(Subquery(component_available, output_field=IntegerField()), Value(0))
    ).filter(bundle=OuterRef("bundle"), available__lt=F("quantity"))
    bundle = Exists(
        BundleComponent.objects.filter(bundle__product=OuterRef("pk")).exclude(
            Exists(component_short)
        )
    )
    return Q(plain) | Q(bundle)


def stock_list_for_variant(*, variant_id: int) -> QuerySet[Stock]:
    return (
        Stock.objects.filter(variant_id=variant_id)
        .select_related("location")
        .order_by("location__routing_priority")
    )


@dataclass(frozen=True)
class Drift:
    stock_id: int
    sku: str
    location: str
    on_hand: int
    ledger_on_hand: int
    allocated: int
    ledger_allocated: int
    order_reservations: int


def stock_reconcile() -> list[Drift]:
    """Every stock row whose counters differ from the sum of its ledger, or whose allocation
    differs from its active order reservations. An empty list: the books balance."""
    ledger = {
        row["stock_id"]: row
        for row in StockMovement.objects.values("stock_id").annotate(
            on_hand=Sum("on_hand_delta"), allocated=Sum("allocated_delta")
        )
    }
    reserved = dict(
        Reservation.objects.filter(kind=Reservation.Kind.ORDER, state=Reservation.State.ACTIVE)
        .values_list("stock_id")
        .annotate(total=Sum("quantity"))
        .values_list("stock_id", "total")
    )
    drift = []
    for stock in (
        Stock.objects.select_related("variant", "location").order_by("pk").iterator(chunk_size=2000)
    ):
        booked = ledger.get(stock.pk, {"on_hand": 0, "allocated": 0})
        held = reserved.get(stock.pk, 0)
        if (stock.on_hand, stock.allocated) != (
            booked["on_hand"],
            booked["allocated"],
        ) or stock.allocated != held:
            drift.append(
                Drift(
                    stock.pk,
                    stock.variant.sku,
                    stock.location.code,
                    stock.on_hand,
                    booked["on_hand"],
                    stock.allocated,
                    booked["allocated"],
                    held,
                )
            )
    return drift


def location_by_code(code: str) -> StockLocation | None:
    """The location with this code (spaces around it ignored), or None."""
    return StockLocation.objects.filter(code=(code or "").strip()).first()
