"""The shapes of the orders API's answers, for the OpenAPI schema.

The views build their answers with the `*_json` functions of serializers.py (one place that
reads the prices, totals and lines, for the storefront and staff alike); these serializers say
what those answers contain, field by field, and the schemathesis run checks that they agree.
Amounts are decimal strings in the currency's minor units (`"2980"`, `"19.99"`).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


def Money(**kwargs) -> serializers.CharField:
    return serializers.CharField(help_text=_("Decimal amount in the currency"), **kwargs)


def Address() -> serializers.DictField:
    return serializers.DictField(allow_null=True, help_text=_("Address fields, or null"))


class TaxBandSerializer(serializers.Serializer):
    rate = serializers.CharField()
    net = Money(required=False)
    tax = Money(required=False)
    gross = Money(required=False)


class DiscountSerializer(serializers.Serializer):
    name = serializers.CharField()
    code = serializers.CharField(allow_blank=True, allow_null=True)
    amount = Money()


class CartLineOutputSerializer(serializers.Serializer):
    variant_id = serializers.IntegerField()
    sku = serializers.CharField()
    product_name = serializers.CharField()
    variant_name = serializers.CharField(allow_blank=True)
    quantity = serializers.IntegerField()
    unit_price = Money(allow_null=True)
    discount = Money(allow_null=True)
    amount = Money(allow_null=True)
    tax_rate = serializers.CharField()
    tax = Money(allow_null=True)
    problem = serializers.CharField(allow_blank=True, allow_null=True)


class CartOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    channel = serializers.CharField()
    state = serializers.CharField()
    customer_id = serializers.IntegerField(allow_null=True)
    email = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    currency = serializers.CharField()
    prices_include_tax = serializers.BooleanField()
    lines = CartLineOutputSerializer(many=True)
    shipping_address = Address()
    billing_address = Address()
    shipping_method = serializers.CharField(allow_null=True)
    pickup_location = serializers.CharField(allow_null=True)
    discount_code = serializers.CharField(allow_blank=True)
    discount_code_problem = serializers.CharField(allow_blank=True, allow_null=True)
    discounts = DiscountSerializer(many=True)
    subtotal = Money()
    shipping = Money(allow_null=True)
    shipping_discount = Money(allow_null=True)
    tax = Money()
    tax_bands = TaxBandSerializer(many=True)
    total = Money()
    weight_grams = serializers.IntegerField(allow_null=True)
    problems = serializers.ListField(child=serializers.JSONField())
    note = serializers.CharField(allow_blank=True)
    checkout_started_at = serializers.DateTimeField(allow_null=True)
    stock_held_until = serializers.DateTimeField(allow_null=True)
    last_activity_at = serializers.DateTimeField(allow_null=True)


class OrderLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    product_name = serializers.CharField()
    variant_name = serializers.CharField(allow_blank=True)
    quantity = serializers.IntegerField()
    quantity_fulfilled = serializers.IntegerField()
    unit_price = Money()
    discount = Money()
    amount = Money()
    tax_rate = serializers.CharField()
    tax = Money()


class TrackingEventOutputSerializer(serializers.Serializer):
    status = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    place = serializers.CharField(allow_blank=True)
    occurred_at = serializers.DateTimeField()
    source = serializers.CharField(allow_blank=True, required=False)
    recorded_at = serializers.DateTimeField(required=False)


class ParcelLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()


class ParcelOutputSerializer(serializers.Serializer):
    """A parcel as its buyer sees it."""

    number = serializers.CharField()
    kind = serializers.CharField()
    state = serializers.CharField()
    state_display = serializers.CharField()
    location = serializers.CharField()
    carrier = serializers.CharField(allow_blank=True)
    tracking_number = serializers.CharField(allow_blank=True)
    tracking_url = serializers.CharField(allow_blank=True)
    estimated_delivery = serializers.DateField(allow_null=True)
    shipped_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    ready_at = serializers.DateTimeField(allow_null=True)
    pickup_code = serializers.CharField(allow_blank=True)
    lines = ParcelLineSerializer(many=True)
    events = TrackingEventOutputSerializer(many=True)


class OrderOutputSerializer(serializers.Serializer):
    """An order as its buyer sees it."""

    number = serializers.CharField()
    channel = serializers.CharField()
    status = serializers.CharField()
    payment_status = serializers.CharField()
    payment_method = serializers.CharField(allow_blank=True)
    email = serializers.CharField(allow_blank=True)
    currency = serializers.CharField()
    prices_include_tax = serializers.BooleanField()
    lines = OrderLineOutputSerializer(many=True)
    subtotal = Money()
    discount_total = Money()
    shipping_total = Money()
    tax_total = Money()
    tax_bands = TaxBandSerializer(many=True)
    total = Money()
    paid_total = Money()
    refunded_total = Money()
    discounts = DiscountSerializer(many=True)
    shipping_address = Address()
    billing_address = Address()
    shipping_method = serializers.CharField(allow_blank=True)
    pickup_location = serializers.CharField(allow_null=True)
    placed_at = serializers.DateTimeField()


class TrackedOrderOutputSerializer(OrderOutputSerializer):
    """An order with its parcels, as its buyer sees them."""

    fulfilments = ParcelOutputSerializer(many=True)


class FulfilmentLineOutputSerializer(serializers.Serializer):
    order_line_id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    variant_name = serializers.CharField(allow_blank=True)
    quantity = serializers.IntegerField()


class FulfilmentOutputSerializer(serializers.Serializer):
    """A fulfilment as staff see it."""

    number = serializers.CharField()
    order = serializers.CharField()
    kind = serializers.CharField()
    state = serializers.CharField()
    state_display = serializers.CharField()
    location = serializers.CharField()
    location_name = serializers.CharField()
    routing_reason = serializers.CharField(allow_blank=True)
    carrier = serializers.CharField(allow_null=True)
    carrier_name = serializers.CharField(allow_blank=True)
    tracking_number = serializers.CharField(allow_blank=True)
    tracking_url = serializers.CharField(allow_blank=True)
    ship_by = serializers.DateTimeField(allow_null=True)
    estimated_delivery = serializers.DateField(allow_null=True)
    late = serializers.BooleanField()
    pickup_code = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField(allow_null=True)
    shipped_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    delayed_at = serializers.DateTimeField(allow_null=True)
    uncollected_at = serializers.DateTimeField(allow_null=True)
    lines = FulfilmentLineOutputSerializer(many=True)


class FulfilmentDetailOutputSerializer(FulfilmentOutputSerializer):
    events = TrackingEventOutputSerializer(many=True)


class TransactionOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    status = serializers.CharField()
    amount = Money()
    gateway_reference = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    source = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class HistoryOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class StaffOrderListOutputSerializer(OrderOutputSerializer):
    """An order in the staff list (the buyer's view of it)."""


class StaffOrderLineOutputSerializer(OrderLineOutputSerializer):
    id = serializers.IntegerField(help_text=_("What the edit action's `quantities` are keyed by."))


class StaffOrderOutputSerializer(OrderOutputSerializer):
    """An order as staff see it: with line ids, payments, history, routing and fulfilments."""

    id = serializers.IntegerField()
    lines = StaffOrderLineOutputSerializer(many=True)
    customer_id = serializers.IntegerField(allow_null=True)
    phone = serializers.CharField(allow_blank=True)
    authorized_total = Money()
    flagged = serializers.BooleanField()
    flag_reason = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    transactions = TransactionOutputSerializer(many=True)
    history = HistoryOutputSerializer(many=True)
    routing = serializers.ListField(child=serializers.JSONField())
    fulfilments = FulfilmentOutputSerializer(many=True)


class ShippingOptionSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    price = Money(allow_null=True)
    free_over = Money(allow_null=True)
    transit_days = serializers.IntegerField()
    estimated_delivery = serializers.DateField(allow_null=True)


class ShippingMethodsOutputSerializer(serializers.Serializer):
    destination = serializers.CharField(allow_blank=True, allow_null=True)
    methods = ShippingOptionSerializer(many=True)


class PickupStoreOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    city = serializers.CharField(allow_blank=True)
    region = serializers.CharField(allow_blank=True)
    has_everything = serializers.BooleanField()
    short = serializers.ListField(child=serializers.JSONField())


class NotificationResultSerializer(serializers.Serializer):
    result = serializers.CharField()


class PickListSkuSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    variant_name = serializers.CharField(allow_blank=True)
    quantity = serializers.IntegerField()
    contains = serializers.ListField(
        child=serializers.CharField(), help_text=_("A bundle's parts: `2 x SKU` each.")
    )
    fulfilments = serializers.ListField(child=serializers.CharField())


class PickListOutputSerializer(serializers.Serializer):
    location = serializers.CharField()
    location_name = serializers.CharField()
    skus = PickListSkuSerializer(many=True)
    fulfilments = FulfilmentOutputSerializer(many=True)


class TrackingResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    tracking_number = serializers.CharField(allow_blank=True)
    result = serializers.ChoiceField(choices=["recorded", "duplicate", "error"])
    fulfilment = serializers.CharField(required=False)
    fulfilment_state = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    detail = serializers.CharField(required=False)
    errors = serializers.DictField(required=False)


class TrackingUpdatesOutputSerializer(serializers.Serializer):
    recorded = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    error = serializers.IntegerField()
    results = TrackingResultSerializer(many=True)


class PosLocationSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    city = serializers.CharField(allow_blank=True)
    region = serializers.CharField(allow_blank=True)
    country = serializers.CharField(allow_blank=True)
    this_store = serializers.BooleanField()
    distance_km = serializers.FloatField(allow_null=True)
    available = serializers.IntegerField()
    on_hand = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    ships_to_customers = serializers.BooleanField()
    pickup = serializers.BooleanField()
    handling_days = serializers.IntegerField()


class PosStockOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    variant_id = serializers.IntegerField()
    product_name = serializers.CharField()
    variant_name = serializers.CharField(allow_blank=True)
    store = serializers.CharField()
    locations = PosLocationSerializer(many=True)
