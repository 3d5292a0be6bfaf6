"""Staff endpoints for fulfilment: the fulfilments of every location with their actions (pick,
pack, ship, deliver, ready, collect, re-route), a location's pick list, and the carriers' and
3PLs' tracking reports.

Permissions: fulfilment is order work, so the fulfilment endpoints and the pick list ask for the
order permissions of the staff orders endpoints (`orders.view_order` to read,
`orders.change_order` for the actions). Tracking reports ask for `orders.change_fulfilment`
only: a carrier or 3PL gets a staff account with just that, which may report what happened to a
parcel but not ship or re-route one.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce.api.permissions import StaffChangePermissions
from commerce.errors import DomainError, NotFound, ValidationFailed
from inventory.selectors import location_by_code
from orders import selectors, services
from orders.api.outputs import (
    FulfilmentDetailOutputSerializer,
    FulfilmentOutputSerializer,
    PickListOutputSerializer,
    TrackingUpdatesOutputSerializer,
)
from orders.api.serializers import (
    FulfilmentCollectInputSerializer,
    FulfilmentRerouteInputSerializer,
    FulfilmentShipInputSerializer,
    TrackingUpdateInputSerializer,
    fulfilment_json,
    validated,
)
from orders.models import Fulfilment, Order

TAG = ["staff: fulfilment"]
NOT_LEFT = [Fulfilment.State.PENDING, Fulfilment.State.PICKING, Fulfilment.State.PACKED]
MAX_TRACKING_UPDATES = 500


class OrderWorkPermissions(StaffChangePermissions):
    """The staff orders endpoints' permissions, whatever the view's own model: reads need
    `orders.view_order`, POST actions `orders.change_order`."""

    def _queryset(self, view):
        return Order.objects.none()


def fulfilment_queryset():
    return selectors.fulfilments_with_lines()


class FulfilmentFilter(django_filters.FilterSet):
    location = django_filters.CharFilter(
        field_name="location__code", help_text=gettext_lazy("Location code")
    )
    order = django_filters.CharFilter(
        field_name="order__number", help_text=gettext_lazy("Order number")
    )
    carrier = django_filters.CharFilter(
        field_name="carrier__code", help_text=gettext_lazy("Carrier code")
    )
    tracking_number = django_filters.CharFilter(field_name="tracking_number")
    # A choice rather than a boolean filter, so `late=maybe` is a 400 and not ignored.
    late = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_late",
        help_text=gettext_lazy(
            "true: reported late (past its promised dispatch) and not yet shipped."
        ),
    )

    class Meta:
        model = Fulfilment
        fields = ["state", "kind"]

    def filter_late(self, queryset, name, value):
        late = Q(delayed_at__isnull=False, state__in=NOT_LEFT)
        return queryset.filter(late) if value == "true" else queryset.exclude(late)


@extend_schema(tags=TAG, responses=FulfilmentDetailOutputSerializer)
class StaffFulfilmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Fulfilments of every location, by promised dispatch (`ship_by`) first. Each action calls
    the fulfilment service and answers with the fulfilment; a step its state does not allow is a
    409 `invalid_fulfilment_state` (or `invalid_order_transition` when the order forbids it)."""

    permission_classes = [OrderWorkPermissions]
    queryset = Fulfilment.objects.all()
    filterset_class = FulfilmentFilter
    lookup_field = "number"

    def get_queryset(self):
        return fulfilment_queryset()

    def get_serializer_class(self):
        # For OPTIONS and the schema: the input of each action, the fulfilment for reads.
        return {
            "ship": FulfilmentShipInputSerializer,
            "collect": FulfilmentCollectInputSerializer,
            "reroute": FulfilmentRerouteInputSerializer,
        }.get(self.action, FulfilmentDetailOutputSerializer)

    @extend_schema(
        operation_id="v1_staff_fulfilments_list", responses=FulfilmentOutputSerializer(many=True)
    )
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([fulfilment_json(f) for f in page])

    def retrieve(self, request, number=None):
        return self._answer(self.get_object())

    def _answer(self, fulfilment: Fulfilment) -> Response:
        fulfilment = self.get_queryset().get(pk=fulfilment.pk)
        return Response(
            fulfilment_json(fulfilment, events=list(fulfilment.tracking_events.order_by("id")))
        )

    def _fulfilment(self) -> Fulfilment:
        # Looked up by number only: the list's filters do not apply to an action's target.
        return services.fulfilment_get(number=self.kwargs["number"])

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def pick(self, request, number=None):
        """Picking started."""
        return self._answer(
            services.fulfilment_prepare(self._fulfilment(), state="picking", actor=request.user)
        )

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def pack(self, request, number=None):
        """Packed, ready to hand to the carrier."""
        return self._answer(
            services.fulfilment_prepare(self._fulfilment(), state="packed", actor=request.user)
        )

    @extend_schema(request=FulfilmentShipInputSerializer)
    @action(detail=True, methods=["post"])
    def ship(self, request, number=None):
        """The parcel left: on-hand goes down at the location, the order becomes partially
        fulfilled or fulfilled, `fulfilment.shipped` is published. Shipping twice is a 409."""
        d = validated(FulfilmentShipInputSerializer, request.data)
        return self._answer(
            services.fulfilment_ship(
                self._fulfilment(),
                carrier=d["carrier"] or None,
                tracking_number=d["tracking_number"],
                tracking_url=d["tracking_url"],
                actor=request.user,
                source="staff api",
            )
        )

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def deliver(self, request, number=None):
        """The carrier delivered it (when no tracking report says so)."""
        return self._answer(
            services.fulfilment_deliver(self._fulfilment(), actor=request.user, source="staff api")
        )

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def ready(self, request, number=None):
        """A pickup order is on the shelf: `pickup.ready` tells the customer."""
        return self._answer(services.fulfilment_ready(self._fulfilment(), actor=request.user))

    @extend_schema(request=FulfilmentCollectInputSerializer)
    @action(detail=True, methods=["post"])
    def collect(self, request, number=None):
        """Hand a pickup order over against the customer's pickup code."""
        d = validated(FulfilmentCollectInputSerializer, request.data)
        return self._answer(
            services.fulfilment_collect(
                self._fulfilment(), code=d["pickup_code"], actor=request.user
            )
        )

    @extend_schema(request=FulfilmentRerouteInputSerializer)
    @action(detail=True, methods=["post"])
    def reroute(self, request, number=None):
        """Send a fulfilment that has not shipped from another location; its stock allocation
        moves there through the ledger (409 when the location lacks the stock)."""
        d = validated(FulfilmentRerouteInputSerializer, request.data)
        return self._answer(
            services.fulfilment_reroute(
                self._fulfilment(), location=d["location"], reason=d["reason"], actor=request.user
            )
        )


@extend_schema(
    tags=TAG,
    responses=PickListOutputSerializer,
    parameters=[OpenApiParameter("code", str, OpenApiParameter.PATH, description="Location code")],
)
class StaffPickListView(APIView):
    """What to pick at a location: the open fulfilments (pending or picking), and their units
    summed per SKU with the fulfilments each SKU goes to. Not paginated: it is the work list.
    A fixed number of queries however many fulfilments there are."""

    permission_classes = [OrderWorkPermissions]

    def get(self, request, code):
        location = location_by_code(code)
        if location is None:
            raise NotFound(_("There is no location %(code)s.") % {"code": code})
        picking = selectors.pick_list(location)
        return Response(
            {
                "location": location.code,
                "location_name": location.name,
                "skus": [
                    {
                        "sku": row.sku,
                        "name": row.product_name,
                        "variant_name": row.variant_name,
                        "quantity": row.quantity,
                        "contains": row.contains,
                        "fulfilments": row.fulfilments,
                    }
                    for row in picking.skus
                ],
                "fulfilments": [fulfilment_json(f) for f in picking.fulfilments],
            }
        )


@extend_schema(
    tags=TAG,
    # Any object is taken and answered item by item (a bad report is an `error` result, not a
    # 400), so the body is described as what is accepted: an object or a list of 1 to 500; the
    # fields of a report are those of TrackingUpdateInput.
    request={
        "application/json": {
            "oneOf": [
                {"type": "object"},
                {
                    "type": "array",
                    "items": {"type": "object"},
                    "minItems": 1,
                    "maxItems": MAX_TRACKING_UPDATES,
                },
            ],
            "description": "One report (see TrackingUpdateInput) or a list of 1 to 500.",
        }
    },
    responses=TrackingUpdatesOutputSerializer,
)
class TrackingUpdatesView(APIView):
    """A carrier's or 3PL's status reports: one object or a list (at most 500). Each is
    recorded on its own (its own transaction), so one bad report does not stop the others; the
    answer (200) says for each, in order, `recorded`, `duplicate` (the same status at the same
    time was already recorded) or `error` with its code and message. A `delivered` report
    delivers the parcel. 400 only when the body is not an object or a list of objects.
    Needs `orders.change_fulfilment`."""

    permission_classes = [StaffChangePermissions]
    queryset = Fulfilment.objects.none()

    def post(self, request):
        body = request.data
        items = [body] if isinstance(body, dict) else body
        if (
            not isinstance(items, list)
            or not 1 <= len(items) <= MAX_TRACKING_UPDATES
            or not all(isinstance(item, dict) for item in items)
        ):
            raise ValidationFailed(
                {
                    "body": [
                        _("Send one tracking update (an object) or a list of 1 to %(max)s.")
                        % {"max": MAX_TRACKING_UPDATES}
                    ]
                }
            )
        source = f"api:{request.user.get_username()}"[:100]
        results = [
            self._record(index, item, source=source, actor=request.user)
            for index, item in enumerate(items)
        ]
        counts = {
            outcome: sum(1 for r in results if r["result"] == outcome)
            for outcome in ("recorded", "duplicate", "error")
        }
        return Response({**counts, "results": results})

    def _record(self, index: int, item: dict, *, source: str, actor) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "index": index,
            "tracking_number": str(item.get("tracking_number", "")),
        }
        serializer = TrackingUpdateInputSerializer(data=item)
        if not serializer.is_valid():
            return {
                **entry,
                "result": "error",
                "code": "invalid",
                "detail": _("Some fields are not valid."),
                "errors": serializer.errors,
            }
        try:
            with transaction.atomic():
                event, created = services.tracking_record(
                    services.TrackingUpdate(**serializer.validated_data),
                    source=source,
                    actor=actor,
                )
        except DomainError as exc:
            entry.update(result="error", code=exc.code, detail=str(exc.detail))
            if isinstance(exc, ValidationFailed):
                entry["errors"] = exc.errors
            return entry
        number, state = Fulfilment.objects.values_list("number", "state").get(
            pk=event.fulfilment_id
        )
        return {
            **entry,
            "result": "recorded" if created else "duplicate",
            "fulfilment": number,
            "fulfilment_state": state,
        }
