"""Delivering to a real receiver: signatures, retries and their back-off, final refusals, dead
letters, the circuit breaker, secret rotation, the claim that keeps two workers from sending the
same attempt, the sweeper and the pruning of the log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from automation.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from automation.webhooks import backoff, services
from automation.webhooks.tasks import deliver_webhook
from commerce.models import OutboxEvent
from tests.automation_webhooks.conftest import (
    Answer,
    Receiver,
    delivery_make,
    endpoint_make,
    event_make,
    make_due,
)

D = WebhookDelivery.Status
pytestmark = pytest.mark.django_db


def _reload(delivery: WebhookDelivery) -> WebhookDelivery:
    return WebhookDelivery.objects.get(pk=delivery.pk)


def test_the_request_is_signed_as_standard_webhooks_say(receiver: Receiver):
    endpoint, secret = endpoint_make(receiver)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    event = event_make("order.paid", total="3780", currency="JPY")
    delivery = delivery_make(endpoint, event)

    assert services.delivery_attempt(delivery.pk) == D.SUCCEEDED

    [request] = receiver.requests
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == f"evt_{event.pk}"
    assert request.headers["user-agent"].startswith("UnifiedCommerce-Webhooks/")
    body = Webhook(secret).verify(request.body, request.headers)
    assert body["id"] == f"evt_{event.pk}"
    assert body["type"] == "order.paid"
    assert body["version"] == 1
    assert body["timestamp"].endswith("Z")
    assert body["data"] == {
        "order_id": 1,
        "channel": "web-jp",
        "total": "3780",
        "currency": "JPY",
    }
    # The same check by hand, as a receiver without the library would write it.
    msg = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
    expected = hmac.new(base64.b64decode(secret[6:]), msg + request.body, hashlib.sha256)
    assert (
        request.headers["webhook-signature"] == "v1," + base64.b64encode(expected.digest()).decode()
    )
    # Another secret does not verify.
    other = services.endpoint_create(name="x", url=receiver.url, event_types=["*"])[1]
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, request.headers)

    delivery = _reload(delivery)
    assert delivery.attempts == 1 and delivery.last_status_code == 200
    assert delivery.finished_at is not None and delivery.claimed_at is None
    [attempt] = delivery.attempt_log.all()
    assert attempt.succeeded and attempt.status_code == 200 and attempt.response_excerpt == "ok"


def test_a_server_error_is_retried_with_the_same_id_and_body(receiver: Receiver):
    receiver.answer(Answer(500, b"database down"), 200)
    endpoint, secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)

    before = timezone.now()
    assert services.delivery_attempt(delivery.pk) == D.PENDING
    waiting = _reload(delivery)
    # Full jitter under the first ceiling (30 s).
    assert before <= waiting.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    assert waiting.last_status_code == 500 and waiting.last_error == "HTTP 500"
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).consecutive_failures == 1
    # Not due yet: nothing is sent.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    assert services.delivery_attempt(delivery.pk) is None

    make_due(delivery)
    assert services.delivery_attempt(delivery.pk) == D.SUCCEEDED

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    Webhook(secret).verify(second.body, second.headers)
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("id"))
    assert [(a.status_code, a.succeeded) for a in attempts] == [(500, False), (200, True)]
    assert attempts[0].response_excerpt == "database down"
    assert _reload(delivery).attempts == 2
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).consecutive_failures == 0


def test_a_refusal_is_final(receiver: Receiver):
    receiver.answer(Answer(410, b"gone"))
    endpoint, _secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)

    assert services.delivery_attempt(delivery.pk) == D.FAILED
    make_due(delivery)
    assert services.delivery_attempt(delivery.pk) is None

    assert len(receiver.requests) == 1
    delivery = _reload(delivery)
    assert delivery.status == D.FAILED and delivery.attempts == 1
    assert delivery.last_status_code == 410 and delivery.finished_at is not None


def test_a_timeout_is_retried(receiver: Receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.answer(Answer(200, delay=1.5), 200)
    endpoint, _secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)

    assert services.delivery_attempt(delivery.pk) == D.PENDING
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code is None and not attempt.succeeded
    assert "Timeout" in attempt.error
    assert 450 <= attempt.latency_ms < 1500

    make_due(delivery)
    assert services.delivery_attempt(delivery.pk) == D.SUCCEEDED
    assert len(receiver.requests) == 2


def test_a_refused_connection_is_retried(settings):
    receiver = Receiver()  # bound, never serving: a port where nobody answers
    url = receiver.url
    receiver.server.server_close()
    endpoint, _secret = services.endpoint_create(name="down", url=url, event_types=["*"])
    delivery = delivery_make(endpoint)

    assert services.delivery_attempt(delivery.pk) == D.PENDING
    delivery = _reload(delivery)
    assert delivery.last_status_code is None and "Connection" in delivery.last_error


def test_retry_after_is_honoured_and_capped(receiver: Receiver):
    receiver.answer(
        Answer(429, headers={"Retry-After": "120"}),
        Answer(503, headers={"Retry-After": "86400"}),
    )
    endpoint, _secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)

    start = timezone.now()
    assert services.delivery_attempt(delivery.pk) == D.PENDING
    wait = _reload(delivery).next_attempt_at - start
    assert timedelta(seconds=119) <= wait <= timedelta(seconds=122)

    make_due(delivery)
    start = timezone.now()
    assert services.delivery_attempt(delivery.pk) == D.PENDING
    wait = _reload(delivery).next_attempt_at - start
    assert timedelta(minutes=59) <= wait <= timedelta(minutes=61)  # the 1 h cap


def test_retry_after_as_an_http_date():
    now = timezone.now()
    date = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert 88 <= backoff.retry_after_seconds(date, now=now) <= 90
    assert backoff.retry_after_seconds("soon", now=now) is None
    assert backoff.retry_after_seconds("", now=now) is None
    # The ceiling doubles from 30 s and stops at 1 h.
    assert [backoff.ceiling(n) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_dead_letter_after_the_retry_window_then_retried(receiver: Receiver, settings):
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 600
    receiver.answer(500, 502)
    endpoint, _secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)
    assert delivery.retry_until - delivery.created_at == timedelta(seconds=600)

    assert services.delivery_attempt(delivery.pk) == D.PENDING
    assert _reload(delivery).next_attempt_at <= delivery.retry_until
    # The window has passed.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now(), retry_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.delivery_attempt(delivery.pk) == D.DEAD
    dead = _reload(delivery)
    assert dead.attempts == 2 and dead.finished_at is not None and dead.last_status_code == 502
    # A late task changes nothing.
    assert deliver_webhook(delivery.pk) is None
    assert len(receiver.requests) == 2

    result = services.deliveries_retry(delivery_ids=[delivery.pk, 999999])
    assert result.retried == [delivery.pk] and result.skipped == [999999]
    retried = _reload(delivery)
    assert retried.status == D.PENDING and retried.attempts == 0 and retried.finished_at is None
    assert retried.retry_until > timezone.now() + timedelta(seconds=590)
    assert deliver_webhook(delivery.pk) == D.SUCCEEDED
    assert _reload(delivery).attempts == 1
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 3


def test_the_last_attempt_is_made_at_the_end_of_the_window(receiver: Receiver, settings):
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 1
    receiver.answer(500)
    endpoint, _secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=12)  # a ceiling of 1 h

    assert services.delivery_attempt(delivery.pk) == D.PENDING
    assert _reload(delivery).next_attempt_at == delivery.retry_until


def test_secret_rotation_signs_with_both_during_the_grace_period(receiver: Receiver):
    endpoint, old = endpoint_make(receiver)
    endpoint, new = services.endpoint_rotate_secret(endpoint=endpoint)
    assert new != old and new.startswith("whsec_")
    stored = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert stored.secret == new and stored.previous_secret == old
    assert stored.previous_secret_expires_at > timezone.now() + timedelta(hours=23)

    services.delivery_attempt(delivery_make(endpoint).pk)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)

    # The grace period is over: only the new secret signs.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    services.delivery_attempt(delivery_make(endpoint).pk)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


def test_the_circuit_breaker_pauses_the_endpoint_until_resumed(receiver: Receiver, settings):
    settings.WEBHOOK_BREAKER_THRESHOLD = 3
    receiver.answer(500, 500, 404)
    endpoint, _secret = endpoint_make(receiver)
    deliveries = [delivery_make(endpoint) for _ in range(4)]

    statuses = [services.delivery_attempt(d.pk) for d in deliveries[:3]]
    assert statuses == [D.PENDING, D.PENDING, D.FAILED]
    paused = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert paused.paused_at is not None and paused.consecutive_failures == 3
    assert "3 failed attempts in a row" in paused.pause_reason

    # Paused: nothing is attempted, nothing is dead-lettered, the sweeper leaves them.
    WebhookDelivery.objects.filter(pk=deliveries[0].pk).update(
        retry_until=timezone.now() - timedelta(hours=1)
    )
    for delivery in deliveries:
        make_due(delivery)
    assert [services.delivery_attempt(d.pk) for d in deliveries] == [None] * 4
    assert services.deliveries_due() == []
    assert len(receiver.requests) == 3
    assert _reload(deliveries[0]).status == D.PENDING

    resumed = services.endpoint_resume(endpoint=endpoint)
    assert resumed.paused_at is None and resumed.consecutive_failures == 0
    waiting = [d.pk for d in (deliveries[0], deliveries[1], deliveries[3])]
    assert sorted(services.deliveries_due()) == sorted(waiting)
    assert [services.delivery_attempt(pk) for pk in waiting] == [D.SUCCEEDED] * 3
    assert _reload(deliveries[2]).status == D.FAILED  # a refusal stays refused


def test_an_inactive_endpoint_is_not_sent_to(receiver: Receiver):
    endpoint, _secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)
    services.endpoint_update(endpoint=endpoint, is_active=False)
    assert services.delivery_attempt(delivery.pk) is None
    assert services.deliveries_due() == []
    assert receiver.requests == []


def test_the_sweeper_hands_each_due_delivery_over_once(receiver: Receiver, settings):
    endpoint, _secret = endpoint_make(receiver)
    due, later, stuck = (delivery_make(endpoint) for _ in range(3))
    WebhookDelivery.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    # A worker claimed this one and died mid-request.
    WebhookDelivery.objects.filter(pk=stuck.pk).update(
        status=D.DELIVERING, attempts=1, claimed_at=timezone.now() - timedelta(minutes=1)
    )

    assert sorted(services.deliveries_due()) == sorted([due.pk, stuck.pk])
    assert services.deliveries_due() == []  # handed off: not queued again at once
    assert _reload(stuck).status == D.PENDING
    assert services.delivery_attempt(stuck.pk) == D.SUCCEEDED
    assert _reload(stuck).attempts == 2


def test_a_fresh_claim_is_not_taken_over(receiver: Receiver):
    endpoint, _secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=D.DELIVERING, claimed_at=timezone.now()
    )
    assert services.delivery_attempt(delivery.pk) is None
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_attempt(receiver: Receiver):
    receiver.answer(Answer(200, delay=0.3))
    endpoint, _secret = endpoint_make(receiver)
    # Written directly: publish() would hand the event to the broker on this commit.
    event = OutboxEvent.objects.create(
        type="order.placed", subject_type="order", subject_id="1", payload={"order_id": 1}
    )
    delivery = delivery_make(endpoint, event)
    results = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            results.append(services.delivery_attempt(delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results, key=str) == [None, None, None, D.SUCCEEDED]
    assert len(receiver.requests) == 1
    assert _reload(delivery).attempts == 1


def test_pruning_keeps_recent_attempts_and_failures_longer(receiver: Receiver):
    endpoint, _secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)
    now = timezone.now()
    for days, succeeded in [(8, True), (2, True), (31, False), (10, False)]:
        WebhookAttempt.objects.create(
            delivery=delivery, attempted_at=now - timedelta(days=days), succeeded=succeeded
        )

    result = services.attempts_prune()

    assert (result.succeeded, result.failed) == (1, 1)
    left = WebhookAttempt.objects.filter(delivery=delivery)
    assert sorted((now - a.attempted_at).days for a in left) == [2, 10]


def test_pruning_works_in_batches(receiver: Receiver, settings):
    endpoint, _secret = endpoint_make(receiver)
    delivery = delivery_make(endpoint)
    old = timezone.now() - timedelta(days=40)
    WebhookAttempt.objects.bulk_create(
        [WebhookAttempt(delivery=delivery, attempted_at=old) for _ in range(2500)]
    )
    assert services.attempts_prune().failed == 2500
    assert not WebhookAttempt.objects.exists()


def test_the_retry_command(receiver: Receiver, capsys):
    endpoint, _secret = endpoint_make(receiver)
    dead, failed, done = (delivery_make(endpoint) for _ in range(3))
    WebhookDelivery.objects.filter(pk=dead.pk).update(status=D.DEAD)
    WebhookDelivery.objects.filter(pk=failed.pk).update(status=D.FAILED)
    WebhookDelivery.objects.filter(pk=done.pk).update(status=D.SUCCEEDED)

    call_command("webhook_retry", "--delivery", str(done.pk), "--endpoint", str(endpoint.pk))

    out = capsys.readouterr().out
    assert f"Retrying delivery {dead.pk}." in out and f"Retrying delivery {failed.pk}." in out
    assert f"left as they are: {done.pk}" in out and "Retried 2 delivery(ies)." in out
    assert _reload(dead).status == D.PENDING and _reload(done).status == D.SUCCEEDED


def test_the_body_is_the_exact_json_that_is_signed(receiver: Receiver):
    from decimal import Decimal

    endpoint, secret = endpoint_make(receiver)
    event = event_make("order.placed", total=Decimal("19.90"), name="宇治抹茶")
    services.delivery_attempt(delivery_make(endpoint, event).pk)
    [request] = receiver.requests
    assert json.loads(request.body)["data"]["total"] == "19.90"
    assert "宇治抹茶".encode() in request.body  # UTF-8, not \\u escapes
    Webhook(secret).verify(request.body, request.headers)
