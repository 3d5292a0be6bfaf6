"""Order routing: which locations fulfil an order, and why.

A delivery order may be served by the channel's active locations that ship to customers; a store
takes part only when the merchant switched on ship-from-store for it (`ships_to_customers`).
Candidates are ranked by routing priority, then those in the destination's country, then by
distance to the destination. The plan:

1. the best-ranked single location that has every line;
2. otherwise as few locations as possible: repeatedly the one that can send the most lines
   whole, then units of any line no one location has, in rank order (a split only when needed).

A pickup order (or a sale at the till) is served by its store alone. The plan is made under the
stock row locks (inside `inventory.stock_reserve`), the allocation follows it through the
ledger, and each location's share becomes a `Fulfilment`. The decisions and their reasons are
written on the order (`Order.routing`, the fulfilments' `routing_reason` and the history).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import BundleComponent, ProductVariant
from commerce import geo
from commerce.errors import ValidationFailed
from commerce.events import publish
from inventory import services as inventory
from inventory.errors import InsufficientStock
from inventory.models import Reservation, StockLocation
from inventory.selectors import free_units
from orders import pricing
from orders.models import Fulfilment, FulfilmentLine, Order, OrderLine
from orders.services import delivery
from orders.services.orders import history_add

FULFILMENT_CREATED = "fulfilment.created"


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
    """What the planner decided, filled in under the locks."""

    candidates: list[Candidate]
    excluded: list[dict[str, str]] = field(default_factory=list)
    chosen: dict[int, str] = field(default_factory=dict)  # location id -> reason
    passed_over: list[dict[str, Any]] = field(default_factory=list)


def destination_of(order: Order) -> pricing.Destination | None:
    if order.pickup_location_id or not order.shipping_address:
        return None
    return pricing.Destination(
        order.shipping_address.get("country", ""), order.shipping_address.get("region", "")
    )


def _rank(
    locations: list[StockLocation], destination: pricing.Destination | None
) -> list[Candidate]:
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


def candidates_for(order: Order) -> Route:
    """The locations that may serve an order, best first, and those left out with why."""
    if order.pickup_location_id:
        store = StockLocation.objects.get(pk=order.pickup_location_id)
        return Route(candidates=[Candidate(store, None)])
    destination = destination_of(order)
    route = Route(candidates=[])
    eligible = []
    for location in StockLocation.objects.filter(is_active=True, channels=order.channel_id):
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
    route.candidates = _rank(eligible, destination)
    return route


def _planner(route: Route, skus: dict[int, str]) -> inventory.Planner:
    def plan(
        demand: dict[int, int],
        locations: list[StockLocation],
        free: dict[tuple[int, int], int],
    ) -> dict[int, list[tuple[int, int]]]:
        by_id = {c.location.pk: c for c in route.candidates}

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
        plan: dict[int, list[tuple[int, int]]] = {}
        remaining = dict(demand)
        order_of = {loc.pk: index for index, loc in enumerate(locations)}
        while remaining:
            best, best_lines = None, []
            for location in locations:
                whole = [
                    v for v, units in remaining.items() if free.get((v, location.pk), 0) >= units
                ]
                if len(whole) > len(best_lines):
                    best, best_lines = location, whole
            if best is None:
                break
            for variant in best_lines:
                plan[variant] = [(best.pk, remaining.pop(variant))]
            route.chosen[best.pk] = _(
                "No single location has everything; sends %(lines)s whole (%(rank)s)."
            ) % {
                "lines": ", ".join(skus.get(v, str(v)) for v in best_lines),
                "rank": by_id[best.pk].describe,
            }
        # What no location has whole is split over several, in rank order.
        for variant, units in remaining.items():
            parts, left = [], units
            for location in sorted(locations, key=lambda loc: order_of[loc.pk]):
                take = min(left, free.get((variant, location.pk), 0))
                if take > 0:
                    parts.append((location.pk, take))
                    left -= take
                    route.chosen.setdefault(
                        location.pk,
                        _("Part of %(sku)s, which no one location has in full (%(rank)s).")
                        % {
                            "sku": skus.get(variant, str(variant)),
                            "rank": by_id[location.pk].describe,
                        },
                    )
                if left == 0:
                    break
            if left:
                raise inventory.shortage_error(variant, units, units - left)
            plan[variant] = parts
        return plan

    return plan


BundleParts = dict[int, dict[int, int]]  # bundle variant -> component variant -> units each


def _bundle_parts(order_lines: list[OrderLine]) -> BundleParts:
    parts: BundleParts = defaultdict(dict)
    for bundle_id, component_id, quantity in BundleComponent.objects.filter(
        bundle_id__in={line.variant_id for line in order_lines if line.variant_id}
    ).values_list("bundle_id", "component_id", "quantity"):
        parts[bundle_id][component_id] = quantity
    return parts


def _stocked_skus(order_lines: list[OrderLine], parts: BundleParts) -> dict[int, str]:
    variant_ids = {line.variant_id for line in order_lines if line.variant_id}
    component_ids = {component for each in parts.values() for component in each}
    return dict(
        ProductVariant.objects.filter(pk__in=variant_ids | component_ids).values_list("pk", "sku")
    )


def _kind_for(order: Order) -> str:
    if order.pickup_location_id is None:
        return Fulfilment.Kind.SHIPMENT
    if order.channel.kind == "pos" and not order.shipping_address:
        return Fulfilment.Kind.IN_STORE
    return Fulfilment.Kind.PICKUP


def line_units_by_location(
    order_lines: list[OrderLine],
    reservations: list[Reservation],
    per_unit: BundleParts | None = None,
) -> dict[int, dict[int, int]]:
    """location -> order line -> units, from the allocation. A bundle line counts the whole
    bundles its components at that location make up."""
    by_sku = {line.sku: line for line in order_lines}
    if per_unit is None:
        per_unit = _bundle_parts(order_lines)
    components: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for reservation in reservations:
        line = by_sku.get(reservation.line_reference)
        if line is None:
            continue
        components[(reservation.location_id, line.pk)][reservation.variant_id] += (
            reservation.quantity
        )
    result: dict[int, dict[int, int]] = defaultdict(dict)
    lines_by_id = {line.pk: line for line in order_lines}
    for (location_id, line_id), units in components.items():
        line = lines_by_id[line_id]
        parts = per_unit.get(line.variant_id)
        if parts:
            whole = min(units.get(component, 0) // each for component, each in parts.items())
        else:
            whole = units.get(line.variant_id, 0)
        if whole:
            result[location_id][line_id] = whole
    return result


def _pickup_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def fulfilment_payload(fulfilment: Fulfilment, **extra: Any) -> dict[str, Any]:
    order = fulfilment.order
    return {
        "fulfilment_id": fulfilment.pk,
        "number": fulfilment.number,
        "order_id": order.pk,
        "order_number": order.number,
        "channel": order.channel.code,
        "kind": fulfilment.kind,
        "state": fulfilment.state,
        "location": fulfilment.location.code,
        "location_name": fulfilment.location.name,
        "customer_id": order.customer_id,
        "email": order.email,
        "phone": order.phone,
        "language": order.language,
        "carrier": fulfilment.carrier.code if fulfilment.carrier_id else "",
        "tracking_number": fulfilment.tracking_number,
        "tracking_url": fulfilment.tracking_url,
        "ship_by": fulfilment.ship_by,
        "estimated_delivery": fulfilment.estimated_delivery,
        "pickup_code": fulfilment.pickup_code,
        "lines": getattr(fulfilment, "line_summary", None)
        or [
            {"sku": line.order_line.sku, "quantity": line.quantity}
            for line in fulfilment.lines.select_related("order_line")
        ],
        **extra,
    }


def fulfilment_publish(fulfilment: Fulfilment, event_type: str, **extra: Any) -> None:
    publish(
        type=event_type,
        subject_type="fulfilment",
        subject_id=fulfilment.pk,
        payload=fulfilment_payload(fulfilment, **extra),
    )


def create_fulfilments(
    order: Order,
    reservations: list[Reservation],
    *,
    reasons: dict[int, str],
    now: datetime | None = None,
    order_lines: list[OrderLine] | None = None,
    parts: BundleParts | None = None,
    locations: dict[int, StockLocation] | None = None,
) -> list[Fulfilment]:
    """One fulfilment per location the allocation landed on, numbered after the order."""
    now = now or timezone.now()
    if order_lines is None:
        order_lines = list(order.lines.all())
    shares = line_units_by_location(order_lines, reservations, parts)
    if not shares:
        return []
    locations = dict(locations or {})
    if not set(shares) <= set(locations):
        locations.update(StockLocation.objects.in_bulk(shares))
    kind = _kind_for(order)
    destination = destination_of(order)
    method = order.shipping_method
    # Numbers go on after earlier fulfilments; an order routed for the first time has none.
    existing = Fulfilment.objects.filter(order=order).count() if order.routing else 0
    skus_by_line = {line.pk: line.sku for line in order_lines}
    fulfilments = []
    for index, location_id in enumerate(sorted(shares, key=lambda pk: locations[pk].code), 1):
        location = locations[location_id]
        fulfilment = Fulfilment.objects.create(
            order=order,
            number=f"{order.number}-{existing + index}",
            kind=kind,
            location=location,
            routing_reason=reasons.get(location_id, "")[:500],
            carrier=method.carrier if method is not None else None,
            ship_by=None
            if kind == Fulfilment.Kind.IN_STORE
            else delivery.ship_by(location, now=now),
            estimated_delivery=delivery.estimated_delivery(
                location, method if kind == Fulfilment.Kind.SHIPMENT else None, destination, now=now
            ),
            pickup_code=_pickup_code() if kind == Fulfilment.Kind.PICKUP else "",
            created_at=now,
        )
        FulfilmentLine.objects.bulk_create(
            FulfilmentLine(fulfilment=fulfilment, order_line_id=line_id, quantity=units)
            for line_id, units in shares[location_id].items()
        )
        # For the `fulfilment.created` payload, without reading back what was just written.
        fulfilment.line_summary = [
            {"sku": skus_by_line[line_id], "quantity": units}
            for line_id, units in shares[location_id].items()
        ]
        fulfilments.append(fulfilment)
    return fulfilments


def order_route(
    order: Order,
    *,
    replaces_reference: str | None = None,
    actor: AbstractBaseUser | None = None,
    publish_created: bool = True,
) -> list[Fulfilment]:
    """Allocate the order's lines where routing says and make its fulfilments, in the caller's
    transaction. Raises `InsufficientStock` (409) naming the first short SKU."""
    order_lines = [line for line in order.lines.all() if line.variant_id]
    if not order_lines:
        raise ValidationFailed({"lines": [_("The order has nothing to fulfil.")]})
    route = candidates_for(order)
    if not route.candidates:
        raise InsufficientStock(
            _("No location can fulfil this order: %(why)s")
            % {
                "why": "; ".join(f"{e['location']}: {e['reason']}" for e in route.excluded)
                or _("none serves the channel")
            },
            requested=sum(line.quantity for line in order_lines),
            available=0,
        )
    parts = _bundle_parts(order_lines)
    skus = _stocked_skus(order_lines, parts)
    reservations = inventory.stock_reserve(
        channel=order.channel,
        kind="order",
        reference=order.reference,
        replaces_reference=replaces_reference,
        lines=[
            inventory.ReserveLine(
                variant_id=line.variant_id, quantity=line.quantity, line_reference=line.sku
            )
            for line in order_lines
        ],
        locations=[c.location for c in route.candidates],
        planner=_planner(route, skus),
        actor=actor,
    )
    fulfilments = create_fulfilments(
        order,
        reservations,
        reasons=route.chosen,
        order_lines=order_lines,
        parts=parts,
        locations={c.location.pk: c.location for c in route.candidates},
    )
    by_location = {c.location.pk: c for c in route.candidates}
    order.routing = [
        *order.routing,
        {
            "at": timezone.now().isoformat(),
            "chosen": [
                {
                    "fulfilment": f.number,
                    "location": f.location.code,
                    "distance_km": round(by_location[f.location_id].distance_km)
                    if by_location[f.location_id].distance_km is not None
                    else None,
                    "reason": f.routing_reason,
                }
                for f in fulfilments
            ],
            "passed_over": route.passed_over,
            "excluded": route.excluded,
        },
    ]
    order.save(update_fields=["routing", "updated_at"])
    history_add(
        order,
        "routed",
        _("Routed to %(locations)s.")
        % {"locations": ", ".join(f"{f.location.code} ({f.number})" for f in fulfilments)},
        actor=actor,
        fulfilments=[f.number for f in fulfilments],
    )
    if publish_created:
        for fulfilment in fulfilments:
            fulfilment_publish(fulfilment, FULFILMENT_CREATED)
    return fulfilments


def route_preview(
    *,
    channel_id: int,
    rows: list[tuple[int, int]],
    destination: pricing.Destination | None,
    pickup_location_id: int | None = None,
) -> list[StockLocation]:
    """Where an order for these (variant, units) rows would most likely ship from, read without
    locks: for the delivery estimate shown at checkout. Empty when nothing has it all."""
    probe = Order(
        channel_id=channel_id,
        pickup_location_id=pickup_location_id,
        shipping_address={"country": destination.country, "region": destination.region}
        if destination
        else None,
    )
    route = candidates_for(probe)
    demand: dict[int, int] = defaultdict(int)
    for variant_id, units in rows:
        demand[variant_id] += units
    if not demand or not route.candidates:
        return []
    locations = [c.location for c in route.candidates]
    free = free_units(variant_ids=demand, location_ids=[loc.pk for loc in locations])
    try:
        plan = _planner(route, {})(dict(demand), locations, free)
    except InsufficientStock:
        return []
    used = {location_id for parts in plan.values() for location_id, _units in parts}
    return [loc for loc in locations if loc.pk in used]
