"""Staff endpoints for orders: list with filters, read, and the actions of the admin."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from commerce.api.permissions import StaffChangePermissions
from orders import selectors, services
from orders.api.outputs import StaffOrderListOutputSerializer, StaffOrderOutputSerializer
from orders.api.serializers import (
    StaffAmountInputSerializer,
    StaffEditInputSerializer,
    StaffReasonInputSerializer,
    order_json,
    validated,
)
from orders.models import Order


class OrderFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")
    placed_after = django_filters.IsoDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = django_filters.IsoDateTimeFilter(field_name="placed_at", lookup_expr="lt")
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")

    class Meta:
        model = Order
        fields = ["status", "payment_status", "payment_method", "flagged", "customer"]


@extend_schema(tags=["staff: orders"], responses=StaffOrderOutputSerializer)
class StaffOrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Orders of every channel. Actions need the change permission on orders."""

    permission_classes = [StaffChangePermissions]
    queryset = Order.objects.all()
    filterset_class = OrderFilter
    lookup_field = "number"

    def get_queryset(self):
        return selectors.orders_with_lines().order_by("-placed_at", "-id")

    def get_serializer_class(self):
        # For OPTIONS and the schema: the input of each action, the order for reads.
        return _ACTION_INPUT.get(self.action, StaffOrderOutputSerializer)

    @extend_schema(
        operation_id="v1_staff_orders_list", responses=StaffOrderListOutputSerializer(many=True)
    )
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([order_json(o) for o in page])

    def retrieve(self, request, number=None):
        return Response(order_json(self.get_object(), staff=True))

    def _done(self, order: Order) -> Response:
        return Response(order_json(self.get_queryset().get(pk=order.pk), staff=True))

    @extend_schema(request=StaffAmountInputSerializer)
    @action(detail=True, methods=["post"])
    def capture(self, request, number=None):
        d = validated(StaffAmountInputSerializer, request.data)
        return self._done(
            services.payment_capture(self.get_object(), amount=d.get("amount"), actor=request.user)
        )

    @extend_schema(request=StaffAmountInputSerializer)
    @action(detail=True, methods=["post"])
    def refund(self, request, number=None):
        d = validated(StaffAmountInputSerializer, request.data)
        return self._done(
            services.payment_refund(
                self.get_object(), amount=d.get("amount"), reason=d["reason"], actor=request.user
            )
        )

    @extend_schema(request=StaffAmountInputSerializer)
    @action(detail=True, methods=["post"])
    def settle(self, request, number=None):
        d = validated(StaffAmountInputSerializer, request.data)
        return self._done(
            services.payment_settle(
                self.get_object(), amount=d.get("amount"), note=d["reason"], actor=request.user
            )
        )

    @extend_schema(request=StaffReasonInputSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, number=None):
        d = validated(StaffReasonInputSerializer, request.data)
        return self._done(
            services.order_cancel(self.get_object(), reason=d["reason"], actor=request.user)
        )

    @extend_schema(request=StaffEditInputSerializer)
    @action(detail=True, methods=["post"])
    def edit(self, request, number=None):
        """Change quantities, add lines or change the address before the order ships; stock,
        totals and payment follow (see orders/placement/editing.py)."""
        d = validated(StaffEditInputSerializer, request.data)
        return self._done(
            services.order_edit(
                self.get_object(),
                quantities=d.get("quantities"),
                add=[(line["sku"], line["quantity"]) for line in d.get("add", [])],
                shipping_address=d.get("shipping_address"),
                reason=d["reason"],
                actor=request.user,
            )
        )

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def confirm(self, request, number=None):
        return self._done(services.order_confirm(self.get_object(), actor=request.user))

    @extend_schema(request=StaffReasonInputSerializer)
    @action(detail=True, methods=["post"])
    def hold(self, request, number=None):
        d = validated(StaffReasonInputSerializer, request.data)
        return self._done(
            services.order_hold(self.get_object(), reason=d["reason"], actor=request.user)
        )

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], url_path="release-hold")
    def release_hold(self, request, number=None):
        return self._done(services.order_release(self.get_object(), actor=request.user))

    @extend_schema(request=StaffReasonInputSerializer)
    @action(detail=True, methods=["post"])
    def flag(self, request, number=None):
        d = validated(StaffReasonInputSerializer, request.data)
        return self._done(
            services.order_flag(self.get_object(), reason=d["reason"], actor=request.user)
        )

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def unflag(self, request, number=None):
        return self._done(
            services.order_flag(self.get_object(), reason="", flagged=False, actor=request.user)
        )


_ACTION_INPUT = {
    "capture": StaffAmountInputSerializer,
    "refund": StaffAmountInputSerializer,
    "settle": StaffAmountInputSerializer,
    "cancel": StaffReasonInputSerializer,
    "edit": StaffEditInputSerializer,
    "hold": StaffReasonInputSerializer,
    "flag": StaffReasonInputSerializer,
}
