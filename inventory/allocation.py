"""Where stock comes from: the one planner behind a cart's hold and an order's allocation.

A delivery may be served by the channel's active locations that ship to customers; a store
takes part only when the merchant switched on ship-from-store for it (`ships_to_customers`).
Candidates are ranked by routing priority, then those in the destination's country, then by
distance to the destination. A pickup (or a sale at the till) is served by its store alone.
The plan over the ranked candidates:

1. the best-ranked single location that has every line;
2. otherwise as few locations as possible: repeatedly the one that can send the most lines
   whole, then units of any line no one location has, in rank order (a split only when needed).

Checkout holds the cart's stock with this planner and the order takes the hold over unchanged,
so what the buyer was promised at checkout is what the warehouse is asked to send. The plan is
made under the stock row locks (inside `stock_reserve`); the reasons it gives are written on the
order by routing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from catalog.models import ProductVariant
from commerce import geo
from inventory.errors import InsufficientStock
from inventory.models import StockLocation

# variant -> [(location id, units)]
Plan = dict[int, list[tuple[int, int]]]


@dataclass(frozen=True)
class Destination:
    """Where the goods go: a country and its region (prefecture or state)."""

    country: str
    region: str = ""


@dataclass
class Candidate:
    location: StockLocation
    distance_km: float | None

    @property
    def describe(self) -> str:
        if self.distance_km is None:
            return _("priority %(priority)s") % {"priority": self.location.routing_priority}
        return _("priority %(priority)s, %(km)s km away") % {
            "priority": self.location.routing_priority,
            "km": round(self.distance_km),
        }


@dataclass
class Route:
    """The candidates, best first, and what the planner decided, filled in under the locks."""

    candidates: list[Candidate]
    excluded: list[dict[str, str]] = field(default_factory=list)
    chosen: dict[int, str] = field(default_factory=dict)  # location id -> reason
    passed_over: list[dict[str, Any]] = field(default_factory=list)
    skus: dict[int, str] = field(default_factory=dict)  # for the reasons; ids where missing

    @property
    def locations(self) -> list[StockLocation]:
        return [candidate.location for candidate in self.candidates]

    @classmethod
    def over(cls, locations: list[StockLocation]) -> Route:
        """A route over locations already in the order to try them (no distances)."""
        return cls(candidates=[Candidate(location, None) for location in locations])


def rank(locations: list[StockLocation], destination: Destination | None) -> list[Candidate]:
    target = geo.region_centre(destination.country, destination.region) if destination else None
    ranked = []
    for location in locations:
        point = geo.point_of(location.latitude, location.longitude) or geo.region_centre(
            location.country, location.region
        )
        ranked.append(Candidate(location, geo.distance_km(point, target)))
    country = destination.country.upper() if destination else ""
    ranked.sort(
        key=lambda c: (
            c.location.routing_priority,
            bool(country) and c.location.country.upper() != country,
            c.distance_km if c.distance_km is not None else float("inf"),
            c.location.code,
        )
    )
    return ranked


def route_for(
    *,
    channel_id: int,
    destination: Destination | None,
    pickup_location_id: int | None = None,
) -> Route:
    """The locations that may serve a cart or an order, best first, and those left out with
    why. One query."""
    if pickup_location_id:
        store = StockLocation.objects.get(pk=pickup_location_id)
        return Route(candidates=[Candidate(store, None)])
    route = Route(candidates=[])
    eligible = []
    for location in StockLocation.objects.filter(is_active=True, channels=channel_id):
        if not location.ships_to_customers:
            route.excluded.append(
                {
                    "location": location.code,
                    "reason": _("ship-from-store is off")
                    if location.kind == StockLocation.Kind.STORE
                    else _("does not ship to customers"),
                }
            )
            continue
        eligible.append(location)
    route.candidates = rank(eligible, destination)
    return route


def plan(route: Route, demand: dict[int, int], free: dict[tuple[int, int], int]) -> Plan:
    """Spread `demand` (stocked variant -> units) over the route's candidates given the `free`
    units per (variant, location), recording the reasons on `route`. Raises `InsufficientStock`
    naming the first variant no combination of locations has enough of."""
    locations = route.locations
    by_id = {c.location.pk: c for c in route.candidates}
    skus = route.skus

    def lacks(location: StockLocation, wanted: dict[int, int]) -> list[str]:
        return [
            _("%(sku)s (%(free)s of %(wanted)s)")
            % {
                "sku": skus.get(variant, str(variant)),
                "free": free.get((variant, location.pk), 0),
                "wanted": units,
            }
            for variant, units in wanted.items()
            if free.get((variant, location.pk), 0) < units
        ]

    for location in locations:
        missing = lacks(location, demand)
        if not missing:
            route.chosen[location.pk] = _(
                "Has every line: the best-ranked location that can send the order in one "
                "parcel (%(rank)s)."
            ) % {"rank": by_id[location.pk].describe}
            return {variant: [(location.pk, units)] for variant, units in demand.items()}
        route.passed_over.append({"location": location.code, "lacks": ", ".join(missing)[:400]})

    # No single location: cover whole lines with as few locations as possible.
    result: Plan = {}
    remaining = dict(demand)
    while remaining:
        best, best_lines = None, []
        for location in locations:
            whole = [v for v, units in remaining.items() if free.get((v, location.pk), 0) >= units]
            if len(whole) > len(best_lines):
                best, best_lines = location, whole
        if best is None:
            break
        for variant in best_lines:
            result[variant] = [(best.pk, remaining.pop(variant))]
        route.chosen[best.pk] = _(
            "No single location has everything; sends %(lines)s whole (%(rank)s)."
        ) % {
            "lines": ", ".join(skus.get(v, str(v)) for v in best_lines),
            "rank": by_id[best.pk].describe,
        }
    # What no location has whole is split over several, in rank order.
    shortages = []
    for variant, units in remaining.items():
        parts, left = [], units
        for location in locations:
            take = min(left, free.get((variant, location.pk), 0))
            if take > 0:
                parts.append((location.pk, take))
                left -= take
                route.chosen.setdefault(
                    location.pk,
                    _("Part of %(sku)s, which no one location has in full (%(rank)s).")
                    % {"sku": skus.get(variant, str(variant)), "rank": by_id[location.pk].describe},
                )
            if left == 0:
                break
        if left:
            shortages.append((variant, units, units - left))
        result[variant] = parts
    if shortages:
        raise shortage_error(*shortages[0])
    return result


def shortage_error(variant_id: int, requested: int, able: int) -> InsufficientStock:
    sku = ProductVariant.objects.filter(pk=variant_id).values_list("sku", flat=True).first() or str(
        variant_id
    )
    return InsufficientStock(
        _("Only %(available)s of SKU %(sku)s are available; %(requested)s were requested.")
        % {"available": able, "sku": sku, "requested": requested},
        sku=sku,
        variant_id=variant_id,
        requested=requested,
        available=able,
    )
