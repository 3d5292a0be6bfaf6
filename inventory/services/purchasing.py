"""Purchase orders: what we ask a supplier for, and the receipts that bring it into stock.

Every received unit enters the ledger as a `receipt` movement at the order's location with the
reference `PO-<id>`, so stock can always be traced back to the order it came in on.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import ProductVariant
from commerce import events
from inventory import events as inventory_events
from inventory.errors import InvalidStockOperation, InvalidTransition
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    StockLocation,
    StockMovement,
    Supplier,
    SupplierItem,
)
from inventory.services.ledger import (
    ensure_stock_rows,
    lock_stocks,
    move,
    refresh_signals,
    stock_transaction,
)

State = PurchaseOrder.State

# Which states each action may start from. Receiving decides its target from the lines.
TRANSITIONS: dict[str, set[str]] = {
    "send": {State.DRAFT},
    "receive": {State.SENT, State.PARTIALLY_RECEIVED},
    "cancel": {State.DRAFT, State.SENT},
}

PurchaseLine = tuple[int, int, Decimal | str | int | None]


def purchase_order_reference(purchase_order: PurchaseOrder) -> str:
    """The reference its ledger receipts carry."""
    return f"PO-{purchase_order.pk}"


def _lock(purchase_order: PurchaseOrder, action: str) -> PurchaseOrder:
    """Lock the order row and check that `action` is allowed from its state, read under the
    lock: two concurrent receipts or a receipt racing a cancel apply one after the other."""
    locked = (
        PurchaseOrder.objects.select_for_update(of=("self",))
        .select_related("supplier", "location")
        .get(pk=purchase_order.pk)
    )
    if locked.state not in TRANSITIONS[action]:
        raise InvalidTransition(
            _("Purchase order %(number)s cannot be %(action)s: its state is “%(state)s”.")
            % {
                "number": str(locked),
                "state": locked.get_state_display(),
                "action": {
                    "send": _("sent"),
                    "receive": _("received"),
                    "cancel": _("cancelled"),
                }[action],
            },
            field="state",
            state=locked.state,
        )
    return locked


def _cost(value: Decimal | str | int | None) -> Decimal | None:
    if value is None:
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        return Decimal(-1)
    return cost if cost.is_finite() else Decimal(-1)


@transaction.atomic
def purchase_order_create(
    *,
    supplier: Supplier,
    location: StockLocation,
    lines: Sequence[PurchaseLine],
    expected_at: datetime.date | None = None,
    note: str = "",
) -> PurchaseOrder:
    """Draft a purchase order to `supplier`, delivered to `location`.

    `lines` are (variant id, quantity, unit cost or None) triples. A missing cost is the
    supplier's cost for the variant (`SupplierItem.cost`); a variant the supplier does not list
    needs an explicit cost. A quantity below the supplier's minimum order quantity for the
    variant is refused. Refuses an inactive supplier, no lines, a quantity below 1, a negative
    cost, an unknown variant and a variant listed twice; every problem is reported at once,
    naming the line, and nothing is written unless all lines are valid. The order takes the
    supplier's currency. Locks nothing; publishes nothing (sending does)."""
    errors: dict[str, list[str]] = {}
    if not supplier.is_active:
        errors["supplier"] = [
            _("Supplier %(supplier)s is not active.") % {"supplier": supplier.code}
        ]
    if not lines:
        errors["lines"] = [_("A purchase order needs at least one line.")]
    variant_ids = {line[0] for line in lines}
    skus = dict(ProductVariant.objects.filter(pk__in=variant_ids).values_list("pk", "sku"))
    items = {
        item.variant_id: item
        for item in SupplierItem.objects.filter(supplier=supplier, variant_id__in=variant_ids)
    }
    line_errors = []
    rows = []
    seen: dict[int, int] = {}
    for number, (variant_id, quantity, given_cost) in enumerate(lines, start=1):
        sku = skus.get(variant_id)
        if sku is None:
            line_errors.append(
                _("Line %(number)s: there is no variant %(variant)s.")
                % {"number": number, "variant": variant_id}
            )
            continue
        context = {"number": number, "sku": sku, "supplier": supplier.code}
        if variant_id in seen:
            line_errors.append(
                _("Line %(number)s: SKU %(sku)s is already on line %(first)s.")
                % {**context, "first": seen[variant_id]}
            )
            continue
        seen[variant_id] = number
        item = items.get(variant_id)
        cost = _cost(given_cost)
        if cost is None and item is None:
            line_errors.append(
                _(
                    "Line %(number)s: supplier %(supplier)s does not supply SKU %(sku)s; "
                    "give a unit cost to order it anyway."
                )
                % context
            )
            continue
        if cost is not None and cost < 0:
            line_errors.append(
                _("Line %(number)s: the unit cost of SKU %(sku)s must be a number of 0 or more.")
                % context
            )
            continue
        if not isinstance(quantity, int) or quantity < 1:
            line_errors.append(
                _("Line %(number)s: the quantity of SKU %(sku)s must be at least 1.") % context
            )
            continue
        if item is not None and quantity < item.minimum_order_quantity:
            line_errors.append(
                _(
                    "Line %(number)s: supplier %(supplier)s sells SKU %(sku)s in at least "
                    "%(minimum)s units; %(quantity)s were ordered."
                )
                % {**context, "minimum": item.minimum_order_quantity, "quantity": quantity}
            )
            continue
        rows.append((variant_id, quantity, cost if cost is not None else item.cost))
    if line_errors:
        errors["lines"] = line_errors
    if errors:
        raise InvalidStockOperation(errors)
    purchase_order = PurchaseOrder.objects.create(
        supplier=supplier,
        location=location,
        currency=supplier.currency,
        expected_at=expected_at,
        note=note,
    )
    PurchaseOrderLine.objects.bulk_create(
        PurchaseOrderLine(
            purchase_order=purchase_order, variant_id=variant_id, quantity=quantity, unit_cost=cost
        )
        for variant_id, quantity, cost in rows
    )
    return purchase_order


@transaction.atomic
def purchase_order_send(*, purchase_order: PurchaseOrder) -> PurchaseOrder:
    """Send a draft order to its supplier (draft → sent) and stamp `sent_at`. From now on its
    open quantities count as stock on order for replenishment.

    Locks the order row (a second concurrent send is refused with `InvalidTransition`).
    Publishes `purchase_order.sent` with the lines' SKUs and quantities, which is what a
    consumer e-mailing or EDI-ing the supplier needs. Returns the order (a fresh instance)."""
    purchase_order = _lock(purchase_order, "send")
    purchase_order.state = State.SENT
    purchase_order.sent_at = timezone.now()
    purchase_order.save(update_fields=["state", "sent_at"])
    lines = purchase_order.lines.select_related("variant").order_by("variant_id")
    events.publish(
        type=inventory_events.PURCHASE_ORDER_SENT,
        subject_type="purchase_order",
        subject_id=purchase_order.pk,
        payload={
            "purchase_order_id": purchase_order.pk,
            "number": str(purchase_order),
            "supplier": purchase_order.supplier.code,
            "location": purchase_order.location.code,
            "lines": [{"sku": line.variant.sku, "quantity": line.quantity} for line in lines],
        },
    )
    return purchase_order


@stock_transaction
def purchase_order_receive(
    *,
    purchase_order: PurchaseOrder,
    received: Mapping[int, int],
    actor: AbstractBaseUser | None = None,
) -> PurchaseOrder:
    """Book goods delivered against a sent order: `received` maps variant ids to units counted
    in this delivery (one delivery may cover some lines, and a line may arrive over several).

    Locks the order row first (concurrent receipts of one order queue, so the open quantities
    they check are exact), then the location's stock rows in (variant, location) order,
    creating missing rows at zero. Refuses, naming the variant, a variant not on the order, a
    negative quantity and more than a line still awaits (ordered less received); nothing at all
    is booked when any line is wrong. Each unit is a `receipt` movement at the order's location
    with the reference `PO-<id>`. The order becomes `received` when every line is complete, else
    `partially_received`. Publishes threshold events and `purchase_order.received`. Returns the
    order (a fresh instance)."""
    purchase_order = _lock(purchase_order, "receive")
    lines = {
        line.variant_id: line
        for line in purchase_order.lines.select_related("variant").order_by("variant_id")
    }
    errors = []
    for variant_id, quantity in sorted(received.items()):
        line = lines.get(variant_id)
        if line is None:
            errors.append(
                _("Variant %(variant)s is not on purchase order %(number)s.")
                % {"variant": variant_id, "number": str(purchase_order)}
            )
            continue
        context = {"sku": line.variant.sku, "quantity": quantity}
        if not isinstance(quantity, int) or quantity < 0:
            errors.append(
                _("SKU %(sku)s: the quantity received must be 0 or more; got %(quantity)s.")
                % context
            )
            continue
        still_open = line.quantity - line.received_quantity
        if quantity > still_open:
            errors.append(
                _(
                    "SKU %(sku)s: only %(open)s of %(ordered)s are still to be received; "
                    "%(quantity)s were received."
                )
                % {**context, "open": still_open, "ordered": line.quantity}
            )
    if errors:
        raise InvalidStockOperation({"received": errors})
    receipts = {variant_id: q for variant_id, q in sorted(received.items()) if q > 0}
    if not receipts:
        raise InvalidStockOperation({"received": [_("Nothing to receive.")]})
    location_id = purchase_order.location_id
    ensure_stock_rows((variant_id, location_id) for variant_id in receipts)
    stocks = lock_stocks(variant_ids=receipts, location_ids=[location_id])
    reference = purchase_order_reference(purchase_order)
    for variant_id, quantity in receipts.items():
        move(
            stocks[(variant_id, location_id)],
            reason=StockMovement.Reason.RECEIPT,
            on_hand_delta=quantity,
            reference=reference,
            actor=actor,
        )
        line = lines[variant_id]
        line.received_quantity += quantity
        line.save(update_fields=["received_quantity"])
    complete = all(line.received_quantity == line.quantity for line in lines.values())
    purchase_order.state = State.RECEIVED if complete else State.PARTIALLY_RECEIVED
    purchase_order.save(update_fields=["state"])
    refresh_signals(stocks[(variant_id, location_id)] for variant_id in receipts)
    events.publish(
        type=inventory_events.PURCHASE_ORDER_RECEIVED,
        subject_type="purchase_order",
        subject_id=purchase_order.pk,
        payload={
            "purchase_order_id": purchase_order.pk,
            "number": str(purchase_order),
            "state": purchase_order.state,
            "location": purchase_order.location.code,
            "received": [
                {"sku": lines[variant_id].variant.sku, "quantity": quantity}
                for variant_id, quantity in receipts.items()
            ],
        },
    )
    return purchase_order


@transaction.atomic
def purchase_order_cancel(*, purchase_order: PurchaseOrder) -> PurchaseOrder:
    """Cancel an order nothing has been received against (draft or sent → cancelled); its
    quantities stop counting as on order. Once goods have arrived the order can only be
    received in full. Locks the order row; moves no stock; publishes nothing. Returns the
    order (a fresh instance)."""
    purchase_order = _lock(purchase_order, "cancel")
    purchase_order.state = State.CANCELLED
    purchase_order.save(update_fields=["state"])
    return purchase_order
