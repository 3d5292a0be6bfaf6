"""Staff API for moving stock in and around: transfers, purchase orders, replenishment."""

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce.api.permissions import StaffChangePermissions
from commerce.api.serializers import MAX_UNITS
from commerce.errors import ValidationFailed
from inventory import services
from inventory.api.serializers import LocationField, SkuField
from inventory.models import PurchaseOrder, PurchaseOrderLine, Supplier, Transfer, TransferLine
from inventory.services.stock import location_get


class LineInputSerializer(serializers.Serializer):
    sku = SkuField()
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_UNITS)


class TransferInputSerializer(serializers.Serializer):
    source = LocationField()
    destination = LocationField()
    lines = LineInputSerializer(many=True, allow_empty=False)
    note = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")


class TransferLineOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="variant.sku")

    class Meta:
        model = TransferLine
        fields = ["sku", "quantity"]


class TransferOutputSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.code")
    destination = serializers.CharField(source="destination.code")
    lines = TransferLineOutputSerializer(many=True)

    class Meta:
        model = Transfer
        fields = [
            "id",
            "source",
            "destination",
            "state",
            "note",
            "lines",
            "created_at",
            "dispatched_at",
            "received_at",
        ]


@extend_schema(tags=["staff: inventory"])
class StaffTransferViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Stock moving between locations: it leaves on dispatch (in transit) and arrives on receipt."""

    serializer_class = TransferOutputSerializer
    queryset = (
        Transfer.objects.select_related("source", "destination")
        .prefetch_related(
            Prefetch("lines", queryset=TransferLine.objects.select_related("variant"))
        )
        .order_by("-id")
    )
    filterset_fields = {
        "state": ["exact"],
        "source__code": ["exact"],
        "destination__code": ["exact"],
    }

    @extend_schema(request=TransferInputSerializer, responses={201: TransferOutputSerializer})
    def create(self, request):
        data = TransferInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        transfer = services.transfer_create(
            source=d["source"],
            destination=d["destination"],
            note=d["note"],
            actor=request.user,
            lines=[(line["sku"].pk, line["quantity"]) for line in d["lines"]],
        )
        return Response(
            self.get_serializer(self.get_queryset().get(pk=transfer.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def _step(self, request, operation, **kwargs):
        operation(transfer=self.get_object(), **kwargs)
        return Response(self.get_serializer(self.get_queryset().get(pk=self.kwargs["pk"])).data)

    @extend_schema(request=None, responses=TransferOutputSerializer)
    @action(
        detail=True,
        methods=["post"],
        url_path="dispatch",
        url_name="dispatch",
        permission_classes=[StaffChangePermissions],
    )
    def dispatch_transfer(self, request, pk=None):
        """Send the goods: on hand leaves the source (409 when it does not have them free)."""
        return self._step(request, services.transfer_dispatch, actor=request.user)

    @extend_schema(request=None, responses=TransferOutputSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def receive(self, request, pk=None):
        return self._step(request, services.transfer_receive, actor=request.user)

    @extend_schema(request=None, responses=TransferOutputSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def cancel(self, request, pk=None):
        return self._step(request, services.transfer_cancel)


class PurchaseLineInputSerializer(LineInputSerializer):
    unit_cost = serializers.DecimalField(
        max_digits=14, decimal_places=3, min_value=0, required=False, allow_null=True
    )


class PurchaseOrderInputSerializer(serializers.Serializer):
    supplier = serializers.SlugRelatedField(slug_field="code", queryset=Supplier.objects.all())
    location = LocationField()
    lines = PurchaseLineInputSerializer(many=True, allow_empty=False)
    expected_at = serializers.DateField(required=False, allow_null=True)
    note = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")


class ReceiveInputSerializer(serializers.Serializer):
    lines = LineInputSerializer(many=True, allow_empty=False)


class PurchaseOrderLineOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="variant.sku")

    class Meta:
        model = PurchaseOrderLine
        fields = ["sku", "quantity", "received_quantity", "unit_cost"]


class PurchaseOrderOutputSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="__str__")
    supplier = serializers.CharField(source="supplier.code")
    location = serializers.CharField(source="location.code")
    lines = PurchaseOrderLineOutputSerializer(many=True)

    class Meta:
        model = PurchaseOrder
        fields = [
            "id",
            "number",
            "supplier",
            "location",
            "state",
            "currency",
            "expected_at",
            "note",
            "lines",
            "created_at",
            "sent_at",
        ]


@extend_schema(tags=["staff: inventory"])
class StaffPurchaseOrderViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Orders to suppliers; receiving a line adds stock through the ledger."""

    serializer_class = PurchaseOrderOutputSerializer
    queryset = (
        PurchaseOrder.objects.select_related("supplier", "location")
        .prefetch_related(
            Prefetch("lines", queryset=PurchaseOrderLine.objects.select_related("variant"))
        )
        .order_by("-id")
    )
    filterset_fields = {
        "state": ["exact"],
        "supplier__code": ["exact"],
        "location__code": ["exact"],
    }

    def _output(self, pk):
        return self.get_serializer(self.get_queryset().get(pk=pk)).data

    @extend_schema(
        request=PurchaseOrderInputSerializer, responses={201: PurchaseOrderOutputSerializer}
    )
    def create(self, request):
        data = PurchaseOrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        order = services.purchase_order_create(
            supplier=d["supplier"],
            location=d["location"],
            expected_at=d.get("expected_at"),
            note=d["note"],
            lines=[
                (line["sku"].pk, line["quantity"], line.get("unit_cost")) for line in d["lines"]
            ],
        )
        return Response(self._output(order.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PurchaseOrderOutputSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def send(self, request, pk=None):
        services.purchase_order_send(purchase_order=self.get_object())
        return Response(self._output(pk))

    @extend_schema(request=ReceiveInputSerializer, responses=PurchaseOrderOutputSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def receive(self, request, pk=None):
        """Book what arrived; on hand goes up at the order's location."""
        data = ReceiveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        received: dict[int, int] = {}
        for line in data.validated_data["lines"]:
            received[line["sku"].pk] = received.get(line["sku"].pk, 0) + line["quantity"]
        services.purchase_order_receive(
            purchase_order=self.get_object(), received=received, actor=request.user
        )
        return Response(self._output(pk))

    @extend_schema(request=None, responses=PurchaseOrderOutputSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def cancel(self, request, pk=None):
        services.purchase_order_cancel(purchase_order=self.get_object())
        return Response(self._output(pk))


class SuggestionOutputSerializer(serializers.Serializer):
    variant_id = serializers.IntegerField()
    sku = serializers.CharField()
    location = serializers.CharField()
    supplier = serializers.CharField(allow_null=True)
    available = serializers.IntegerField()
    on_order = serializers.IntegerField()
    daily_demand = serializers.DecimalField(max_digits=12, decimal_places=3)
    reorder_point = serializers.IntegerField()
    quantity = serializers.IntegerField()
    unit_cost = serializers.DecimalField(max_digits=14, decimal_places=3, allow_null=True)


class SuggestionQuerySerializer(serializers.Serializer):
    location = serializers.CharField(required=False, help_text=gettext_lazy("Location code"))
    # Ten years of history is more than any demand window needs, and keeps the date arithmetic
    # far from its limits.
    window_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        help_text=gettext_lazy("Days of demand history"),
    )


def _suggestions(request):
    # A plain dict: from a QueryDict DRF would read `window_days=` as "not given".
    query = SuggestionQuerySerializer(data=request.query_params.dict())
    if not query.is_valid():
        raise ValidationFailed(query.errors)
    code = query.validated_data.get("location")
    return services.replenishment_suggestions(
        location=location_get(code=code) if code else None,
        window_days=query.validated_data.get("window_days"),
    )


@extend_schema(tags=["staff: inventory"], parameters=[SuggestionQuerySerializer])
class StaffReplenishmentView(APIView):
    """What to reorder: demand over the window times the supplier lead time + safety stock."""

    queryset = (
        PurchaseOrder.objects.all()
    )  # reading needs view_purchaseorder, creating add_purchaseorder

    @extend_schema(responses=SuggestionOutputSerializer(many=True))
    def get(self, request):
        return Response(SuggestionOutputSerializer(_suggestions(request), many=True).data)

    @extend_schema(request=None, responses={201: PurchaseOrderOutputSerializer(many=True)})
    def post(self, request):
        """Create draft purchase orders from the suggestions, one per supplier and location."""
        orders = services.replenishment_create_purchase_orders(suggestions=_suggestions(request))
        queryset = StaffPurchaseOrderViewSet.queryset.filter(pk__in=[o.pk for o in orders])
        return Response(
            PurchaseOrderOutputSerializer(queryset, many=True).data, status=status.HTTP_201_CREATED
        )
