"""Reads of endpoints and deliveries shared by the consumer, the admin, the API and the command."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from automation.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from automation.webhooks.payloads import ALL
from commerce.models import OutboxEvent

D = WebhookDelivery.Status


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 10))


def stale_claim_before(now: datetime) -> datetime:
    """A delivery claimed before this is taken to belong to a worker that died mid-request:
    no request of ours lasts twice the timeout."""
    return now - timedelta(seconds=2 * timeout_seconds())


def endpoints_for(event: OutboxEvent) -> list[WebhookEndpoint]:
    """Active endpoints subscribed to the event's type (or to "*") whose channel filter lets it
    through. An endpoint limited to a channel gets only events that name that channel: stock
    and catalogue events, which belong to no channel, are not sent to it.

    Matched in Python: endpoints are few, and SQLite (the embedded runtime) has no JSON
    containment lookup."""
    channel = (event.payload or {}).get("channel")
    return [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True).select_related("channel")
        if (event.type in endpoint.event_types or ALL in endpoint.event_types)
        and (endpoint.channel is None or endpoint.channel.code == channel)
    ]


def due_deliveries(now: datetime) -> QuerySet[WebhookDelivery]:
    """Deliveries a worker should attempt now: due and pending (and not handed to a worker in the
    last few seconds), or claimed by a worker that has since gone; never those of a paused or
    inactive endpoint, which wait for staff."""
    handed_off_before = now - timedelta(seconds=2 * timeout_seconds())
    return WebhookDelivery.objects.filter(
        Q(
            status=D.PENDING,
            next_attempt_at__lte=now,
        )
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=handed_off_before))
        | Q(status=D.DELIVERING, claimed_at__lt=stale_claim_before(now)),
        endpoint__is_active=True,
        endpoint__paused_at__isnull=True,
    )


def deliveries_with_endpoint() -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.select_related("endpoint", "endpoint__channel")


def delivery_attempts(delivery: WebhookDelivery) -> QuerySet[WebhookAttempt]:
    return delivery.attempt_log.order_by("-attempted_at", "-id")


def retryable_delivery_ids(*, endpoint: WebhookEndpoint | None = None) -> list[int]:
    """Dead letters and refused deliveries, of one endpoint or of all."""
    deliveries = WebhookDelivery.objects.filter(status__in=[D.DEAD, D.FAILED])
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return list(deliveries.order_by("id").values_list("id", flat=True))


def endpoints_with_channel() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.select_related("channel")
