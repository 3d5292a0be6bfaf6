"""Staff endpoints: `/api/v1/staff/customers/` and `/api/v1/staff/segments/`.

Django model permissions apply (view, add, change; erasing needs delete); customers get 403.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from commerce.api.permissions import StaffChangePermissions, StaffDeletePermissions
from customers import services
from customers.api.filters import CustomerFilter
from customers.api.serializers import (
    EraseInputSerializer,
    ExportOutputSerializer,
    FindOrCreateInputSerializer,
    FoundSerializer,
    HistorySerializer,
    IdentifierSerializer,
    MergeInputSerializer,
    PointEntrySerializer,
    PointsAdjustInputSerializer,
    PointsRedeemInputSerializer,
    SegmentPreviewInputSerializer,
    SegmentPreviewSerializer,
    SegmentSerializer,
    StaffCustomerInputSerializer,
    StaffCustomerSerializer,
    validated,
)
from customers.models import Customer, HistoryEntry, PointEntry, Segment
from customers.segments import rule_compile, segment_preview, segment_recompute
from customers.selectors import customers_for_staff


@extend_schema(tags=["staff: customers"])
class StaffCustomerViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Customer profiles across channels, with statistics, RFM segment and loyalty."""

    serializer_class = StaffCustomerSerializer
    queryset = Customer.objects.all()
    filterset_class = CustomerFilter

    def get_queryset(self):
        return customers_for_staff().order_by("-id").distinct()

    def _output(self, customer: Customer, **kwargs) -> Response:
        return Response(
            StaffCustomerSerializer(customers_for_staff().get(pk=customer.pk)).data, **kwargs
        )

    @extend_schema(request=StaffCustomerInputSerializer, responses={201: StaffCustomerSerializer})
    def create(self, request):
        d = validated(StaffCustomerInputSerializer, request.data)
        tags = d.pop("tags", [])
        customer = services.customer_create(
            channel=d.pop("channel", None), actor=request.user, tags=tags, **d
        )
        return self._output(customer, status=status.HTTP_201_CREATED)

    @extend_schema(request=StaffCustomerInputSerializer, responses=StaffCustomerSerializer)
    def partial_update(self, request, pk=None):
        customer = self.get_object()
        d = validated(StaffCustomerInputSerializer, request.data, partial=True)
        d.pop("channel", None)
        tags = d.pop("tags", None)
        with transaction.atomic():
            customer = services.customer_update(customer, actor=request.user, **d)
            if tags is not None:
                services.customer_set_tags(customer, tags)
        return self._output(customer)

    @extend_schema(request=FindOrCreateInputSerializer, responses=FoundSerializer)
    @action(detail=False, methods=["post"], url_path="find-or-create")
    def find_or_create(self, request):
        """For a phone order: the caller's profile by e-mail (else phone), or a new guest one."""
        d = validated(FindOrCreateInputSerializer, request.data)
        d.pop("tags", None)
        d.pop("notes", None)
        customer, created = services.customer_find_or_create(
            email=d.pop("email", ""),
            phone=d.pop("phone", ""),
            channel=d.pop("channel", None),
            actor=request.user,
            **{k: v for k, v in d.items() if v},
        )
        return Response(
            {
                "created": created,
                "customer": StaffCustomerSerializer(customers_for_staff().get(pk=customer.pk)).data,
            },
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=MergeInputSerializer, responses=StaffCustomerSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def merge(self, request, pk=None):
        """Merge another profile of the same person into this one (the duplicate is closed)."""
        survivor = self.get_object()
        d = validated(MergeInputSerializer, request.data)
        services.customer_merge(survivor=survivor, duplicate=d["duplicate"], actor=request.user)
        return self._output(survivor)

    @extend_schema(request=EraseInputSerializer, responses=StaffCustomerSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffDeletePermissions])
    def erase(self, request, pk=None):
        """Anonymise the person; purchases and the point ledger stay for accounting."""
        d = validated(EraseInputSerializer, request.data)
        customer = services.customer_erase(
            self.get_object(), actor=request.user, reason=d.get("reason", "")
        )
        return self._output(customer)

    @extend_schema(responses=ExportOutputSerializer)
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """Everything held about this customer, for a subject access request."""
        return Response(services.customer_export(self.get_object()))

    @extend_schema(responses=HistorySerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        """The profile's history, newest first (the last 200 entries)."""
        entries = HistoryEntry.objects.filter(customer=self.get_object())[:200]
        return Response(HistorySerializer(entries, many=True).data)

    @extend_schema(request=IdentifierSerializer, responses={201: IdentifierSerializer})
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def identifiers(self, request, pk=None):
        """Link an external identifier (marketplace buyer id, member card) to this profile."""
        d = validated(IdentifierSerializer, request.data)
        identifier = services.identifier_add(self.get_object(), **d)
        return Response(IdentifierSerializer(identifier).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PointsAdjustInputSerializer, responses={201: PointEntrySerializer})
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def points(self, request, pk=None):
        """Adjust loyalty points by hand, with a reason (goodwill, correction)."""
        d = validated(PointsAdjustInputSerializer, request.data)
        entry = services.points_adjust(
            self.get_object(), points=d["points"], reason=d["reason"], actor=request.user
        )
        return Response(PointEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PointsRedeemInputSerializer, responses={201: PointEntrySerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="points/redeem",
        permission_classes=[StaffChangePermissions],
    )
    def redeem_points(self, request, pk=None):
        """Spend points for the customer (at a till, on a phone order): oldest-expiring first;
        409 when the balance is short."""
        d = validated(PointsRedeemInputSerializer, request.data)
        entry = services.points_redeem(self.get_object(), actor=request.user, **d)
        return Response(PointEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=PointEntrySerializer(many=True))
    @action(detail=True, methods=["get"], url_path="points/entries")
    def point_entries(self, request, pk=None):
        entries = PointEntry.objects.filter(account__customer=self.get_object())
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(PointEntrySerializer(page, many=True).data)


@extend_schema(tags=["staff: customers"])
class StaffSegmentViewSet(viewsets.ModelViewSet):
    """Merchant-defined segments by rule; members are refreshed nightly or on demand."""

    serializer_class = SegmentSerializer
    queryset = Segment.objects.all()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        rule_compile(serializer.validated_data.get("rule", []))
        segment = serializer.save()
        segment_recompute(segment)

    def perform_update(self, serializer):
        if "rule" in serializer.validated_data:
            rule_compile(serializer.validated_data["rule"])
        segment = serializer.save()
        segment_recompute(segment)

    @extend_schema(request=SegmentPreviewInputSerializer, responses=SegmentPreviewSerializer)
    @action(detail=False, methods=["post"], permission_classes=[StaffChangePermissions])
    def preview(self, request):
        """How many customers a rule matches now, with a sample; nothing is saved."""
        d = validated(SegmentPreviewInputSerializer, request.data)
        count, sample = segment_preview(d["rule"])
        found = customers_for_staff().in_bulk([c.pk for c in sample])
        sample = [found[c.pk] for c in sample]  # the preview's order: latest buyers first
        return Response({"count": count, "sample": StaffCustomerSerializer(sample, many=True).data})

    @extend_schema(request=None, responses=SegmentSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def recompute(self, request, pk=None):
        segment = self.get_object()
        segment_recompute(segment)
        return Response(SegmentSerializer(segment).data)
