"""Staff endpoints for webhooks: endpoints (the secret only in the create and rotate answers),
the delivery log and its retries. Every write calls `automation.webhooks.services`."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from automation.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from automation.webhooks import payloads, selectors, services
from commerce.api.permissions import StaffChangePermissions
from commerce.errors import Conflict
from commerce.models import Channel

# --- Serializers -----------------------------------------------------------------------------


class WebhookEndpointOutputSerializer(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    previous_secret_valid_until = serializers.DateTimeField(
        source="previous_secret_expires_at",
        read_only=True,
        allow_null=True,
        help_text=gettext_lazy("After a rotation: until when the old secret also signs."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "channel",
            "is_active",
            "paused_at",
            "pause_reason",
            "consecutive_failures",
            "previous_secret_valid_until",
            "created_at",
        ]
        read_only_fields = fields


class WebhookEndpointSecretOutputSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(
        help_text=gettext_lazy("The signing secret (whsec_…). Shown in this answer only.")
    )

    class Meta(WebhookEndpointOutputSerializer.Meta):
        fields = [*WebhookEndpointOutputSerializer.Meta.fields, "secret"]


class WebhookEndpointInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=500)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=[*payloads.CATALOGUE, payloads.ALL]),
        allow_empty=False,
        max_length=len(payloads.CATALOGUE) + 1,
        help_text=gettext_lazy('Event types to send, or ["*"] for all.'),
    )
    channel = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Channel.objects.all(),
        allow_null=True,
        required=False,
        help_text=gettext_lazy("A channel's code: only that channel's events. Null: all."),
    )
    is_active = serializers.BooleanField(required=False)


class RotateSecretInputSerializer(serializers.Serializer):
    grace_hours = serializers.IntegerField(
        min_value=0,
        max_value=24 * 30,
        required=False,
        default=24,
        help_text=gettext_lazy("How long the old secret keeps signing too (0: not at all)."),
    )


class WebhookAttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "attempted_at",
            "status_code",
            "latency_ms",
            "succeeded",
            "error",
            "response_excerpt",
        ]
        read_only_fields = fields


class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    endpoint_name = serializers.CharField(source="endpoint.name", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "endpoint_name",
            "event",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "retry_until",
            "last_status_code",
            "last_error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class WebhookDeliveryDetailOutputSerializer(WebhookDeliveryOutputSerializer):
    attempt_log = serializers.SerializerMethodField()

    class Meta(WebhookDeliveryOutputSerializer.Meta):
        fields = [*WebhookDeliveryOutputSerializer.Meta.fields, "attempt_log"]
        read_only_fields = fields

    @extend_schema_field(WebhookAttemptOutputSerializer(many=True))
    def get_attempt_log(self, delivery: WebhookDelivery) -> list[dict]:
        return WebhookAttemptOutputSerializer(selectors.delivery_attempts(delivery), many=True).data


# --- Views -----------------------------------------------------------------------------------


def _validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["staff: webhooks"])
class StaffWebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Where other systems receive our events. Reads need the view permission on webhook
    endpoints; writes the add, change or delete permission."""

    queryset = WebhookEndpoint.objects.all()
    lookup_value_regex = "[0-9]+"
    filterset_fields = {"is_active": ["exact"]}

    def get_queryset(self):
        return selectors.endpoints_with_channel().order_by("name", "id")

    def get_serializer_class(self):
        # For OPTIONS and the schema: the input of writes, the endpoint for reads.
        if self.action in ("create", "update", "partial_update"):
            return WebhookEndpointInputSerializer
        if self.action == "rotate_secret":
            return RotateSecretInputSerializer
        return WebhookEndpointOutputSerializer

    def _answer(self, endpoint: WebhookEndpoint, secret: str | None = None, **kwargs):
        endpoint = self.get_queryset().get(pk=endpoint.pk)
        if secret is None:
            return Response(WebhookEndpointOutputSerializer(endpoint).data, **kwargs)
        endpoint.secret = secret
        return Response(WebhookEndpointSecretOutputSerializer(endpoint).data, **kwargs)

    @extend_schema(
        request=WebhookEndpointInputSerializer,
        responses={201: WebhookEndpointSecretOutputSerializer},
    )
    def create(self, request):
        """Register an endpoint. The answer holds its signing secret: the only time it is shown."""
        d = _validated(WebhookEndpointInputSerializer, request.data)
        endpoint, secret = services.endpoint_create(**d)
        return self._answer(endpoint, secret, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=WebhookEndpointInputSerializer, responses=WebhookEndpointOutputSerializer
    )
    def update(self, request, pk=None, partial=False):
        d = _validated(WebhookEndpointInputSerializer, request.data, partial=partial)
        return self._answer(services.endpoint_update(endpoint=self.get_object(), **d))

    @extend_schema(
        request=WebhookEndpointInputSerializer, responses=WebhookEndpointOutputSerializer
    )
    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        services.endpoint_delete(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=RotateSecretInputSerializer, responses=WebhookEndpointSecretOutputSerializer
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="rotate-secret",
        permission_classes=[StaffChangePermissions],
    )
    def rotate_secret(self, request, pk=None):
        """A new signing secret, in this answer only; the old one also signs for `grace_hours`."""
        d = _validated(RotateSecretInputSerializer, request.data)
        endpoint, secret = services.endpoint_rotate_secret(
            endpoint=self.get_object(), grace=timedelta(hours=d["grace_hours"])
        )
        return self._answer(endpoint, secret)

    @extend_schema(request=None, responses=WebhookEndpointOutputSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def resume(self, request, pk=None):
        """Close the circuit breaker: the deliveries that waited are due now."""
        return self._answer(services.endpoint_resume(endpoint=self.get_object()))


class NotRetryable(Conflict):
    code = "not_retryable"


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)
    endpoint = django_filters.ModelChoiceFilter(queryset=WebhookEndpoint.objects.all())
    event_type = django_filters.CharFilter()

    class Meta:
        model = WebhookDelivery
        fields = ["status", "endpoint", "event_type"]


@extend_schema(tags=["staff: webhooks"])
class StaffWebhookDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The delivery log, newest first; a delivery's page lists its attempts."""

    queryset = WebhookDelivery.objects.all()
    lookup_value_regex = "[0-9]+"
    filterset_class = DeliveryFilter

    def get_queryset(self):
        return selectors.deliveries_with_endpoint().order_by("-created_at", "-id")

    def get_serializer_class(self):
        if self.action == "list":
            return WebhookDeliveryOutputSerializer
        return WebhookDeliveryDetailOutputSerializer

    @extend_schema(request=None, responses=WebhookDeliveryDetailOutputSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def retry(self, request, pk=None):
        """A dead letter or refused delivery: a fresh round of attempts, starting now. 409
        `not_retryable` for one that was delivered or is still being retried."""
        delivery = self.get_object()
        result = services.deliveries_retry(delivery_ids=[delivery.pk])
        if not result.retried:
            raise NotRetryable(
                _("Only dead letters and refused deliveries can be retried; this one is %(s)s.")
                % {"s": delivery.get_status_display()},
                status=delivery.status,
            )
        return Response(
            WebhookDeliveryDetailOutputSerializer(self.get_queryset().get(pk=delivery.pk)).data
        )
