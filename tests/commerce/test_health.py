"""Liveness and readiness (/health/live/, /health/ready/), on the real PostgreSQL and Redis."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from commerce import events
from commerce.health import heartbeat_record
from commerce.models import OutboxEvent, ProcessHeartbeat
from commerce.tasks import record_heartbeat
from tests.commerce.conftest import BROKER_QUEUE


@pytest.fixture
def fresh_heartbeats(db) -> None:
    heartbeat_record(process="worker", hostname="worker-1")
    heartbeat_record(process="beat", hostname="beat-1")


def age(process: str, seconds: int) -> None:
    ProcessHeartbeat.objects.filter(process=process).update(
        seen_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_liveness_answers_without_touching_any_dependency(https_client):
    # No `db` fixture: any database access in the request would raise.
    response = https_client.get("/health/live/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_liveness_answers_plain_http_probes_without_redirecting(client):
    response = client.get("/health/live/", HTTP_HOST="localhost")

    assert response.status_code == 200


def test_readiness_is_ok_with_fresh_heartbeats(https_client, fresh_heartbeats, settings):
    response = https_client.get("/health/ready/")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["failing"] == []
    checks = body["checks"]
    assert list(checks) == [
        "database",
        "broker",
        "cache",
        "worker",
        "beat",
        "outbox",
        "dead_letters",
    ]
    assert {name: check["status"] for name, check in checks.items()} == {
        "database": "ok",
        "broker": "ok",  # the suite's Redis (REDIS_URL)
        "cache": "skipped",  # the tests' cache is in-process memory
        "worker": "ok",
        "beat": "ok",
        "outbox": "ok",
        "dead_letters": "ok",
    }
    assert checks["worker"]["hostname"] == "worker-1"
    assert checks["worker"]["age_seconds"] <= 1
    assert checks["outbox"]["pending"] == 0
    assert checks["dead_letters"]["count"] == 0


@pytest.mark.parametrize("process", ["worker", "beat"])
def test_readiness_is_503_naming_a_stale_heartbeat(https_client, fresh_heartbeats, process):
    age(process, 121)

    response = https_client.get("/health/ready/")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["failing"] == [process]
    assert body["checks"][process]["status"] == "unavailable"
    assert body["checks"][process]["detail"] == (
        f"{process} last reported 121 s ago (allowed: 120 s)"
    )


def test_readiness_is_503_when_no_worker_ever_reported(https_client, db):
    heartbeat_record(process="beat")

    response = https_client.get("/health/ready/")

    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]
    assert response.json()["checks"]["worker"]["detail"] == "no worker has reported yet"


def test_readiness_is_503_when_an_event_waits_past_its_dispatch_time(
    https_client, fresh_heartbeats
):
    event = events.publish(type="test.stuck", subject_type="test", subject_id=1)
    long_ago = timezone.now() - timedelta(minutes=10)
    OutboxEvent.objects.filter(pk=event.pk).update(
        occurred_at=long_ago, next_attempt_at=long_ago + timedelta(seconds=30)
    )

    response = https_client.get("/health/ready/")

    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["outbox"]
    assert body["checks"]["outbox"]["pending"] == 1
    assert body["checks"]["outbox"]["oldest_due_seconds"] == 570
    assert body["checks"]["outbox"]["detail"].startswith("an event has waited 570 s past its")


def test_readiness_ignores_events_waiting_out_their_back_off(https_client, fresh_heartbeats):
    event = events.publish(type="test.backing_off", subject_type="test", subject_id=1)
    OutboxEvent.objects.filter(pk=event.pk).update(
        occurred_at=timezone.now() - timedelta(hours=1),
        attempts=5,
        next_attempt_at=timezone.now() + timedelta(minutes=10),
    )

    response = https_client.get("/health/ready/")

    assert response.status_code == 200
    assert response.json()["checks"]["outbox"] == {
        "pending": 1,
        "oldest_due_seconds": 0,
        "status": "ok",
        "seconds": response.json()["checks"]["outbox"]["seconds"],
    }


def test_readiness_reports_dead_letters_as_a_warning(https_client, fresh_heartbeats):
    for subject_id in (1, 2):
        event = events.publish(type="test.dead", subject_type="test", subject_id=subject_id)
        OutboxEvent.objects.filter(pk=event.pk).update(attempts=10, dead_lettered_at=timezone.now())

    response = https_client.get("/health/ready/")

    body = response.json()
    assert response.status_code == 200
    assert body["checks"]["dead_letters"]["status"] == "warning"
    assert body["checks"]["dead_letters"]["count"] == 2
    assert body["checks"]["dead_letters"]["detail"] == (
        "2 dead-lettered event(s): fix the consumer, then retry them in the admin"
    )
    assert body["checks"]["outbox"]["pending"] == 0


def test_readiness_is_503_naming_the_broker_while_its_redis_is_down(
    https_client, fresh_heartbeats, own_broker
):
    assert https_client.get("/health/ready/").status_code == 200

    own_broker.stop()
    down = https_client.get("/health/ready/")
    own_broker.start()
    back = https_client.get("/health/ready/")

    assert down.status_code == 503
    assert down.json()["failing"] == ["broker"]
    assert down.json()["checks"]["broker"]["detail"] == (
        "Unable to connect to Redis: Connection Error"
    )
    assert down.json()["checks"]["database"]["status"] == "ok"
    assert back.status_code == 200


def test_readiness_is_503_naming_the_cache_while_its_redis_is_down(
    https_client, fresh_heartbeats, own_broker, settings
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": own_broker.url.replace("/0", "/1"),
        }
    }
    assert https_client.get("/health/ready/").json()["checks"]["cache"]["status"] == "ok"

    own_broker.stop()
    down = https_client.get("/health/ready/")

    assert down.status_code == 503
    assert down.json()["failing"] == ["broker", "cache"]


@pytest.mark.django_db(transaction=True)
def test_heartbeat_task_from_beat_and_worker_makes_readiness_ok(
    https_client, broker_queue, embedded_worker
):
    assert https_client.get("/health/ready/").status_code == 503

    with embedded_worker():
        record_heartbeat.delay()  # what beat sends every 30 s
        deadline = time.monotonic() + 10
        while not ProcessHeartbeat.objects.filter(process="worker").exists():
            assert time.monotonic() < deadline, "the worker did not record its heartbeat"
            time.sleep(0.05)

    response = https_client.get("/health/ready/")
    assert response.status_code == 200, response.json()
    assert sorted(ProcessHeartbeat.objects.values_list("process", flat=True)) == ["beat", "worker"]
    assert broker_queue.llen(BROKER_QUEUE) == 0


def test_check_heartbeat_command_fails_on_a_stale_beat(fresh_heartbeats):
    from django.core.management import CommandError, call_command

    call_command("check_heartbeat", "beat")
    age("beat", 300)

    with pytest.raises(CommandError, match=r"beat last reported 300 s ago \(allowed: 120 s\)"):
        call_command("check_heartbeat", "beat")


def test_readiness_failure_logs_one_warning_line_and_no_error(
    https_client, fresh_heartbeats, caplog
):
    age("worker", 300)

    with caplog.at_level("INFO"):
        response = https_client.get("/health/ready/")

    assert response.status_code == 503
    problems = [(r.name, r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= 30]
    assert problems == [
        (
            "commerce.health",
            "WARNING",
            "Not ready: worker: worker last reported 300 s ago (allowed: 120 s)",
        )
    ]


def test_readiness_skips_the_broker_check_on_the_embedded_filesystem_broker(
    https_client, fresh_heartbeats, monkeypatch
):
    from commerce.celery import app as celery_app

    monkeypatch.setattr(celery_app.conf, "broker_url", "filesystem://")

    response = https_client.get("/health/ready/")

    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == {"status": "skipped"}
