"""Reads of stock: availability per channel and per location (in bulk, in a fixed number of
queries), stock across locations, low-stock thresholds, and the ledger's reconciliation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from catalog.models import BundleComponent, ProductVariant
from catalog.selectors import bundle_components
from commerce.models import Channel
from inventory.models import (
    Reservation,
    SeasonalThreshold,
    Stock,
    StockLocation,
    StockMovement,
    StockPolicy,
)
from inventory.services.ledger import DEFAULT_LOW_STOCK_THRESHOLD, active_holds, available


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


# --- Low-stock thresholds -----------------------------------------------------------------------


def merchant_today(now: datetime | None = None) -> date:
    """The merchant's calendar date at `now` (default: now), in settings.TIME_ZONE: a seasonal
    threshold from 1 to 24 December starts at midnight in Tokyo, not at midnight UTC. Read
    from the setting rather than the active time zone, which a request may have changed."""
    return timezone.localtime(now or timezone.now(), ZoneInfo(settings.TIME_ZONE)).date()


def _category_ancestors(variant_ids: set[int]) -> dict[int, list[int]]:
    """Each variant's category and the categories above it, nearest first (from the tree path
    "/3/17/", one query). A variant whose product has no category has none."""
    paths = ProductVariant.objects.filter(pk__in=variant_ids).values_list(
        "pk", "product__category__path"
    )
    return {
        variant_id: [int(part) for part in reversed(path.strip("/").split("/")) if part]
        for variant_id, path in paths
        if path
    }


def seasonal_thresholds_for(
    *, variant_ids: Iterable[int], location_ids: Iterable[int], on: date
) -> dict[tuple[int, int], int]:
    """The seasonal threshold active on `on` for each (variant, location) pair of the two lists
    that has one (pairs without one are left out).

    Candidates are the rules whose dates include `on` (both ends included) that name the
    variant, or its product's category or any category above it, at that location or at every
    location. The most specific wins: a variant rule beats a category rule, a nearer category
    beats one further up the tree; then a rule for the location beats one for every location;
    then, between overlapping rules alike in all that, the highest threshold (warn early).

    One query when no category rule is active on `on` (the usual case outside a season), two
    otherwise, whatever the number of pairs."""
    location_ids = set(location_ids)
    pairs = {(v, loc) for v in set(variant_ids) for loc in location_ids}
    return _thresholds(pairs, on, with_policies=False)[0]


def _thresholds(
    pairs: set[tuple[int, int]], on: date, *, with_policies: bool
) -> tuple[dict[tuple[int, int], int], dict[int, int]]:
    """(seasonal threshold by pair, StockPolicy threshold by variant) for `pairs`.

    The rules and the policies come in one UNION query: the ledger asks this on every stock
    change (each checkout), where one more statement per call would show. The variants'
    category paths are read in a second query only when some category rule is active."""
    if not pairs:
        return {}, {}
    variant_ids = {variant_id for variant_id, _ in pairs}
    location_ids = {location_id for _, location_id in pairs}
    nothing = Value(None, output_field=IntegerField())
    # Active category rules are few (a merchant writes them by hand), so all of them are read.
    rows = (
        SeasonalThreshold.objects.filter(starts_on__lte=on, ends_on__gte=on)
        .filter(Q(variant_id__in=variant_ids) | Q(category__isnull=False))
        .filter(Q(location__isnull=True) | Q(location_id__in=location_ids))
        .order_by()
        .annotate(
            rule=Value(True),
            rule_variant=F("variant_id"),
            rule_category=F("category_id"),
            rule_location=F("location_id"),
            rule_threshold=F("threshold"),
        )
        .values_list("rule", "rule_variant", "rule_category", "rule_location", "rule_threshold")
    )
    if with_policies:
        policies = (
            StockPolicy.objects.filter(variant_id__in=variant_ids)
            .order_by()
            .annotate(
                rule=Value(False),
                rule_variant=F("variant_id"),
                rule_category=nothing,
                rule_location=nothing,
                rule_threshold=F("low_stock_threshold"),
            )
            .values_list("rule", "rule_variant", "rule_category", "rule_location", "rule_threshold")
        )
        rows = rows.union(policies, all=True)
    by_variant: dict[int, list[tuple[int | None, int]]] = defaultdict(list)
    by_category: dict[int, list[tuple[int | None, int]]] = defaultdict(list)
    policy_of: dict[int, int] = {}
    for is_rule, variant_id, category_id, location_id, threshold in rows:
        if not is_rule:
            policy_of[variant_id] = threshold
        elif variant_id is not None:
            by_variant[variant_id].append((location_id, threshold))
        else:
            by_category[category_id].append((location_id, threshold))
    if not by_variant and not by_category:
        return {}, policy_of
    ancestors = _category_ancestors(variant_ids) if by_category else {}

    seasonal = {}
    for variant_id, location_id in pairs:
        # The most specific target first: the variant, then its category, then upwards. The
        # first of them with a rule covering the location decides.
        targets = [by_variant.get(variant_id, [])]
        targets += [by_category.get(c, []) for c in ancestors.get(variant_id, [])]
        for rules_of_target in targets:
            here = [t for loc, t in rules_of_target if loc == location_id]
            everywhere = [t for loc, t in rules_of_target if loc is None]
            if here or everywhere:
                seasonal[(variant_id, location_id)] = max(here or everywhere)
                break
    return seasonal, policy_of


def _resolve_thresholds(
    overrides: dict[tuple[int, int], int | None], *, on: date | None
) -> dict[tuple[int, int], int]:
    """Apply the precedence of `stock_thresholds` to (variant, location) pairs, each with its
    stock row's own threshold or None."""
    result = {pair: value for pair, value in overrides.items() if value is not None}
    rest = {pair for pair, value in overrides.items() if value is None}
    if not rest:
        return result
    seasonal, policy_of = _thresholds(rest, on or merchant_today(), with_policies=True)
    for pair in rest:
        threshold = seasonal.get(pair)
        if threshold is None:
            threshold = policy_of.get(pair[0], DEFAULT_LOW_STOCK_THRESHOLD)
        result[pair] = threshold
    return result


def stock_thresholds(stocks: Iterable[Stock], *, on: date | None = None) -> dict[int, int]:
    """The low-stock threshold each stock row uses on `on` (default: the merchant's today), by
    stock id, in this order of precedence:

    1. the row's own `low_stock_threshold`, when set (a deliberate override for that shelf);
    2. the seasonal threshold active on `on` (`seasonal_thresholds_for`);
    3. the variant's `StockPolicy`;
    4. DEFAULT_LOW_STOCK_THRESHOLD.

    Takes the rows' overrides from the instances given (the ledger passes the rows it holds
    locked), then runs one query for any number of rows (two while a category rule is active),
    none when every row has an override of its own."""
    stocks = list(stocks)
    resolved = _resolve_thresholds(
        {(s.variant_id, s.location_id): s.low_stock_threshold for s in stocks}, on=on
    )
    return {s.pk: resolved[(s.variant_id, s.location_id)] for s in stocks}


def thresholds_for(
    *, variant_ids: Iterable[int], location_ids: Iterable[int], on: date | None = None
) -> dict[tuple[int, int], int]:
    """The low-stock threshold of every (variant, location) pair of the two lists on `on`
    (default: the merchant's today), with the precedence of `stock_thresholds`; a pair with no
    stock row yet gets what its row would get. For automation rules and screens asking "what
    counts as low here?". Two queries (three while a category rule is active), whatever the
    number of pairs."""
    variant_ids, location_ids = set(variant_ids), set(location_ids)
    if not variant_ids or not location_ids:
        return {}
    overrides: dict[tuple[int, int], int | None] = {
        (v, loc): None for v in variant_ids for loc in location_ids
    }
    overrides.update(
        {
            (v, loc): value
            for v, loc, value in Stock.objects.filter(
                variant_id__in=variant_ids,
                location_id__in=location_ids,
                low_stock_threshold__isnull=False,
            ).values_list("variant_id", "location_id", "low_stock_threshold")
        }
    )
    return _resolve_thresholds(overrides, on=on)


def threshold_for(*, variant_id: int, location_id: int, on: date | None = None) -> int:
    """`thresholds_for` for one variant at one location."""
    return thresholds_for(variant_ids=[variant_id], location_ids=[location_id], on=on)[
        (variant_id, location_id)
    ]
