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
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import ProductVariant
from commerce import events
from inventory import events as inventory_events
from inventory.errors import InvalidStockOperation, InvalidTransition, NoSupplier
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

# Orders whose lines may still bring goods in: a variant with an open line on one of these is
# already being ordered (`purchase_order_draft_for`).
OPEN_FOR_DRAFTING = (State.DRAFT, State.SENT, State.PARTIALLY_RECEIVED)

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


def _receiving_location() -> StockLocation:
    """Where a purchase order drafted without a location is delivered: the first active
    warehouse by routing priority (then code), else the first active store; never a drop-ship
    location, whose stock the supplier holds."""
    location = (
        StockLocation.objects.filter(is_active=True)
        .exclude(kind=StockLocation.Kind.DROPSHIP)
        .order_by(
            Case(
                When(kind=StockLocation.Kind.WAREHOUSE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            "routing_priority",
            "code",
        )
        .first()
    )
    if location is None:
        raise InvalidStockOperation(
            {"location": [_("There is no active warehouse or store to deliver the order to.")]}
        )
    return location


@transaction.atomic
def purchase_order_draft_for(
    *, variant: ProductVariant, quantity: int | None = None, reference: str = ""
) -> tuple[PurchaseOrder, bool]:
    """Make sure `variant` is on a purchase order to its supplier, once: safe to call again
    (an automation rule reacting to every stock.low of the variant, a retried task).

    The supplier is the one replenishment orders from (`preferred_supplier_items`: the active
    preferred supplier, the cheapest when several are, then by code; else the cheapest active
    one); without one, `NoSupplier` (409). Then, in this order:

    1. an open order to that supplier (draft, sent or partially received) already has a line
       for the variant with units still to come: that order is returned with False, and
       nothing changes (not even the line's quantity);
    2. else the line is added to the supplier's oldest draft, preferring one delivered to the
       receiving location; returned with True;
    3. else a new draft to the supplier is created (`purchase_order_create`, with its checks),
       delivered to the receiving location (the first active warehouse by routing priority,
       else the first store), `reference` as its note; returned with True.

    `quantity` defaults to what replenishment suggests for the variant, summed over the
    locations that need it (`replenishment_suggestions`), and to the supplier's minimum order
    quantity when none does; it is a whole multiple of that minimum either way. A given
    quantity below 1 or below the minimum is refused under `quantity`, writing nothing. The
    line's cost is the supplier's.

    Locks the supplier row, then the draft it adds to. Publishes nothing and sends nothing to
    the supplier: the draft waits for `purchase_order_send`. Returns the order (a fresh
    instance) and whether this call added the line."""
    # Imported here: replenishment drafts its orders through this module.
    from inventory.services.replenishment import (
        preferred_supplier_items,
        replenishment_suggestions,
    )

    item = preferred_supplier_items([variant.pk]).get(variant.pk)
    if item is None:
        raise NoSupplier(
            _(
                "No active supplier sells SKU %(sku)s, so no purchase order can be drafted for "
                "it. Add it to a supplier's items first."
            )
            % {"sku": variant.sku},
            sku=variant.sku,
        )
    minimum = max(item.minimum_order_quantity, 1)
    if quantity is not None and (
        isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < minimum
    ):
        raise InvalidStockOperation(
            {
                "quantity": [
                    _(
                        "Supplier %(supplier)s sells SKU %(sku)s in at least %(minimum)s "
                        "units; %(quantity)s were asked for."
                    )
                    % {
                        "supplier": item.supplier.code,
                        "sku": variant.sku,
                        "minimum": minimum,
                        "quantity": quantity,
                    }
                ]
            }
        )

    # Why the supplier row: "is the variant already on an open order?" is read before the
    # line is written, and no unique constraint can refuse the second of two concurrent
    # writers (a line is unique per order, not per supplier and variant across orders). Two
    # concurrent calls would both read "no" and draft twice. Locking the supplier row makes
    # every call for that supplier wait for the one before it to commit and then read its
    # line; it also makes calls for two different variants share one new draft instead of
    # creating one each. Other writers lock purchase orders but never a supplier, and this
    # takes the supplier before any order, so the lock order cannot deadlock. NO KEY: the
    # lock conflicts with itself, not with the key-share lock another transaction's insert of
    # a purchase order (its foreign key) takes on the supplier.
    supplier = Supplier.objects.select_for_update(no_key=True).get(pk=item.supplier_id)

    existing = (
        PurchaseOrderLine.objects.filter(
            purchase_order__supplier=supplier,
            purchase_order__state__in=OPEN_FOR_DRAFTING,
            variant=variant,
            quantity__gt=F("received_quantity"),
        )
        .select_related("purchase_order")
        .order_by("purchase_order_id")
        .first()
    )
    if existing is not None:
        return existing.purchase_order, False

    if quantity is None:
        suggested = sum(
            suggestion.quantity
            for suggestion in replenishment_suggestions(variant_ids=[variant.pk])
            if suggestion.supplier == supplier.code
        )
        quantity = -(-max(suggested, minimum) // minimum) * minimum

    location = _receiving_location()
    # The draft row is locked too: `purchase_order_send` locks it to send it, so a line is
    # never added to an order that has just been sent without it. A draft sent meanwhile
    # drops out of the state filter here, and a new draft is made instead.
    draft = (
        PurchaseOrder.objects.select_for_update(of=("self",))
        .filter(supplier=supplier, state=State.DRAFT)
        .order_by(
            Case(
                When(location=location, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            "pk",
        )
        .first()
    )
    if draft is not None:
        PurchaseOrderLine.objects.create(
            purchase_order=draft, variant=variant, quantity=quantity, unit_cost=item.cost
        )
        return draft, True
    purchase_order = purchase_order_create(
        supplier=supplier,
        location=location,
        lines=[(variant.pk, quantity, None)],
        note=reference[:250],
    )
    return purchase_order, True
