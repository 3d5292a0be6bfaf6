"""Order routing: which locations fulfil an order, and why.

The candidates and the plan are `inventory.allocation`'s, the same planner that held the cart's
stock at checkout: an order placed from a cart whose holds still stand takes them over in place
(`stock_hold_convert`), and otherwise (an edited order, a phone or marketplace order, a hold
that ran out) the stock is reserved afresh under the row locks. Each location's share becomes a
`Fulfilment`. The decisions and their reasons are written on the order (`Order.routing`, the
fulfilments' `routing_reason` and the history).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import date, datetime
from typing import Any, TypedDict

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import ProductVariant
from catalog.selectors import bundle_components
from commerce.errors import ValidationFailed
from commerce.events import publish
from inventory import allocation
from inventory import services as inventory
from inventory.errors import InsufficientStock
from inventory.models import Reservation, StockLocation
from inventory.selectors import free_units
from orders import pricing
from orders.core.records import history_add
from orders.fulfilment import delivery
from orders.models import Fulfilment, FulfilmentLine, Order, OrderLine

FULFILMENT_CREATED = "fulfilment.created"


def destination_of(order: Order) -> allocation.Destination | None:
    if order.pickup_location_id or not order.shipping_address:
        return None
    return allocation.Destination(
        order.shipping_address.get("country", ""), order.shipping_address.get("region", "")
    )


def candidates_for(order: Order) -> allocation.Route:
    """The locations that may serve an order, best first, and those left out with why."""
    return allocation.route_for(
        channel_id=order.channel_id,
        destination=destination_of(order),
        pickup_location_id=order.pickup_location_id,
    )


BundleParts = dict[int, list[tuple[int, int]]]  # bundle -> [(component, units each)]


def _bundle_parts(order_lines: list[OrderLine]) -> BundleParts:
    return bundle_components(line.variant_id for line in order_lines if line.variant_id)


def _stocked_skus(order_lines: list[OrderLine], parts: BundleParts) -> dict[int, str]:
    variant_ids = {line.variant_id for line in order_lines if line.variant_id}
    component_ids = {component for each in parts.values() for component, _units in each}
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
            whole = min(units.get(component, 0) // each for component, each in parts)
        else:
            whole = units.get(line.variant_id, 0)
        if whole:
            result[location_id][line_id] = whole
    return result


def _pickup_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


class FulfilmentLinePayload(TypedDict):
    sku: str
    quantity: int


class FulfilmentPayload(TypedDict):
    """What every `fulfilment.*` and `pickup.*` event carries (each adds its own keys)."""

    fulfilment_id: int
    number: str
    order_id: int
    order_number: str
    channel: str
    kind: str
    state: str
    location: str
    location_name: str
    customer_id: int | None
    email: str
    phone: str
    language: str
    carrier: str
    tracking_number: str
    tracking_url: str
    ship_by: datetime | None
    estimated_delivery: date | None
    pickup_code: str
    lines: list[FulfilmentLinePayload]


def fulfilment_payload(fulfilment: Fulfilment, **extra: Any) -> FulfilmentPayload:
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


def _held_decisions(
    route: allocation.Route, reservations: list[Reservation], held_route: dict[str, Any]
) -> str:
    """The reasons for an allocation taken over from the cart's hold: the planner's own, kept
    on the cart when it placed the hold (`Cart.hold_route`). Returns when the hold was placed."""
    used = {reservation.location_id for reservation in reservations}
    chosen = {int(pk): reason for pk, reason in (held_route.get("chosen") or {}).items()}
    if set(chosen) == used:
        route.chosen = chosen
        route.passed_over = list(held_route.get("passed_over") or [])
        route.excluded = list(held_route.get("excluded") or route.excluded)
        return held_route.get("at", "")
    for location_id in used:  # a hold placed before its reasons were kept
        route.chosen[location_id] = _("Held for the buyer at checkout.")
    return ""


def order_route(
    order: Order,
    *,
    replaces_reference: str | None = None,
    held_route: dict[str, Any] | None = None,
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
    lines = [
        inventory.ReserveLine(
            variant_id=line.variant_id, quantity=line.quantity, line_reference=line.sku
        )
        for line in order_lines
    ]
    reservations = None
    if replaces_reference:
        reservations = inventory.stock_hold_convert(
            hold_reference=replaces_reference,
            reference=order.reference,
            lines=lines,
            location_ids={location.pk for location in route.locations},
            components=parts,
            actor=actor,
        )
    held_at = ""
    if reservations is not None:
        held_at = _held_decisions(route, reservations, held_route or {})
    else:
        route.skus = _stocked_skus(order_lines, parts)
        reservations = inventory.stock_reserve(
            channel=order.channel,
            kind="order",
            reference=order.reference,
            replaces_reference=replaces_reference,
            lines=lines,
            route=route,
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
            # Taken over from the cart's hold: the plan (and what was free) as at that time.
            **({"held_at": held_at} if held_at else {}),
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
    route = allocation.route_for(
        channel_id=channel_id,
        destination=None if pickup_location_id or destination is None else destination,
        pickup_location_id=pickup_location_id,
    )
    demand: dict[int, int] = defaultdict(int)
    for variant_id, units in rows:
        demand[variant_id] += units
    if not demand or not route.candidates:
        return []
    locations = route.locations
    free = free_units(variant_ids=demand, location_ids=[loc.pk for loc in locations])
    try:
        plan = allocation.plan(route, dict(demand), free)
    except InsufficientStock:
        return []
    used = {location_id for parts in plan.values() for location_id, _units in parts}
    return [loc for loc in locations if loc.pk in used]
