"""Editing an order before it ships: quantities, lines, the delivery address.

Two steps. First, in one transaction: lines re-priced (kept lines keep the price they were sold
at, their discount scaled with the quantity; added lines take today's channel price), the
allocation re-made through the ledger (all or nothing: a short SKU is a 409 and nothing
changes), totals recomputed by the pricing service, the change kept in the order's history and
`order.updated` published. Then, with no stock row locked, the payment follows the new total:
a partial refund when it went down, an extra card charge when it went up (cash on delivery and
transfers just change the amount due). A declined extra charge leaves the edit in place, the
order flagged with the reason, and raises `PaymentDeclined` so staff see it.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.selectors import variant_by_sku
from commerce.errors import Conflict, ValidationFailed
from commerce.money import currency_exponent
from inventory import services as inventory
from orders import pricing
from orders.carts.services import _clean_address
from orders.core.records import (
    ORDER_UPDATED,
    history_add,
    order_lock,
    order_publish,
)
from orders.fulfilment.routing import order_route
from orders.fulfilment.services import fulfilments_cancel_open
from orders.models import Order, OrderLine, Payment, PaymentMethod
from orders.payments.services import (
    PaymentDeclined,
    payment_authorize,
    payment_refund,
    payments_refresh,
)
from orders.pricing.quotes import lines_for

EDITABLE = {Order.Status.UNCONFIRMED, Order.Status.UNFULFILLED, Order.Status.ON_HOLD}


def _line_summary(lines) -> list[dict[str, Any]]:
    return [{"sku": line.sku, "quantity": line.quantity, "amount": line.amount} for line in lines]


def order_edit(
    order: Order,
    *,
    quantities: dict[int, int] | None = None,
    add: list[tuple[str, int]] | None = None,
    shipping_address: dict[str, Any] | None = None,
    reason: str = "",
    actor: AbstractBaseUser | None = None,
) -> Order:
    """`quantities`: order line id → new quantity (0 removes the line); `add`: (SKU, quantity)
    pairs (a SKU already on the order adds to its line); `shipping_address`: a new address."""
    quantities, add = quantities or {}, add or []
    with transaction.atomic():
        order = order_lock(order)
        if order.status not in EDITABLE:
            raise Conflict(
                _("An order that is %(status)s cannot be edited.")
                % {"status": order.get_status_display()},
                status=order.status,
            )
        lines = list(order.lines.order_by("id"))
        if any(line.quantity_fulfilled for line in lines):
            raise Conflict(_("Part of this order has shipped; it can no longer be edited."))
        unknown = set(quantities) - {line.pk for line in lines}
        if unknown:
            raise ValidationFailed(
                {"quantities": [_("Not a line of this order: %(ids)s") % {"ids": sorted(unknown)}]}
            )
        if any(q < 0 for q in quantities.values()) or any(q < 1 for _sku, q in add):
            raise ValidationFailed({"quantities": [_("Quantities must be positive.")]})
        unit = Decimal(1).scaleb(-currency_exponent(order.currency))
        before = _line_summary(lines)
        before_total = order.total

        by_sku = {line.sku: line for line in lines}
        wanted: dict[int, int] = {line.pk: quantities.get(line.pk, line.quantity) for line in lines}
        new_lines: list[OrderLine] = []
        for sku, quantity in add:
            if sku in by_sku:
                wanted[by_sku[sku].pk] += quantity
                continue
            variant = variant_by_sku(sku)
            if variant is None:
                raise ValidationFailed({"add": [_("There is no SKU %(sku)s.") % {"sku": sku}]})
            (priced,) = lines_for(order.channel, [(variant.pk, quantity)], now=timezone.now())
            if priced.unit_price is None:
                raise ValidationFailed(
                    {"add": [_("SKU %(sku)s is not sold in this channel.") % {"sku": sku}]}
                )
            new_lines.append(
                OrderLine(
                    order=order,
                    variant=variant,
                    sku=sku,
                    product_name=priced.product_name,
                    variant_name=priced.variant_name,
                    tax_class=priced.tax_class,
                    quantity=quantity,
                    unit_price=priced.unit_price,
                    discount=Decimal(0),
                )
            )
            by_sku[sku] = new_lines[-1]
        for line in lines:
            quantity = wanted[line.pk]
            if quantity and quantity != line.quantity:
                line.discount = (line.discount * quantity / line.quantity).quantize(
                    unit, rounding=ROUND_HALF_UP
                )
            line.quantity = quantity
        kept = [line for line in lines if line.quantity > 0] + new_lines
        if not kept:
            raise ValidationFailed({"quantities": [_("An order needs a line; cancel it instead.")]})

        if shipping_address is not None:
            if order.pickup_location_id:
                raise ValidationFailed(
                    {"shipping_address": [_("A pickup order has no delivery address.")]}
                )
            order.shipping_address = _clean_address(shipping_address, "shipping_address")
        if order.pickup_location_id:
            where = order.pickup_location
            destination = pricing.Destination(where.country, where.region)
        else:
            address = order.shipping_address or {}
            destination = pricing.Destination(address.get("country", ""), address.get("region", ""))
        line_discounts_before = sum((line.discount for line in before_lines(order)), Decimal(0))
        shipping_discount = order.discount_total - line_discounts_before
        quote = pricing.quote(
            channel=order.channel,
            items=[
                pricing.Item(
                    line.sku, line.quantity, line.unit_price, line.tax_class, line.discount
                )
                for line in kept
            ],
            destination=destination,
            shipping=order.shipping_total,
        )
        for line, priced in zip(kept, quote.lines, strict=True):
            line.discount, line.amount = priced.discount, priced.amount
            line.tax_rate, line.tax = priced.tax_rate, priced.tax

        OrderLine.objects.filter(pk__in=[line.pk for line in lines if line.quantity == 0]).delete()
        for line in lines:
            if line.quantity:
                line.save(update_fields=["quantity", "discount", "amount", "tax_rate", "tax"])
        OrderLine.objects.bulk_create(new_lines)
        # The lines changed: the allocation and the parcels are made again from scratch.
        fulfilments_cancel_open(order)
        inventory.stock_release(reference=order.reference, actor=actor, note=_("order edited"))
        order_route(order, actor=actor)
        order.subtotal = quote.subtotal
        order.discount_total = shipping_discount + sum((line.discount for line in kept), Decimal(0))
        order.tax_total, order.total = quote.tax, quote.total
        order.tax_bands = [
            {"rate": b.rate, "net": b.net, "tax": b.tax, "gross": b.gross} for b in quote.bands
        ]
        order.save(
            update_fields=[
                "subtotal",
                "discount_total",
                "tax_total",
                "total",
                "tax_bands",
                "shipping_address",
                "updated_at",
            ]
        )
        after = _line_summary(kept)
        history_add(
            order,
            "edited",
            _("Order edited: total %(before)s → %(after)s %(currency)s. %(reason)s")
            % {
                "before": before_total,
                "after": order.total,
                "currency": order.currency,
                "reason": reason,
            },
            actor=actor,
            before=before,
            after=after,
            address_changed=shipping_address is not None,
        )
        payments_refresh(order, announce=False)
        order_publish(
            order,
            ORDER_UPDATED,
            change="edited",
            before_total=before_total,
            lines_before=before,
        )
    _settle_difference(order, actor=actor)
    return Order.objects.get(pk=order.pk)


def before_lines(order: Order) -> list[OrderLine]:
    """The lines as stored (the edit's in-memory lines are not saved yet)."""
    return list(OrderLine.objects.filter(order=order))


def _settle_difference(order: Order, *, actor: AbstractBaseUser | None) -> None:
    """Make the payment follow the edited total (see the module's docstring)."""
    order = Order.objects.get(pk=order.pk)
    if order.payment_method != PaymentMethod.CARD:
        return
    net_paid = order.paid_total - order.refunded_total
    if order.paid_total > 0 and net_paid > order.total:
        payment_refund(order, amount=net_paid - order.total, reason=_("Order edited"), actor=actor)
        return
    covered = net_paid + order.authorized_total
    if covered >= order.total:
        return
    first = order.payments.filter(method=PaymentMethod.CARD).order_by("id").first()
    extra = Payment.objects.create(
        order=order,
        cart=order.cart,
        method=PaymentMethod.CARD,
        gateway=first.gateway if first else settings.ORDERS_GATEWAY,
        idempotency_key=uuid.uuid4().hex,
        token=first.token if first else "",
        currency=order.currency,
        amount=order.total - covered,
        status=Payment.Status.PENDING,
    )
    extra = payment_authorize(
        extra, capture=order.paid_total > 0 or settings.ORDERS_CARD_CAPTURE == "capture"
    )
    if extra.status == Payment.Status.DECLINED:
        with transaction.atomic():
            order = order_lock(order)
            reason = _("Extra charge of %(amount)s declined: %(error)s") % {
                "amount": extra.amount,
                "error": extra.error,
            }
            order.flagged, order.flag_reason = True, reason[:250]
            order.save(update_fields=["flagged", "flag_reason", "updated_at"])
            history_add(order, "charge_declined", reason, actor=actor)
        raise PaymentDeclined(reason, order=order.number)
    history_add(
        order,
        "charged",
        _("Extra charge of %(amount)s %(currency)s for the edit.")
        % {"amount": extra.amount, "currency": order.currency},
        actor=actor,
    )
