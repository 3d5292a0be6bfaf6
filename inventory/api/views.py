from datetime import timedelta

from django.db.models import F
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce.api.permissions import StaffChangePermissions
from commerce.api.schema import ProblemSerializer
from commerce.errors import NotFound, ValidationFailed
from commerce.selectors import channel_get_active
from inventory import selectors, services
from inventory.api.serializers import (
    LocationAvailabilityOutputSerializer,
    ReferenceInputSerializer,
    ReservationOutputSerializer,
    ReserveInputSerializer,
    StockAdjustInputSerializer,
    StockCountInputSerializer,
    StockMovementOutputSerializer,
    StockOutputSerializer,
    VariantAvailabilityOutputSerializer,
)
from inventory.models import Reservation, Stock, StockMovement

CHANNEL = OpenApiParameter(
    "channel", str, OpenApiParameter.PATH, description="Channel code, e.g. web-jp"
)


@extend_schema(
    tags=["storefront"],
    parameters=[
        CHANNEL,
        OpenApiParameter(
            "variant", int, many=True, description="Variant ids (repeat, at most 100)"
        ),
    ],
    responses=VariantAvailabilityOutputSerializer(many=True),
    summary="Sellable units of variants in a channel",
)
class StorefrontAvailabilityView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request, channel):
        channel = channel_get_active(code=channel)
        raw = request.query_params.getlist("variant")
        if not raw or len(raw) > 100 or not all(v.isdigit() for v in raw):
            raise ValidationFailed(
                {"variant": [_("Give 1 to 100 variant ids, e.g. ?variant=1&variant=2.")]}
            )
        levels = selectors.availability_for_channel(
            channel=channel, variant_ids=[int(v) for v in raw]
        )
        return Response(
            [{"variant_id": v, "available": n, "in_stock": n > 0} for v, n in levels.items()]
        )


@extend_schema(
    tags=["storefront"],
    parameters=[
        CHANNEL,
        OpenApiParameter("pickup", bool, description="Only stores where customers can pick up"),
    ],
    responses=LocationAvailabilityOutputSerializer(many=True),
    summary="A variant's availability per location (click-and-collect, endless aisle)",
)
class StorefrontLocationAvailabilityView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request, channel, variant_id):
        channel = channel_get_active(code=channel)
        pickup = request.query_params.get("pickup", "").lower() in {"1", "true", "yes"}
        rows = selectors.availability_by_location(
            variant_id=variant_id, channel=channel, pickup_only=pickup
        )
        return Response(
            LocationAvailabilityOutputSerializer(
                [
                    {"location": r.location, "available": r.available, "in_stock": r.available > 0}
                    for r in rows
                ],
                many=True,
            ).data
        )


def _stock_queryset():
    return (
        selectors.stock_with_availability(Stock.objects.select_related("variant", "location"))
        .annotate(available=F("available_units"))
        .order_by("variant_id", "location__routing_priority")
    )


@extend_schema(tags=["staff: inventory"])
class StaffStockViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Stock levels per variant and location; adjustments and counts write the ledger."""

    serializer_class = StockOutputSerializer
    queryset = Stock.objects.all()
    filterset_fields = {"variant__sku": ["exact"], "location__code": ["exact"], "signal": ["exact"]}

    def get_queryset(self):
        return _stock_queryset()

    @extend_schema(request=StockAdjustInputSerializer, responses=StockOutputSerializer)
    @action(detail=False, methods=["post"], permission_classes=[StaffChangePermissions])
    def adjust(self, request):
        """Add or remove units on hand at a location, with a reason."""
        data = StockAdjustInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        stock = services.stock_adjust(
            variant_id=d["sku"].pk,
            location_id=d["location"].pk,
            delta=d["delta"],
            reason=d["reason"],
            note=d["note"],
            reference=d["reference"],
            actor=request.user,
        )
        return Response(StockOutputSerializer(_stock_queryset().get(pk=stock.pk)).data)

    @extend_schema(
        request=StockCountInputSerializer, responses=StockMovementOutputSerializer(many=True)
    )
    @action(detail=False, methods=["post"], permission_classes=[StaffChangePermissions])
    def counts(self, request):
        """Set counted quantities (a cycle count or an external feed); all or nothing."""
        data = StockCountInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        movements = services.stock_set_levels(
            levels=[
                services.StockLevel(row["sku"].pk, row["location"].pk, row["quantity"])
                for row in d["levels"]
            ],
            reason=d["reason"],
            reference=d["reference"],
            note=d["note"],
            actor=request.user,
        )
        movements = StockMovement.objects.filter(pk__in=[m.pk for m in movements]).select_related(
            "stock__variant", "stock__location", "actor"
        )
        return Response(StockMovementOutputSerializer(movements, many=True).data)


@extend_schema(tags=["staff: inventory"])
class StaffStockMovementViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The stock ledger, newest first."""

    serializer_class = StockMovementOutputSerializer
    queryset = StockMovement.objects.select_related(
        "stock__variant", "stock__location", "actor"
    ).order_by("-id")
    filterset_fields = {
        "stock__variant__sku": ["exact"],
        "stock__location__code": ["exact"],
        "reason": ["exact"],
        "reference": ["exact"],
        "created_at": ["gte", "lte"],
    }


@extend_schema(tags=["staff: inventory"])
class StaffReservationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Holds and allocations, for integrations (POS, an external checkout) and operators."""

    serializer_class = ReservationOutputSerializer
    queryset = Reservation.objects.select_related("variant", "location").order_by("-id")
    filterset_fields = {"reference": ["exact"], "state": ["exact"], "kind": ["exact"]}

    @extend_schema(
        request=ReserveInputSerializer, responses={201: ReservationOutputSerializer(many=True)}
    )
    def create(self, request):
        """Reserve all lines or none; 409 `insufficient_stock` names the SKU that is short."""
        data = ReserveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        reservations = services.stock_reserve(
            channel=d["channel"],
            lines=[
                services.ReserveLine(line["sku"].pk, line["quantity"], line["line_reference"])
                for line in d["lines"]
            ],
            reference=d["reference"],
            kind=d["kind"],
            ttl=timedelta(seconds=d["ttl_seconds"]) if d.get("ttl_seconds") else None,
            preferred_location_id=d["preferred_location"].pk
            if d.get("preferred_location")
            else None,
            destination=services.Destination(
                d["destination_country"], d.get("destination_region", "")
            )
            if d.get("destination_country")
            else None,
            replaces_reference=d.get("replaces_reference") or None,
            actor=request.user,
        )
        rows = self.get_queryset().filter(pk__in=[r.pk for r in reservations])
        return Response(
            ReservationOutputSerializer(rows, many=True).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=ReferenceInputSerializer,
        responses=inline_serializer(
            "ReleasedOutput",
            {"reference": serializers.CharField(), "released": serializers.IntegerField()},
        ),
    )
    @action(detail=False, methods=["post"], permission_classes=[StaffChangePermissions])
    def release(self, request):
        """Release what a reference holds. Releasing twice changes nothing."""
        data = ReferenceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        units = services.stock_release(
            reference=data.validated_data["reference"], actor=request.user
        )
        return Response({"reference": data.validated_data["reference"], "released": units})

    @extend_schema(
        request=ReferenceInputSerializer,
        responses={
            200: inline_serializer(
                "ShippedOutput",
                {"reference": serializers.CharField(), "shipped": serializers.IntegerField()},
            ),
            404: ProblemSerializer,
        },
    )
    @action(detail=False, methods=["post"], permission_classes=[StaffChangePermissions])
    def ship(self, request):
        """Ship everything still allocated to an order reference: on hand goes down."""
        data = ReferenceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        units = services.stock_ship(reference=data.validated_data["reference"], actor=request.user)
        if units == 0:
            raise NotFound(
                _("Nothing is allocated to %(reference)s.")
                % {"reference": data.validated_data["reference"]}
            )
        return Response({"reference": data.validated_data["reference"], "shipped": units})
