from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from catalog.models import ProductVariant
from commerce.api.serializers import MAX_UNITS
from commerce.models import Channel
from inventory.models import Reservation, Stock, StockLocation, StockMovement


class SkuField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="sku", queryset=ProductVariant.objects.all(), **kwargs)


class LocationField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=StockLocation.objects.all(), **kwargs)


class LocationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = StockLocation
        fields = [
            "code",
            "name",
            "kind",
            "country",
            "postal_code",
            "region",
            "city",
            "address_line",
            "ships_to_customers",
            "pickup_enabled",
            "time_zone",
        ]


class VariantAvailabilityOutputSerializer(serializers.Serializer):
    variant_id = serializers.IntegerField()
    available = serializers.IntegerField()
    in_stock = serializers.BooleanField()


class LocationAvailabilityOutputSerializer(serializers.Serializer):
    location = LocationOutputSerializer()
    available = serializers.IntegerField()
    in_stock = serializers.BooleanField()


class StockOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="variant.sku")
    location = serializers.CharField(source="location.code")
    available = serializers.IntegerField(
        help_text=_("On hand minus allocated, active cart holds and safety stock.")
    )
    held = serializers.IntegerField(help_text=_("Units in unexpired cart holds."))

    class Meta:
        model = Stock
        fields = [
            "id",
            "sku",
            "variant",
            "location",
            "on_hand",
            "allocated",
            "held",
            "safety_stock",
            "available",
            "low_stock_threshold",
            "signal",
            "updated_at",
        ]


class StockAdjustInputSerializer(serializers.Serializer):
    sku = SkuField()
    location = LocationField()
    delta = serializers.IntegerField(min_value=-MAX_UNITS, max_value=MAX_UNITS)
    reason = serializers.ChoiceField(
        choices=[
            StockMovement.Reason.ADJUSTMENT,
            StockMovement.Reason.RECEIPT,
            StockMovement.Reason.RETURN_RESTOCK,
        ],
        default=StockMovement.Reason.ADJUSTMENT,
    )
    note = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class StockLevelInputSerializer(serializers.Serializer):
    sku = SkuField()
    location = LocationField()
    quantity = serializers.IntegerField(min_value=0, max_value=MAX_UNITS)


class StockCountInputSerializer(serializers.Serializer):
    levels = StockLevelInputSerializer(many=True, allow_empty=False)
    reason = serializers.ChoiceField(
        choices=[StockMovement.Reason.COUNT_CORRECTION, StockMovement.Reason.SYNC],
        default=StockMovement.Reason.COUNT_CORRECTION,
    )
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")


class StockMovementOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="stock.variant.sku")
    location = serializers.CharField(source="stock.location.code")
    actor = serializers.CharField(source="actor.get_username", default=None, allow_null=True)

    class Meta:
        model = StockMovement
        fields = [
            "id",
            "sku",
            "location",
            "reason",
            "on_hand_delta",
            "allocated_delta",
            "on_hand_before",
            "on_hand_after",
            "allocated_before",
            "allocated_after",
            "reference",
            "note",
            "actor",
            "created_at",
        ]


class ReserveLineInputSerializer(serializers.Serializer):
    sku = SkuField()
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_UNITS)
    line_reference = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )


class ReserveInputSerializer(serializers.Serializer):
    channel = serializers.SlugRelatedField(
        slug_field="code", queryset=Channel.objects.filter(is_active=True)
    )
    reference = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Reservation.Kind.choices, default=Reservation.Kind.CART)
    lines = ReserveLineInputSerializer(many=True, allow_empty=False)
    ttl_seconds = serializers.IntegerField(min_value=1, max_value=7 * 24 * 3600, required=False)
    preferred_location = LocationField(required=False, allow_null=True)
    destination_country = serializers.CharField(min_length=2, max_length=2, required=False)
    destination_region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    replaces_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ReferenceInputSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=100)


class ReservationOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="variant.sku")
    location = serializers.CharField(source="location.code")

    class Meta:
        model = Reservation
        fields = [
            "id",
            "kind",
            "state",
            "reference",
            "line_reference",
            "sku",
            "location",
            "quantity",
            "expires_at",
            "created_at",
        ]
