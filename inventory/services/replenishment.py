"""Replenishment: which variants to reorder where, how many, from whom, and turning that into
draft purchase orders.

The numbers, per variant and location:

- demand (units) over the last `window_days`: units *shipped* in the window (ledger `shipment`
  movements, -on_hand_delta) plus units *still allocated* to orders whose allocation was made in
  the window (active order reservations). A unit ordered and shipped is counted once, when it
  ships; a unit ordered and not yet shipped is counted once, as an allocation; a partial
  shipment splits the reservation, so each part is in exactly one of the two. Allocations that
  were released (cancelled orders) are not demand, nor are transfers out (stock moving between
  our own locations) or adjustments.
- daily demand = demand / window_days (shown rounded to 0.001; the reorder point uses the exact
  fraction).
- reorder point = ceil(demand * lead time / window_days) + the stock row's safety stock: what
  sells while a new order is on its way, plus the cushion.
- available = on hand - allocated; on order = what is still open (ordered less received) on
  sent or partially received purchase orders to that location. Drafts do not count.
- a suggestion is made when available + on order ≤ reorder point (and the reorder point is
  above zero: a variant with no demand and no safety stock needs nothing).
- quantity = max(2 * reorder point - (available + on order), MOQ), rounded up to a whole
  multiple of the MOQ: it brings the projected level to twice the reorder point, i.e. one lead
  time of cover above it, in the cases the supplier sells.

The supplier is the variant's active supplier flagged as preferred (the cheapest when several
are, then by code); without a preferred one, the cheapest active one. A variant with no active
supplier is still suggested with `supplier=None`, a lead time of the default 7 days, an MOQ of 1
and no cost: it can be filled by a transfer, not by a purchase order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory.errors import InvalidStockOperation
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    Reservation,
    Stock,
    StockLocation,
    StockMovement,
    Supplier,
    SupplierItem,
)
from inventory.services.purchasing import purchase_order_create

DEFAULT_LEAD_TIME_DAYS: int = Supplier._meta.get_field("lead_time_days").default
DAILY_DEMAND_PLACES = Decimal("0.001")
OPEN_STATES = (PurchaseOrder.State.SENT, PurchaseOrder.State.PARTIALLY_RECEIVED)


@dataclass(frozen=True)
class Suggestion:
    """Reorder `quantity` units of `sku` for `location` (a code) from `supplier` (a code)."""

    variant_id: int
    sku: str
    location: str
    supplier: str | None
    available: int
    on_order: int
    daily_demand: Decimal
    reorder_point: int
    quantity: int
    unit_cost: Decimal | None


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def preferred_supplier_items(variant_ids: Iterable[int]) -> dict[int, SupplierItem]:
    """The supplier item to reorder each variant from, by the rule in the module docstring
    (one query). A variant with no active supplier is missing from the result."""
    chosen: dict[int, SupplierItem] = {}
    items = (
        SupplierItem.objects.filter(variant_id__in=list(variant_ids), supplier__is_active=True)
        .select_related("supplier")
        .order_by("variant_id", "-is_preferred", "cost", "supplier__code")
    )
    for item in items:
        chosen.setdefault(item.variant_id, item)
    return chosen


def _locations(location: StockLocation | None, path: str) -> Q:
    """The locations replenishment looks at, as a condition on the relation `path`."""
    if location is not None:
        return Q(**{path: location})
    return Q(**{f"{path}__is_active": True}) & ~Q(**{f"{path}__kind": StockLocation.Kind.DROPSHIP})


def replenishment_suggestions(
    *,
    location: StockLocation | None = None,
    window_days: int | None = None,
    now: datetime | None = None,
    variant_ids: Iterable[int] | None = None,
) -> list[Suggestion]:
    """What to reorder, at `location` or at every active location that holds stock (drop-ship
    locations excluded: their supplier holds the stock), judged on the demand of the
    `window_days` (default INVENTORY_DEMAND_WINDOW_DAYS) up to `now`; only for `variant_ids`
    when given. The rules are in the module docstring. Sorted by location code, then SKU.

    A read: locks nothing, writes nothing, publishes nothing. Five queries whatever the number
    of variants."""
    if window_days is None:
        window_days = settings.INVENTORY_DEMAND_WINDOW_DAYS
    if not isinstance(window_days, int) or window_days < 1:
        raise InvalidStockOperation({"window_days": [_("The window must be at least 1 day.")]})
    now = now or timezone.now()
    since = now - timedelta(days=window_days)
    locations = _locations(location, "location")
    if variant_ids is not None:
        variant_ids = list(variant_ids)
        locations &= Q(variant_id__in=variant_ids)

    stocks = list(
        Stock.objects.filter(locations)
        .select_related("variant", "location")
        .order_by("location__code", "variant__sku")
    )
    if not stocks:
        return []
    stock_rows = Stock.objects.filter(locations).values("pk")
    demand: dict[int, int] = defaultdict(int)
    shipped = (
        StockMovement.objects.filter(
            stock__in=stock_rows,
            reason=StockMovement.Reason.SHIPMENT,
            created_at__gt=since,
            created_at__lte=now,
        )
        .values_list("stock_id")
        .annotate(units=Sum("on_hand_delta"))
        .values_list("stock_id", "units")
    )
    for stock_id, units in shipped:
        demand[stock_id] -= units
    allocated = (
        Reservation.objects.filter(
            stock__in=stock_rows,
            kind=Reservation.Kind.ORDER,
            state=Reservation.State.ACTIVE,
            created_at__gt=since,
            created_at__lte=now,
        )
        .values_list("stock_id")
        .annotate(units=Sum("quantity"))
        .values_list("stock_id", "units")
    )
    for stock_id, units in allocated:
        demand[stock_id] += units
    open_lines = (
        PurchaseOrderLine.objects.filter(
            _locations(location, "purchase_order__location"),
            Q(variant_id__in=variant_ids) if variant_ids is not None else Q(),
            purchase_order__state__in=OPEN_STATES,
        )
        .values_list("variant_id", "purchase_order__location_id")
        .annotate(units=Sum(F("quantity") - F("received_quantity")))
        .values_list("variant_id", "purchase_order__location_id", "units")
    )
    on_order = {(variant_id, location_id): units for variant_id, location_id, units in open_lines}
    items = preferred_supplier_items({stock.variant_id for stock in stocks})

    suggestions = []
    for stock in stocks:
        item = items.get(stock.variant_id)
        lead_time = item.supplier.lead_time_days if item else DEFAULT_LEAD_TIME_DAYS
        minimum = max(item.minimum_order_quantity, 1) if item else 1
        units = max(demand.get(stock.pk, 0), 0)
        reorder_point = _ceil_div(units * lead_time, window_days) + stock.safety_stock
        if reorder_point <= 0:
            continue
        free = stock.on_hand - stock.allocated
        coming = on_order.get((stock.variant_id, stock.location_id), 0)
        projected = free + coming
        if projected > reorder_point:
            continue
        quantity = max(2 * reorder_point - projected, minimum)
        suggestions.append(
            Suggestion(
                variant_id=stock.variant_id,
                sku=stock.variant.sku,
                location=stock.location.code,
                supplier=item.supplier.code if item else None,
                available=free,
                on_order=coming,
                daily_demand=(Decimal(units) / Decimal(window_days)).quantize(
                    DAILY_DEMAND_PLACES, rounding=ROUND_HALF_UP
                ),
                reorder_point=reorder_point,
                quantity=_ceil_div(quantity, minimum) * minimum,
                unit_cost=item.cost if item else None,
            )
        )
    return suggestions


@transaction.atomic
def replenishment_create_purchase_orders(
    *, suggestions: Iterable[Suggestion]
) -> list[PurchaseOrder]:
    """Turn suggestions into draft purchase orders, one per (supplier, location), each line at
    the suggested quantity and the supplier's unit cost. Suggestions without a supplier are
    skipped (they are for a transfer or a buyer to decide). All orders or none: one transaction,
    and each order goes through `purchase_order_create` with its checks (MOQ, duplicate
    variants). Locks nothing; publishes nothing (the drafts still have to be sent). Returns the
    orders sorted by supplier code, then location code."""
    groups: dict[tuple[str, str], list[Suggestion]] = defaultdict(list)
    for suggestion in suggestions:
        if suggestion.supplier is not None:
            groups[(suggestion.supplier, suggestion.location)].append(suggestion)
    if not groups:
        return []
    suppliers = {s.code: s for s in Supplier.objects.filter(code__in={k[0] for k in groups})}
    locations = {
        loc.code: loc for loc in StockLocation.objects.filter(code__in={k[1] for k in groups})
    }
    missing = sorted({k[0] for k in groups} - set(suppliers))
    if missing:
        raise InvalidStockOperation(
            {"supplier": [_("No supplier %(code)s.") % {"code": code} for code in missing]}
        )
    missing = sorted({k[1] for k in groups} - set(locations))
    if missing:
        raise InvalidStockOperation(
            {"location": [_("No location %(code)s.") % {"code": code} for code in missing]}
        )
    orders = []
    for supplier_code, location_code in sorted(groups):
        orders.append(
            purchase_order_create(
                supplier=suppliers[supplier_code],
                location=locations[location_code],
                lines=[
                    (s.variant_id, s.quantity, s.unit_cost)
                    for s in groups[(supplier_code, location_code)]
                ],
                note=_("Suggested by replenishment."),
            )
        )
    return orders
