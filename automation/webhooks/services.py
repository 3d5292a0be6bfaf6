"""Webhook writes: endpoints and their secrets, one delivery attempt, retries, the sweeper's
claim and the pruning of the attempt log.

A delivery is attempted outside any transaction: the row is claimed with one conditional
UPDATE (so two workers never send the same attempt), the request is made with no lock held,
and the outcome is written afterwards. Secrets are returned to the caller that creates or
rotates them and never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from automation.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from automation.webhooks import backoff, payloads, selectors, signing, transport
from commerce.errors import ValidationFailed
from commerce.events import publish
from commerce.models import Channel, OutboxEvent

logger = logging.getLogger(__name__)

D = WebhookDelivery.Status
USER_AGENT = "UnifiedCommerce-Webhooks/1"
ENDPOINT_FIELDS = ("name", "url", "event_types", "channel", "is_active")
_url_validator = URLValidator(schemes=["http", "https"])


# --- Endpoints -------------------------------------------------------------------------------


def endpoint_validate(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields cleaned (names stripped, types without repeats), or ValidationFailed."""
    errors: dict[str, list[str]] = {}
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
        if not fields["name"]:
            errors["name"] = [_("Give the endpoint a name.")]
    if "url" in fields:
        try:
            _url_validator(fields["url"] or "")
        except ValidationError:
            errors["url"] = [_("Give an http:// or https:// address.")]
    if "event_types" in fields:
        types = list(dict.fromkeys(fields["event_types"] or []))
        unknown = [t for t in types if t != payloads.ALL and t not in payloads.CATALOGUE]
        if not types:
            errors["event_types"] = [_('Choose at least one event type, or "*" for all.')]
        elif unknown:
            errors["event_types"] = [
                _("Unknown event types: %(types)s.") % {"types": ", ".join(map(str, unknown))}
            ]
        fields["event_types"] = types
    if errors:
        raise ValidationFailed(errors)
    return fields


@transaction.atomic
def endpoint_create(
    *,
    name: str,
    url: str,
    event_types: list[str],
    channel: Channel | None = None,
    is_active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret in plain text: the only time anyone sees it."""
    fields = endpoint_validate({"name": name, "url": url, "event_types": event_types})
    secret = signing.secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        **fields, channel=channel, is_active=is_active, secret=secret
    )
    logger.info("Webhook endpoint %s created for %s", endpoint.pk, fields["event_types"])
    return endpoint, secret


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, **fields: Any) -> WebhookEndpoint:
    unknown = set(fields) - set(ENDPOINT_FIELDS)
    if unknown:
        raise TypeError(f"unknown endpoint fields: {sorted(unknown)}")
    fields = endpoint_validate(fields)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=list(fields) or None)
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The endpoint goes with its deliveries and their log (nothing is left to send them to)."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()


@transaction.atomic
def endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, grace: timedelta = timedelta(hours=24)
) -> tuple[WebhookEndpoint, str]:
    """A new secret, returned in plain text once. For `grace` the old one signs too (both
    signatures go in webhook-signature), so the receiver can switch without losing requests."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = signing.secret_generate()
    now = timezone.now()
    if grace > timedelta(0):
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + grace
    else:
        endpoint.previous_secret, endpoint.previous_secret_expires_at = "", None
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    logger.info("Webhook endpoint %s: secret rotated (grace %s)", endpoint.pk, grace)
    return endpoint, secret


@transaction.atomic
def endpoint_resume(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Close the circuit breaker. The deliveries that waited are due now, with a fresh retry
    window: the time they spent waiting was not the receiver's to use up."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.paused_at, endpoint.pause_reason, endpoint.consecutive_failures = None, "", 0
    endpoint.save(update_fields=["paused_at", "pause_reason", "consecutive_failures"])
    now = timezone.now()
    waiting = WebhookDelivery.objects.filter(endpoint=endpoint, status=D.PENDING)
    ids = list(waiting.values_list("id", flat=True))
    waiting.update(next_attempt_at=now, retry_until=now + backoff.retry_window(), claimed_at=None)
    deliveries_enqueue_on_commit(ids)
    return endpoint


@transaction.atomic
def endpoint_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a `webhook.ping` to this endpoint only: a signed request that shows the receiver
    and its signature check work. It is delivered (and logged) like any other event."""
    event = publish(
        type=payloads.PING,
        subject_type="webhook_endpoint",
        subject_id=endpoint.pk,
        payload={"endpoint": endpoint.name, "message": _("A test from the back office.")},
    )
    delivery = delivery_create(endpoint=endpoint, event=event)
    deliveries_enqueue_on_commit([delivery.pk])
    return delivery


# --- Deliveries ------------------------------------------------------------------------------


def _new_delivery(endpoint: WebhookEndpoint, event: OutboxEvent, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        endpoint=endpoint,
        event=event,
        event_type=event.type,
        next_attempt_at=now,
        retry_until=now + backoff.retry_window(),
        created_at=now,
    )


def delivery_create(*, endpoint: WebhookEndpoint, event: OutboxEvent) -> WebhookDelivery:
    delivery = _new_delivery(endpoint, event, timezone.now())
    delivery.save()
    return delivery


def deliveries_for_event(event: OutboxEvent) -> list[int]:
    """One pending delivery per endpoint the event is for; none twice (the unique constraint
    decides, so a second dispatch of the event, even a concurrent one, adds nothing). Returns
    the ids of the deliveries created now."""
    endpoints = selectors.endpoints_for(event)
    if not endpoints:
        return []
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [_new_delivery(endpoint, event, now) for endpoint in endpoints], ignore_conflicts=True
    )
    # ignore_conflicts gives back no ids; the rows of this dispatch are those created now.
    return list(
        WebhookDelivery.objects.filter(
            event=event, endpoint__in=endpoints, created_at=now, attempts=0
        ).values_list("id", flat=True)
    )


def deliveries_enqueue(delivery_ids: Iterable[int]) -> int:
    """Hand deliveries to the webhooks queue. Never raises: with the broker down they stay
    pending and the sweeper (`deliveries_due`) hands them over later. Returns how many went.

    Connects at most once, as `commerce.events.send_to_broker` does, so a request or a
    dispatch never waits on kombu's retries."""
    from automation.webhooks.tasks import deliver_webhook  # the tasks call this module
    from commerce.celery import app

    ids = list(delivery_ids)
    if not ids:
        return 0
    timeout = settings.OUTBOX_PUBLISH_TIMEOUT
    sent = 0
    try:
        with app.pool.acquire(block=True, timeout=timeout) as connection:
            connection.ensure_connection(max_retries=0)
            for delivery_id in ids:
                deliver_webhook.apply_async(
                    args=[delivery_id],
                    queue="webhooks",
                    connection=connection,
                    retry=False,
                    timeout=timeout,
                )
                sent += 1
    except Exception as exc:  # the broker is down or slow: the sweeper will pick them up
        logger.warning("%s webhook deliveries left to the sweeper: %s", len(ids) - sent, exc)
    return sent


def deliveries_enqueue_on_commit(delivery_ids: list[int]) -> None:
    if delivery_ids:
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids))


@dataclass(frozen=True)
class RetryResult:
    retried: list[int]
    skipped: list[int]  # neither dead nor refused: delivered, or still being retried


@transaction.atomic
def deliveries_retry(*, delivery_ids: Iterable[int]) -> RetryResult:
    """Give dead letters and refused deliveries a fresh round of attempts, starting now (the
    attempt count starts again, the log keeps the earlier ones). The rows are locked so two
    retries cannot race; after commit they are handed to the workers. A delivery of a paused
    endpoint waits for the endpoint to be resumed."""
    wanted = sorted(set(delivery_ids))
    ids = list(
        WebhookDelivery.objects.select_for_update()
        .filter(pk__in=wanted, status__in=[D.DEAD, D.FAILED])
        .order_by("id")
        .values_list("id", flat=True)
    )
    now = timezone.now()
    WebhookDelivery.objects.filter(pk__in=ids).update(
        status=D.PENDING,
        attempts=0,
        next_attempt_at=now,
        retry_until=now + backoff.retry_window(),
        claimed_at=None,
        finished_at=None,
    )
    deliveries_enqueue_on_commit(ids)
    return RetryResult(retried=ids, skipped=sorted(set(wanted) - set(ids)))


def deliveries_due(*, batch: int = 100) -> list[int]:
    """For the beat sweeper: claim up to `batch` due deliveries and hand them to the workers
    after commit. SKIP LOCKED keeps two sweepers from taking the same rows; a claimed row is
    marked handed-off (`claimed_at`), so the next sweep does not queue it again while it waits
    in the queue. A row left `delivering` by a worker that died is made pending again."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            selectors.due_deliveries(now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:batch]
        )
        WebhookDelivery.objects.filter(pk__in=ids, status=D.PENDING).update(claimed_at=now)
        WebhookDelivery.objects.filter(pk__in=ids, status=D.DELIVERING).update(
            status=D.PENDING, next_attempt_at=now, claimed_at=now
        )
        deliveries_enqueue_on_commit(ids)
    return ids


# --- One attempt -----------------------------------------------------------------------------


def _claim(delivery_id: int, now: datetime) -> bool:
    """One conditional UPDATE on the delivery's own columns: PostgreSQL re-checks them on the
    row a concurrent claim just changed, so exactly one worker gets it."""
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id)
        .filter(
            Q(status=D.PENDING, next_attempt_at__lte=now)
            | Q(status=D.DELIVERING, claimed_at__lt=selectors.stale_claim_before(now))
        )
        .update(status=D.DELIVERING, claimed_at=now, attempts=F("attempts") + 1)
    )


def _request(endpoint: WebhookEndpoint, event: OutboxEvent) -> transport.Outcome:
    body = payloads.body(event)
    msg_id = payloads.message_id(event.pk)
    now = timezone.now()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signing.signature_header(
            signing.signing_secrets(endpoint, now=now), msg_id=msg_id, timestamp=now, body=body
        ),
    }
    return transport.post(
        endpoint.url, body=body, headers=headers, timeout=selectors.timeout_seconds()
    )


def _retryable(outcome: transport.Outcome) -> bool:
    # No answer (timeout, refused, reset), throttled, or the receiver's own trouble. 408 is a
    # timeout on the receiver's side. Any other 4xx is the receiver refusing this request:
    # sending the same bytes again would get the same answer.
    status = outcome.status
    return status is None or status in (408, 429) or status >= 500


def _error_text(outcome: transport.Outcome) -> str:
    if outcome.error:
        return outcome.error
    if 300 <= outcome.status < 400:
        return _("HTTP %(status)s: redirects are not followed; give the final address.") % {
            "status": outcome.status
        }
    return _("HTTP %(status)s") % {"status": outcome.status}


def _count_failure(endpoint: WebhookEndpoint, error: str, now: datetime) -> bool:
    """One more failure in a row; at WEBHOOK_BREAKER_THRESHOLD the endpoint is paused. Counted
    in the database, as concurrent attempts fail together. True when the endpoint is paused."""
    threshold = getattr(settings, "WEBHOOK_BREAKER_THRESHOLD", 20)
    trips = When(paused_at__isnull=True, consecutive_failures__gte=threshold - 1, then=Value(now))
    reason = _("Paused after %(count)d failed attempts in a row. Last: %(error)s") % {
        "count": threshold,
        "error": error,
    }
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=F("consecutive_failures") + 1,
        paused_at=Case(trips, default=F("paused_at")),
        pause_reason=Case(
            When(
                paused_at__isnull=True,
                consecutive_failures__gte=threshold - 1,
                then=Value(reason[:250]),
            ),
            default=F("pause_reason"),
        ),
    )
    paused_at = WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list("paused_at", flat=True)
    paused_at = paused_at.first()
    if paused_at == now:
        logger.warning("Webhook endpoint %s paused by the circuit breaker", endpoint.pk)
    return paused_at is not None


def _record(delivery: WebhookDelivery, outcome: transport.Outcome, *, claimed_at: datetime) -> str:
    now = timezone.now()
    succeeded = outcome.status is not None and 200 <= outcome.status < 300
    error = "" if succeeded else _error_text(outcome)
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=claimed_at,
            status_code=outcome.status,
            latency_ms=outcome.latency_ms,
            response_excerpt=outcome.excerpt,
            error=error[:500],
            succeeded=succeeded,
        )
        endpoint = delivery.endpoint
        change: dict[str, Any] = {
            "claimed_at": None,
            "last_status_code": outcome.status,
            "last_error": error[:500],
        }
        if succeeded:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
            change.update(status=D.SUCCEEDED, finished_at=now)
        else:
            paused = _count_failure(endpoint, error, now)
            deadline = delivery.retry_until or delivery.created_at + backoff.retry_window()
            if not _retryable(outcome):
                change.update(status=D.FAILED, finished_at=now)
            elif now >= deadline and not paused:
                change.update(status=D.DEAD, finished_at=now)
            else:
                # The last attempt of a window is made at its end; a paused endpoint's
                # deliveries wait for staff whatever the window says.
                delay = backoff.retry_delay(
                    delivery.attempts, retry_after=outcome.retry_after, now=now
                )
                at = now + delay if paused else min(now + delay, deadline)
                change.update(status=D.PENDING, next_attempt_at=at)
        # Only the claim this worker holds: had it been taken over as stale meanwhile, the
        # newer attempt decides the state and this one stays in the log.
        updated = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=D.DELIVERING, claimed_at=claimed_at
        ).update(**change)
    status = change.get("status", D.DELIVERING)
    log = logger.info if succeeded else logger.warning
    log(
        "Webhook delivery %s (event %s, endpoint %s) attempt %s: %s -> %s%s",
        delivery.pk,
        delivery.event_id,
        endpoint.pk,
        delivery.attempts,
        outcome.status or error,
        status,
        "" if updated else " (claim taken over; state left to the newer attempt)",
    )
    return status


def delivery_attempt(delivery_id: int) -> str | None:
    """Make the next attempt of a delivery if it is due and no other worker has it. Returns
    the delivery's status afterwards, or None when there was nothing to do (not due, taken,
    finished, or its endpoint paused or inactive: those wait and are not dead-lettered)."""
    now = timezone.now()
    delivery = selectors.deliveries_with_endpoint().filter(pk=delivery_id).first()
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.is_active or endpoint.paused_at is not None:
        return None
    if not _claim(delivery_id, now):
        return None
    delivery.refresh_from_db(fields=["attempts", "retry_until", "status"])
    event = OutboxEvent.objects.get(pk=delivery.event_id)
    outcome = _request(endpoint, event)
    return _record(delivery, outcome, claimed_at=now)


# --- The log's retention ---------------------------------------------------------------------


@dataclass(frozen=True)
class PruneResult:
    succeeded: int
    failed: int


def _delete_in_batches(attempts, size: int = 1000) -> int:
    # Small batches: each is a short transaction, so pruning a large log never holds locks
    # (or a huge DELETE) for long.
    deleted = 0
    while True:
        ids = list(attempts.order_by("id").values_list("id", flat=True)[:size])
        if not ids:
            return deleted
        deleted += WebhookAttempt.objects.filter(pk__in=ids).delete()[0]


def attempts_prune() -> PruneResult:
    """Forget successful attempts after WEBHOOK_KEEP_SUCCEEDED_DAYS (7) and failed ones after
    WEBHOOK_KEEP_FAILED_DAYS (30): failures are what staff come back to investigate. The
    deliveries stay, with their last status."""
    now = timezone.now()
    keep_ok = timedelta(days=getattr(settings, "WEBHOOK_KEEP_SUCCEEDED_DAYS", 7))
    keep_failed = timedelta(days=getattr(settings, "WEBHOOK_KEEP_FAILED_DAYS", 30))
    result = PruneResult(
        succeeded=_delete_in_batches(
            WebhookAttempt.objects.filter(succeeded=True, attempted_at__lt=now - keep_ok)
        ),
        failed=_delete_in_batches(
            WebhookAttempt.objects.filter(succeeded=False, attempted_at__lt=now - keep_failed)
        ),
    )
    logger.info("Pruned webhook attempts: %s succeeded, %s failed", *result.__dict__.values())
    return result
