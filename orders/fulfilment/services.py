"""A fulfilment's life: picking and packing, shipping (on-hand goes down through the ledger and
the order becomes partially fulfilled or fulfilled), delivery, re-routing before it ships,
carriers' tracking reports, click-and-collect, and the beat tasks that notice lateness.

Every write locks the order, then the fulfilment (the order a fulfilment's writers all use) so a
ship racing a cancel or a second ship of the same parcel queue instead of both passing. Each
event (`fulfilment.shipped`, `fulfilment.delivered`, `fulfilment.delayed`, `pickup.ready`,
`pickup.collected`, `pickup.uncollected`) goes out once: with the state change that causes it,
or, for the time-based ones, with a column set by a conditional update.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.selectors import bundle_components
from commerce.errors import Conflict, NotFound, ValidationFailed
from inventory import services as inventory
from inventory.models import StockLocation
from inventory.selectors import location_by_code
from orders.core.records import (
    ORDER_UPDATED,
    InvalidOrderTransition,
    history_add,
    order_flag,
    order_lock,
    order_publish,
)
from orders.fulfilment import delivery
from orders.fulfilment.routing import destination_of, fulfilment_publish
from orders.models import Carrier, Fulfilment, Order, OrderLine, TrackingEvent
from orders.models.fulfilments import OPEN_STATES

FULFILMENT_SHIPPED = "fulfilment.shipped"
FULFILMENT_DELIVERED = "fulfilment.delivered"
FULFILMENT_DELAYED = "fulfilment.delayed"
PICKUP_READY = "pickup.ready"
PICKUP_COLLECTED = "pickup.collected"
PICKUP_UNCOLLECTED = "pickup.uncollected"

F = Fulfilment.State
K = Fulfilment.Kind
SHIPPABLE_ORDER = {Order.Status.UNFULFILLED, Order.Status.PARTIALLY_FULFILLED}
# Staff steps before the goods leave; shipping, readiness and hand-over have their own services.
PREPARE = {
    F.PENDING: {F.PICKING, F.PACKED},
    F.PICKING: {F.PACKED},
}


class InvalidFulfilmentState(Conflict):
    code = "invalid_fulfilment_state"
    title = gettext_lazy("The fulfilment cannot do that now")


def _refuse(fulfilment: Fulfilment, action: str) -> InvalidFulfilmentState:
    return InvalidFulfilmentState(
        _("Fulfilment %(number)s is %(state)s; it cannot be %(action)s.")
        % {"number": fulfilment.number, "state": fulfilment.get_state_display(), "action": action},
        state=fulfilment.state,
    )


def fulfilment_lock(fulfilment: Fulfilment) -> tuple[Order, Fulfilment]:
    order = order_lock(fulfilment.order)
    locked = (
        Fulfilment.objects.select_for_update(of=("self",))
        .select_related("location", "carrier")
        .get(pk=fulfilment.pk)
    )
    locked.order = order
    return order, locked


def _stock_quantities(fulfilment: Fulfilment) -> dict[int, int]:
    """Stocked variant -> units for a fulfilment's lines (a bundle ships as its components)."""
    lines = list(fulfilment.lines.select_related("order_line"))
    parts = bundle_components({line.order_line.variant_id for line in lines})
    quantities: dict[int, int] = defaultdict(int)
    for line in lines:
        variant_id = line.order_line.variant_id
        for component_id, each in parts.get(variant_id) or [(variant_id, 1)]:
            quantities[component_id] += line.quantity * each
    return dict(quantities)


def _check_order_allows_dispatch(order: Order) -> None:
    if order.status not in SHIPPABLE_ORDER:
        message = {
            Order.Status.UNCONFIRMED: _("Confirm the order (payment received) before it leaves."),
            Order.Status.ON_HOLD: _("The order is on hold; release it first."),
            Order.Status.CANCELLED: _("The order is cancelled."),
        }.get(order.status, _("The order is already fulfilled."))
        raise InvalidOrderTransition(message, status=order.status)


def _goods_leave(order: Order, fulfilment: Fulfilment, *, actor: AbstractBaseUser | None) -> None:
    """On-hand goes down by the fulfilment's allocation at its location, the order's lines
    count as fulfilled, and the order becomes partially fulfilled or fulfilled."""
    inventory.stock_ship(
        reference=order.reference,
        quantities=_stock_quantities(fulfilment),
        location_id=fulfilment.location_id,
        actor=actor,
    )
    shipped = {line.order_line_id: line.quantity for line in fulfilment.lines.all()}
    lines = list(OrderLine.objects.select_for_update().filter(order=order))
    for line in lines:
        if line.pk in shipped:
            line.quantity_fulfilled = min(line.quantity, line.quantity_fulfilled + shipped[line.pk])
    OrderLine.objects.bulk_update(lines, ["quantity_fulfilled"])
    done = all(line.quantity_fulfilled >= line.quantity for line in lines)
    status = Order.Status.FULFILLED if done else Order.Status.PARTIALLY_FULFILLED
    if status != order.status:
        order.status = status
        order.save(update_fields=["status", "updated_at"])
        order_publish(order, ORDER_UPDATED, change=status, fulfilment=fulfilment.number)


def fulfilment_get(*, number: str) -> Fulfilment:
    fulfilment = (
        Fulfilment.objects.select_related("order", "location").filter(number=number).first()
    )
    if fulfilment is None:
        raise NotFound(_("There is no fulfilment %(number)s.") % {"number": number})
    return fulfilment


@transaction.atomic
def fulfilment_prepare(
    fulfilment: Fulfilment, *, state: str, actor: AbstractBaseUser | None = None
) -> Fulfilment:
    """Warehouse or store staff: picking started, or packed."""
    order, fulfilment = fulfilment_lock(fulfilment)
    if state not in PREPARE.get(fulfilment.state, set()):
        raise _refuse(fulfilment, Fulfilment.State(state).label.lower())
    fulfilment.state = state
    fulfilment.save(update_fields=["state", "updated_at"])
    history_add(
        order,
        f"fulfilment_{state}",
        _("%(number)s: %(state)s.")
        % {"number": fulfilment.number, "state": fulfilment.get_state_display()},
        actor=actor,
    )
    return fulfilment


def _carrier(code: str | Carrier | None) -> Carrier | None:
    if code is None or isinstance(code, Carrier):
        return code
    code = code.strip()
    if not code:
        return None
    carrier = Carrier.objects.filter(code=code).first()
    if carrier is None:
        raise ValidationFailed({"carrier": [_("There is no carrier %(code)s.") % {"code": code}]})
    return carrier


@transaction.atomic
def fulfilment_ship(
    fulfilment: Fulfilment,
    *,
    carrier: str | Carrier | None = None,
    tracking_number: str = "",
    tracking_url: str = "",
    actor: AbstractBaseUser | None = None,
    source: str = "",
) -> Fulfilment:
    """The parcel left: on-hand goes down at the location (the ledger's `shipment`), the
    order's state follows, `fulfilment.shipped` is published. Shipping twice is refused."""
    order, fulfilment = fulfilment_lock(fulfilment)
    if fulfilment.kind != K.SHIPMENT:
        raise _refuse(fulfilment, _("shipped (it is handed over in store)"))
    if fulfilment.state not in (F.PENDING, F.PICKING, F.PACKED):
        raise _refuse(fulfilment, _("shipped"))
    _check_order_allows_dispatch(order)
    chosen = _carrier(carrier) or fulfilment.carrier
    tracking_number = (tracking_number or "").strip()[:100]
    _goods_leave(order, fulfilment, actor=actor)
    fulfilment.state = F.SHIPPED
    fulfilment.shipped_at = timezone.now()
    fulfilment.carrier = chosen
    fulfilment.tracking_number = tracking_number
    fulfilment.tracking_url = (tracking_url or "").strip()[:500] or (
        chosen.tracking_url(tracking_number) if chosen else ""
    )
    fulfilment.save(
        update_fields=[
            "state",
            "shipped_at",
            "carrier",
            "tracking_number",
            "tracking_url",
            "updated_at",
        ]
    )
    history_add(
        order,
        "fulfilment_shipped",
        _("%(number)s shipped from %(location)s%(tracking)s.")
        % {
            "number": fulfilment.number,
            "location": fulfilment.location.code,
            "tracking": f" ({chosen.name if chosen else ''} {tracking_number})".replace("( ", "(")
            if tracking_number
            else "",
        },
        actor=actor,
        source=source,
    )
    fulfilment_publish(fulfilment, FULFILMENT_SHIPPED, shipped_at=fulfilment.shipped_at)
    return fulfilment


def _delivered(order: Order, fulfilment: Fulfilment, at: datetime, *, actor, source: str) -> None:
    fulfilment.state = F.DELIVERED
    fulfilment.delivered_at = at
    fulfilment.save(update_fields=["state", "delivered_at", "updated_at"])
    history_add(
        order,
        "fulfilment_delivered",
        _("%(number)s delivered.") % {"number": fulfilment.number},
        actor=actor,
        source=source,
    )
    fulfilment_publish(fulfilment, FULFILMENT_DELIVERED, delivered_at=at)


@transaction.atomic
def fulfilment_deliver(
    fulfilment: Fulfilment,
    *,
    at: datetime | None = None,
    actor: AbstractBaseUser | None = None,
    source: str = "",
) -> Fulfilment:
    """The carrier delivered it. Delivered again changes nothing (carriers repeat themselves)."""
    order, fulfilment = fulfilment_lock(fulfilment)
    if fulfilment.state == F.DELIVERED:
        return fulfilment
    if fulfilment.state != F.SHIPPED:
        raise _refuse(fulfilment, _("delivered before it shipped"))
    # A carrier's clock (or a scan keyed in late) may say it arrived before we shipped it.
    at = max(at or timezone.now(), fulfilment.shipped_at or at or timezone.now())
    _delivered(order, fulfilment, at, actor=actor, source=source)
    return fulfilment


@transaction.atomic
def fulfilment_ready(
    fulfilment: Fulfilment, *, actor: AbstractBaseUser | None = None
) -> Fulfilment:
    """Store staff put the pickup order on the shelf: the customer is told (`pickup.ready`,
    with the code to show at the counter)."""
    order, fulfilment = fulfilment_lock(fulfilment)
    if fulfilment.kind != K.PICKUP:
        raise _refuse(fulfilment, _("made ready for pickup (it is not a pickup)"))
    if fulfilment.state not in (F.PENDING, F.PICKING, F.PACKED):
        raise _refuse(fulfilment, _("made ready for pickup"))
    _check_order_allows_dispatch(order)
    fulfilment.state = F.READY
    fulfilment.ready_at = timezone.now()
    fulfilment.save(update_fields=["state", "ready_at", "updated_at"])
    history_add(
        order,
        "pickup_ready",
        _("%(number)s ready for pickup at %(store)s.")
        % {"number": fulfilment.number, "store": fulfilment.location.name},
        actor=actor,
    )
    fulfilment_publish(
        fulfilment,
        PICKUP_READY,
        ready_at=fulfilment.ready_at,
        collect_by=fulfilment.ready_at + timedelta(days=settings.ORDERS_PICKUP_COLLECT_DAYS),
    )
    return fulfilment


@transaction.atomic
def fulfilment_collect(
    fulfilment: Fulfilment, *, code: str, actor: AbstractBaseUser | None = None
) -> Fulfilment:
    """Hand a pickup order over against its pickup code: the goods leave the store's stock, the
    order is fulfilled, `pickup.collected` (and `fulfilment.delivered`) are published."""
    order, fulfilment = fulfilment_lock(fulfilment)
    if fulfilment.kind != K.PICKUP:
        raise _refuse(fulfilment, _("collected (it is not a pickup)"))
    if fulfilment.state != F.READY:
        raise _refuse(fulfilment, _("collected"))
    if (code or "").strip() != fulfilment.pickup_code:
        raise ValidationFailed({"pickup_code": [_("The pickup code does not match.")]})
    _check_order_allows_dispatch(order)
    _goods_leave(order, fulfilment, actor=actor)
    now = timezone.now()
    fulfilment_publish(fulfilment, PICKUP_COLLECTED, collected_at=now)
    _delivered(order, fulfilment, now, actor=actor, source="pickup")
    return fulfilment


@transaction.atomic
def fulfilment_hand_over(
    fulfilment: Fulfilment, *, actor: AbstractBaseUser | None = None
) -> Fulfilment:
    """A sale at the till: the customer walks out with the goods."""
    order, fulfilment = fulfilment_lock(fulfilment)
    if fulfilment.kind != K.IN_STORE:
        raise _refuse(fulfilment, _("handed over at the till"))
    if fulfilment.state not in (F.PENDING, F.PICKING, F.PACKED):
        raise _refuse(fulfilment, _("handed over"))
    _check_order_allows_dispatch(order)
    _goods_leave(order, fulfilment, actor=actor)
    _delivered(order, fulfilment, timezone.now(), actor=actor, source="pos")
    return fulfilment


@transaction.atomic
def fulfilment_reroute(
    fulfilment: Fulfilment,
    *,
    location: StockLocation | str,
    reason: str = "",
    actor: AbstractBaseUser | None = None,
) -> Fulfilment:
    """Send a fulfilment that has not shipped from another location: its allocation moves
    there through the ledger (released here, allocated there), or nothing changes (409 when
    the new location lacks the stock)."""
    order, fulfilment = fulfilment_lock(fulfilment)
    if fulfilment.kind != K.SHIPMENT:
        raise _refuse(fulfilment, _("re-routed (the buyer chose where to collect it)"))
    if fulfilment.state not in (F.PENDING, F.PICKING, F.PACKED):
        raise _refuse(fulfilment, _("re-routed"))
    if isinstance(location, str):
        target = location_by_code(location)
        if target is None:
            raise ValidationFailed(
                {"location": [_("There is no location %(code)s.") % {"code": location}]}
            )
    else:
        target = location
    if target.pk == fulfilment.location_id:
        raise ValidationFailed({"location": [_("The fulfilment is already there.")]})
    if not (target.is_active and target.channels.filter(pk=order.channel_id).exists()):
        raise ValidationFailed(
            {"location": [_("%(code)s does not serve this channel.") % {"code": target.code}]}
        )
    if not target.ships_to_customers:
        raise ValidationFailed(
            {
                "location": [
                    _("%(code)s does not ship to customers (ship-from-store is off).")
                    % {"code": target.code}
                ]
            }
        )
    before = fulfilment.location
    inventory.stock_reallocate(
        reference=order.reference,
        from_location_id=before.pk,
        to_location_id=target.pk,
        quantities=_stock_quantities(fulfilment),
        actor=actor,
        note=(reason or _("re-routed"))[:250],
    )
    now = timezone.now()
    why = _("Re-routed by staff from %(before)s%(reason)s.") % {
        "before": before.code,
        "reason": f": {reason.strip()}" if reason.strip() else "",
    }
    fulfilment.location = target
    fulfilment.state = F.PENDING
    fulfilment.routing_reason = why[:500]
    fulfilment.ship_by = delivery.ship_by(target, now=now)
    fulfilment.estimated_delivery = delivery.estimated_delivery(
        target, order.shipping_method, destination_of(order), now=now
    )
    fulfilment.delayed_at = None
    fulfilment.save(
        update_fields=[
            "location",
            "state",
            "routing_reason",
            "ship_by",
            "estimated_delivery",
            "delayed_at",
            "updated_at",
        ]
    )
    order.routing = [
        *order.routing,
        {
            "at": now.isoformat(),
            "rerouted": fulfilment.number,
            "from": before.code,
            "to": target.code,
            "reason": reason.strip(),
            "by": getattr(actor, "username", "") or "",
        },
    ]
    order.save(update_fields=["routing", "updated_at"])
    history_add(
        order,
        "rerouted",
        _("%(number)s re-routed from %(before)s to %(after)s.")
        % {"number": fulfilment.number, "before": before.code, "after": target.code},
        actor=actor,
        reason=reason,
    )
    order_publish(order, ORDER_UPDATED, change="rerouted", fulfilment=fulfilment.number)
    return fulfilment


@dataclass(frozen=True)
class TrackingUpdate:
    tracking_number: str
    status: str
    occurred_at: datetime
    carrier: str = ""
    description: str = ""
    place: str = ""


def tracking_record(
    update: TrackingUpdate, *, source: str = "", actor: AbstractBaseUser | None = None
) -> tuple[TrackingEvent, bool]:
    """A carrier's or 3PL's status report for a parcel, found by tracking number (and carrier,
    when given). Stored once however often it is sent; `delivered` delivers the fulfilment.
    Returns the event and whether it was new."""
    errors: dict[str, list[str]] = {}
    number = (update.tracking_number or "").strip()
    if not number:
        errors["tracking_number"] = [_("Give the tracking number.")]
    if update.status not in TrackingEvent.Status.values:
        errors["status"] = [
            _("Unknown status %(status)s; use one of %(choices)s.")
            % {"status": update.status, "choices": ", ".join(TrackingEvent.Status.values)}
        ]
    if errors:
        raise ValidationFailed(errors)
    candidates = Fulfilment.objects.filter(tracking_number=number)
    if update.carrier:
        candidates = candidates.filter(carrier__code=update.carrier.strip())
    found = list(candidates.order_by("-id")[:2])
    if not found:
        raise NotFound(
            _("No shipped parcel has tracking number %(number)s.") % {"number": number},
            tracking_number=number,
        )
    if len(found) > 1:
        raise ValidationFailed(
            {"carrier": [_("Several parcels have this tracking number; name the carrier.")]}
        )
    fulfilment = found[0]
    with transaction.atomic():
        event, created = TrackingEvent.objects.get_or_create(
            fulfilment=fulfilment,
            status=update.status,
            occurred_at=update.occurred_at,
            defaults={
                "description": (update.description or "")[:250],
                "place": (update.place or "")[:100],
                "source": source[:100],
            },
        )
        if update.status == TrackingEvent.Status.DELIVERED and fulfilment.state == F.SHIPPED:
            fulfilment_deliver(fulfilment, at=update.occurred_at, actor=actor, source=source)
    return event, created


def fulfilments_detect_delays(*, now: datetime | None = None, batch: int = 500) -> int:
    """Publish `fulfilment.delayed` for each fulfilment past its promised dispatch without
    having left (or been made ready for pickup), and for each parcel still in transit after its
    estimated delivery day (`in_transit: true`): once each, however often this runs and even
    with two runs at once (the rows are claimed with a lock that skips what another holds)."""
    now = now or timezone.now()
    return _detect_late_dispatch(now, batch) + _detect_late_in_transit(now, batch)


def _detect_late_in_transit(now: datetime, batch: int) -> int:
    today = timezone.localdate(now, timezone=ZoneInfo(settings.TIME_ZONE))

    def announce(fulfilment: Fulfilment) -> None:
        fulfilment_publish(
            fulfilment,
            FULFILMENT_DELAYED,
            in_transit=True,
            late_by_days=(today - fulfilment.estimated_delivery).days,
        )
        history_add(
            fulfilment.order,
            "fulfilment_delayed",
            _("%(number)s is still in transit after its estimated delivery (%(day)s).")
            % {"number": fulfilment.number, "day": fulfilment.estimated_delivery.isoformat()},
        )

    late = Fulfilment.objects.filter(
        state=F.SHIPPED, delayed_at__isnull=True, estimated_delivery__lt=today
    ).order_by("estimated_delivery", "pk")
    return _claim_late(late, announce, now, batch)


def _detect_late_dispatch(now: datetime, batch: int) -> int:
    def announce(fulfilment: Fulfilment) -> None:
        fulfilment_publish(
            fulfilment,
            FULFILMENT_DELAYED,
            late_by_hours=round((now - fulfilment.ship_by).total_seconds() / 3600, 1),
        )
        history_add(
            fulfilment.order,
            "fulfilment_delayed",
            _("%(number)s missed its promised dispatch (%(when)s).")
            % {"number": fulfilment.number, "when": fulfilment.ship_by.isoformat()},
        )

    late = Fulfilment.objects.filter(
        state__in=[F.PENDING, F.PICKING, F.PACKED], delayed_at__isnull=True, ship_by__lt=now
    ).order_by("ship_by")
    return _claim_late(late, announce, now, batch)


def _claim_late(late, announce, now: datetime, batch: int) -> int:
    """Mark `late` fulfilments delayed and announce each, a batch per transaction; rows another
    run holds are skipped, so each is announced once."""
    total = 0
    while True:
        with transaction.atomic():
            claimed = list(
                late.select_for_update(skip_locked=True, of=("self",)).select_related(
                    "order__channel", "location", "carrier"
                )[:batch]
            )
            if not claimed:
                return total
            Fulfilment.objects.filter(pk__in=[f.pk for f in claimed]).update(delayed_at=now)
            for fulfilment in claimed:
                fulfilment.delayed_at = now
                announce(fulfilment)
            total += len(claimed)


def pickups_flag_uncollected(*, now: datetime | None = None, days: int | None = None) -> int:
    """Orders waiting at a store longer than ORDERS_PICKUP_COLLECT_DAYS are flagged for
    follow-up (staff may cancel them, which puts the goods back into stock) and
    `pickup.uncollected` is published, once each."""
    now = now or timezone.now()
    days = settings.ORDERS_PICKUP_COLLECT_DAYS if days is None else days
    flagged = 0
    waiting = Fulfilment.objects.filter(
        state=F.READY, uncollected_at__isnull=True, ready_at__lt=now - timedelta(days=days)
    ).values_list("pk", flat=True)
    for pk in list(waiting[:1000]):
        with transaction.atomic():
            claimed = Fulfilment.objects.filter(pk=pk, uncollected_at__isnull=True).update(
                uncollected_at=now
            )
            if not claimed:
                continue
            fulfilment = Fulfilment.objects.select_related("order__channel", "location").get(pk=pk)
            order_flag(
                fulfilment.order,
                reason=_("Not collected from %(store)s within %(days)s days (%(number)s).")
                % {"store": fulfilment.location.name, "days": days, "number": fulfilment.number},
            )
            fulfilment_publish(fulfilment, PICKUP_UNCOLLECTED, ready_at=fulfilment.ready_at)
            flagged += 1
    return flagged


def tracking_for(order: Order) -> list[dict[str, Any]]:
    """What a customer sees about the order's parcels (the storefront's tracking)."""
    result = []
    for fulfilment in (
        order.fulfilments.select_related("location", "carrier")
        .prefetch_related("lines__order_line", "tracking_events")
        .order_by("id")
    ):
        result.append(
            {
                "number": fulfilment.number,
                "kind": fulfilment.kind,
                "state": fulfilment.state,
                "state_display": fulfilment.get_state_display(),
                "location": fulfilment.location.name,
                "carrier": fulfilment.carrier.name if fulfilment.carrier_id else "",
                "tracking_number": fulfilment.tracking_number,
                "tracking_url": fulfilment.tracking_url,
                "estimated_delivery": fulfilment.estimated_delivery,
                "shipped_at": fulfilment.shipped_at,
                "delivered_at": fulfilment.delivered_at,
                "ready_at": fulfilment.ready_at,
                "pickup_code": fulfilment.pickup_code
                if fulfilment.state not in (F.DELIVERED, F.CANCELLED)
                else "",
                "lines": [
                    {
                        "sku": line.order_line.sku,
                        "name": line.order_line.product_name,
                        "quantity": line.quantity,
                    }
                    for line in fulfilment.lines.all()
                ],
                "events": [
                    {
                        "status": event.status,
                        "description": event.description,
                        "place": event.place,
                        "occurred_at": event.occurred_at,
                    }
                    for event in fulfilment.tracking_events.all()
                ],
            }
        )
    return result


def fulfilments_cancel_open(order: Order) -> int:
    """Close the order's fulfilments that have not left (it is cancelled, or edited and routed
    again); the caller releases the allocation, in its transaction."""
    now = timezone.now()
    return Fulfilment.objects.filter(order=order, state__in=OPEN_STATES).update(
        state=Fulfilment.State.CANCELLED, cancelled_at=now, updated_at=now
    )
