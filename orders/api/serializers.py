"""Input serializers validate what callers may set; output is built from services' results.

Cart and order inputs name only the fields a buyer may set: prices, totals, status and the
customer are never read from a request (a write that sends them changes nothing)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from commerce.api.serializers import MAX_ID
from orders import selectors
from orders.carts.services import ADDRESS_FIELDS
from orders.models import (
    Cart,
    Fulfilment,
    Order,
    OrderHistory,
    PaymentMethod,
    TrackingEvent,
    Transaction,
)
from orders.pricing.quotes import CartQuote


def validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class AddressInputSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    first_name_reading = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name_reading = serializers.CharField(max_length=100, required=False, allow_blank=True)
    company = serializers.CharField(max_length=100, required=False, allow_blank=True)
    line1 = serializers.CharField(max_length=250)
    line2 = serializers.CharField(max_length=250, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(min_length=2, max_length=2)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(ADDRESS_FIELDS)
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("Unknown field.")] for name in sorted(unknown)}
                )
        return super().to_internal_value(data)


class CartCreateInputSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    language = serializers.CharField(max_length=10, required=False, allow_blank=True)


class CartUpdateInputSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    shipping_address = AddressInputSerializer(required=False, allow_null=True)
    billing_address = AddressInputSerializer(required=False, allow_null=True)
    shipping_method = serializers.CharField(
        max_length=50, required=False, allow_blank=True, allow_null=True
    )
    pickup_location = serializers.CharField(
        max_length=50, required=False, allow_blank=True, allow_null=True
    )
    discount_code = serializers.CharField(max_length=40, required=False, allow_blank=True)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class CartLineInputSerializer(serializers.Serializer):
    variant_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    sku = serializers.CharField(required=False, max_length=64)
    quantity = serializers.IntegerField(min_value=0, max_value=999)

    def validate(self, attrs):
        if not attrs.get("variant_id") and not attrs.get("sku"):
            raise serializers.ValidationError({"variant_id": [_("Give a variant id or a SKU.")]})
        return attrs


class CartLineQuantitySerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=0, max_value=999)


class PaymentInputSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.CARD)
    token = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class CheckoutCompleteInputSerializer(serializers.Serializer):
    payment = PaymentInputSerializer()
    expected_total = serializers.DecimalField(
        max_digits=14,
        decimal_places=3,
        required=False,
        help_text=_("The total the buyer saw: a different total now is a 409 `price_changed`."),
    )


class OrderLookupInputSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=32)
    email = serializers.EmailField()


def money(value: Decimal | None, currency: str) -> str | None:
    if value is None:
        return None
    from commerce.money import quantize

    return str(quantize(Decimal(value), currency))


def cart_json(cart: Cart, quote: CartQuote) -> dict[str, Any]:
    c = quote.currency
    return {
        "token": cart.token,
        "channel": cart.channel.code,
        "state": cart.state,
        "customer_id": cart.customer_id,
        "email": cart.email,
        "phone": cart.phone,
        "currency": c,
        "prices_include_tax": quote.prices_include_tax,
        "lines": [
            {
                "variant_id": line.variant_id,
                "sku": line.sku,
                "product_name": line.product_name,
                "variant_name": line.variant_name,
                "quantity": line.quantity,
                "unit_price": money(line.unit_price, c),
                "discount": money(line.discount, c),
                "amount": money(line.amount, c),
                "tax_rate": str(line.tax_rate),
                "tax": money(line.tax, c),
                "problem": line.problem,
            }
            for line in quote.lines
        ],
        "shipping_address": cart.shipping_address,
        "billing_address": cart.billing_address,
        "shipping_method": cart.shipping_method.code if cart.shipping_method_id else None,
        "pickup_location": cart.pickup_location.code if cart.pickup_location_id else None,
        "discount_code": cart.discount_code,
        "discount_code_problem": quote.code_problem,
        "discounts": [
            {"name": d["name"], "code": d["code"], "amount": money(d["amount"], c)}
            for d in quote.discounts
        ],
        "subtotal": money(quote.subtotal, c),
        "shipping": money(quote.shipping_total, c),
        "shipping_discount": money(quote.shipping_discount, c),
        "tax": money(quote.tax_total, c),
        "tax_bands": [
            {k: (str(v) if k == "rate" else money(v, c)) for k, v in band.items()}
            for band in quote.tax_bands
        ],
        "total": money(quote.total, c),
        "weight_grams": quote.weight_grams,
        "problems": quote.problems,
        "note": cart.note,
        "checkout_started_at": cart.checkout_started_at,
        "stock_held_until": cart.hold_expires_at,
        "last_activity_at": cart.last_activity_at,
    }


def order_json(order: Order, *, staff: bool = False) -> dict[str, Any]:
    c = order.currency
    lines = list(order.lines.all())
    data = {
        "number": order.number,
        "channel": order.channel.code,
        "status": order.status,
        "payment_status": order.payment_status,
        "payment_method": order.payment_method,
        "email": order.email,
        "currency": c,
        "prices_include_tax": order.prices_include_tax,
        "lines": [
            {
                "sku": line.sku,
                "product_name": line.product_name,
                "variant_name": line.variant_name,
                "quantity": line.quantity,
                "quantity_fulfilled": line.quantity_fulfilled,
                "unit_price": money(line.unit_price, c),
                "discount": money(line.discount, c),
                "amount": money(line.amount, c),
                "tax_rate": str(line.tax_rate),
                "tax": money(line.tax, c),
            }
            for line in lines
        ],
        "subtotal": money(order.subtotal, c),
        "discount_total": money(order.discount_total, c),
        "shipping_total": money(order.shipping_total, c),
        "tax_total": money(order.tax_total, c),
        "tax_bands": [
            {k: (str(v) if k == "rate" else money(Decimal(str(v)), c)) for k, v in band.items()}
            for band in order.tax_bands
        ],
        "total": money(order.total, c),
        "paid_total": money(order.paid_total, c),
        "refunded_total": money(order.refunded_total, c),
        "discounts": [
            {"name": d["name"], "code": d["code"], "amount": money(Decimal(str(d["amount"])), c)}
            for d in order.discounts
        ],
        "shipping_address": order.shipping_address,
        "billing_address": order.billing_address,
        "shipping_method": order.shipping_method_name,
        "pickup_location": order.pickup_location.code if order.pickup_location_id else None,
        "placed_at": order.placed_at,
    }
    if staff:
        # Staff edit lines by id (`quantities` of the edit action): each line says its own.
        for line_data, line in zip(data["lines"], lines, strict=True):
            line_data["id"] = line.pk
        data.update(
            {
                "id": order.pk,
                "customer_id": order.customer_id,
                "phone": order.phone,
                "authorized_total": money(order.authorized_total, c),
                "flagged": order.flagged,
                "flag_reason": order.flag_reason,
                "note": order.note,
                "transactions": [
                    transaction_json(t, c) for t in selectors.order_transactions(order)
                ],
                "history": [history_json(h) for h in order.history.all()],
                "routing": order.routing,
                "fulfilments": [
                    fulfilment_json(f, order=order) for f in selectors.order_fulfilments(order)
                ],
            }
        )
    return data


def fulfilment_json(
    f: Fulfilment, *, order: Order | None = None, events: list[TrackingEvent] | None = None
) -> dict[str, Any]:
    """A fulfilment as staff see it. `order` saves a query when the caller has it; `events`
    (the carrier's reports) are added when given."""
    open_to_ship = f.state in (
        Fulfilment.State.PENDING,
        Fulfilment.State.PICKING,
        Fulfilment.State.PACKED,
    )
    data = {
        "number": f.number,
        "order": (order or f.order).number,
        "kind": f.kind,
        "state": f.state,
        "state_display": f.get_state_display(),
        "location": f.location.code,
        "location_name": f.location.name,
        "routing_reason": f.routing_reason,
        "carrier": f.carrier.code if f.carrier_id else None,
        "carrier_name": f.carrier.name if f.carrier_id else "",
        "tracking_number": f.tracking_number,
        "tracking_url": f.tracking_url,
        "ship_by": f.ship_by,
        "estimated_delivery": f.estimated_delivery,
        "late": f.delayed_at is not None and open_to_ship,
        "pickup_code": f.pickup_code,
        "created_at": f.created_at,
        "ready_at": f.ready_at,
        "shipped_at": f.shipped_at,
        "delivered_at": f.delivered_at,
        "cancelled_at": f.cancelled_at,
        "delayed_at": f.delayed_at,
        "uncollected_at": f.uncollected_at,
        "lines": [
            {
                "order_line_id": line.order_line_id,
                "sku": line.order_line.sku,
                "name": line.order_line.product_name,
                "variant_name": line.order_line.variant_name,
                "quantity": line.quantity,
            }
            for line in f.lines.all()
        ],
    }
    if events is not None:
        data["events"] = [tracking_event_json(e) for e in events]
    return data


def tracking_event_json(e: TrackingEvent) -> dict[str, Any]:
    return {
        "status": e.status,
        "description": e.description,
        "place": e.place,
        "occurred_at": e.occurred_at,
        "source": e.source,
        "recorded_at": e.recorded_at,
    }


def transaction_json(t: Transaction, currency: str) -> dict[str, Any]:
    return {
        "kind": t.kind,
        "status": t.status,
        "amount": money(t.amount, currency),
        "gateway_reference": t.gateway_reference,
        "error": t.error,
        "source": t.source,
        "created_at": t.created_at,
    }


def history_json(h: OrderHistory) -> dict[str, Any]:
    return {"kind": h.kind, "message": h.message, "created_at": h.created_at}


class StaffAmountInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=3, required=False)
    reason = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")


class StaffReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")


class EditAddLineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=999)


class StaffEditInputSerializer(serializers.Serializer):
    quantities = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=999),
        required=False,
        help_text=_("Order line id → new quantity; 0 removes the line."),
    )
    add = EditAddLineSerializer(many=True, required=False)
    shipping_address = AddressInputSerializer(required=False)
    reason = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")

    def validate_quantities(self, value):
        try:
            return {int(k): v for k, v in value.items()}
        except ValueError as exc:
            raise serializers.ValidationError(_("Keys are order line ids.")) from exc


# --- Fulfilment (staff) ------------------------------------------------------------------------


class FulfilmentShipInputSerializer(serializers.Serializer):
    carrier = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Carrier code; empty: the shipping method's carrier."),
    )
    tracking_number = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    tracking_url = serializers.URLField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Empty: made from the carrier's tracking URL and the tracking number."),
    )


class FulfilmentCollectInputSerializer(serializers.Serializer):
    pickup_code = serializers.CharField(max_length=12)


class FulfilmentRerouteInputSerializer(serializers.Serializer):
    location = serializers.CharField(max_length=50, help_text=_("The new location's code."))
    reason = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")


class TrackingUpdateInputSerializer(serializers.Serializer):
    tracking_number = serializers.CharField(max_length=100)
    carrier = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Carrier code; needed only when two parcels share a tracking number."),
    )
    # A plain string, checked by the service: its message lists the statuses it knows.
    status = serializers.CharField(
        max_length=20,
        help_text=_(
            "info, in_transit, out_for_delivery, delivered, exception or returned; "
            "delivered marks the parcel delivered."
        ),
    )
    occurred_at = serializers.DateTimeField()
    description = serializers.CharField(
        max_length=250, required=False, allow_blank=True, default=""
    )
    place = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


# --- POS (a store's till) ----------------------------------------------------------------------


class PosSaleInputSerializer(serializers.Serializer):
    channel = serializers.CharField(max_length=50, help_text=_("The till's POS channel code."))
    store = serializers.CharField(max_length=50, help_text=_("The store's location code."))
    lines = EditAddLineSerializer(many=True, allow_empty=False, max_length=100)
    payment = PaymentInputSerializer(help_text=_("cash or card (a card needs the token)."))
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    customer_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )
    ship_to = AddressInputSerializer(
        required=False,
        allow_null=True,
        help_text=_(
            "Ship the goods to the customer (the endless aisle); without it the customer "
            "takes them from this store now."
        ),
    )
    shipping_method = serializers.CharField(
        max_length=50, required=False, allow_blank=True, default=""
    )
