"""Liveness and readiness: what a load balancer, an orchestrator or an operator asks.

`/health/live/` says the process answers, and touches nothing else. `/health/ready/` checks what
serving needs: PostgreSQL, the broker's Redis and the cache's (when they are Redis), that beat
and a worker have shown a sign of life lately, that no event waits for dispatch past its due
time (a stuck relay, or workers that cannot keep up), and how many events are dead-lettered.
The answer is JSON with each check's status; 503 when any check fails.

The sign of life: beat sends `commerce.record_heartbeat` every 30 s, and records its own
heartbeat as it publishes it; the worker that runs the task records the worker's. Both live in
the database, so that with Redis down readiness still tells which part is missing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import socket
from collections.abc import Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.views import HealthCheckView

from commerce.models import OutboxEvent, ProcessHeartbeat

logger = logging.getLogger(__name__)

HEARTBEAT_TASK = "commerce.record_heartbeat"


# --- Heartbeats -----------------------------------------------------------------------------


def heartbeat_record(*, process: str, hostname: str | None = None) -> None:
    """Record that `process` (worker or beat) is alive now."""
    ProcessHeartbeat.objects.update_or_create(
        process=process,
        defaults={"seen_at": timezone.now(), "hostname": hostname or socket.gethostname()},
    )


def _beat_publishes(sender: str | None = None, **kwargs: Any) -> None:
    # Only beat sends the heartbeat task, so publishing it is beat's sign of life. Recorded
    # before the publish: with the broker down beat is still alive, and the broker's own check
    # says what is wrong.
    if sender != HEARTBEAT_TASK:
        return
    try:
        heartbeat_record(process=ProcessHeartbeat.Process.BEAT)
    except Exception:
        logger.warning("Could not record beat's heartbeat", exc_info=True)


def connect_heartbeat_signal() -> None:
    from celery.signals import before_task_publish

    before_task_publish.connect(
        _beat_publishes, weak=False, dispatch_uid="commerce.health.beat_publishes"
    )


# --- Checks ---------------------------------------------------------------------------------


class _DatabaseCheck(HealthCheck):
    """A check that reads the database, on the request's own thread and connection."""

    async def run(self) -> None:
        await sync_to_async(self.check)()

    def check(self) -> None:
        raise NotImplementedError


@dataclasses.dataclass
class HeartbeatCheck(_DatabaseCheck):
    """Fails when `process` has not recorded a heartbeat for HEALTH_HEARTBEAT_MAX_AGE_SECONDS."""

    process: str
    info: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def check(self) -> None:
        max_age = settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS
        row = ProcessHeartbeat.objects.filter(process=self.process).first()
        if row is None:
            raise ServiceUnavailable(f"no {self.process} has reported yet")
        age = (timezone.now() - row.seen_at).total_seconds()
        self.info = {"age_seconds": round(age), "hostname": row.hostname}
        if age > max_age:
            raise ServiceUnavailable(
                f"{self.process} last reported {age:.0f} s ago (allowed: {max_age} s)"
            )


@dataclasses.dataclass
class OutboxCheck(_DatabaseCheck):
    """Fails when an event has been due for dispatch longer than HEALTH_OUTBOX_MAX_DELAY_SECONDS.

    Events waiting out the back-off after a failed consumer are not due yet, so they do not
    count; dead letters are reported by `DeadLetterCheck`.
    """

    info: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def check(self) -> None:
        now = timezone.now()
        max_delay = settings.HEALTH_OUTBOX_MAX_DELAY_SECONDS
        pending = OutboxEvent.objects.filter(
            dispatched_at__isnull=True, dead_lettered_at__isnull=True
        )
        oldest_due = (
            pending.filter(next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        delay = (now - oldest_due).total_seconds() if oldest_due else 0.0
        self.info = {"pending": pending.count(), "oldest_due_seconds": round(delay)}
        if delay > max_delay:
            raise ServiceUnavailable(
                f"an event has waited {delay:.0f} s past its dispatch time (allowed: "
                f"{max_delay} s): is the relay (beat) or the worker stuck?"
            )


@dataclasses.dataclass
class DeadLetterCheck(_DatabaseCheck):
    """Reports dead-lettered events as a warning: they need staff, not a restart."""

    info: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def check(self) -> None:
        count = OutboxEvent.objects.filter(
            dispatched_at__isnull=True, dead_lettered_at__isnull=False
        ).count()
        self.info = {"count": count}
        if count:
            raise ServiceWarning(
                f"{count} dead-lettered event(s): fix the consumer, then retry them in the admin"
            )


def _redis_url(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


def readiness_checks() -> Iterator[tuple[str, HealthCheck | None]]:
    """Each readiness check by name; None for one that does not apply to this set-up."""
    from commerce.celery import app  # kernel composition module; imported late to avoid a cycle

    timeout = datetime.timedelta(seconds=settings.HEALTH_CHECK_TIMEOUT_SECONDS)
    checks: list[tuple[str, HealthCheck | None]] = [("database", Database())]

    broker_url = app.conf.broker_url or ""
    broker = None
    if _redis_url(broker_url):
        from redis.asyncio import Redis as RedisClient

        seconds = timeout.total_seconds()
        broker = Redis(
            client_factory=lambda: RedisClient.from_url(
                broker_url, socket_connect_timeout=seconds, socket_timeout=seconds
            )
        )
    checks.append(("broker", broker))  # None on the embedded filesystem broker

    cache_backend = settings.CACHES["default"]["BACKEND"]
    shared_cache = not cache_backend.endswith(("LocMemCache", "DummyCache"))
    checks.append(("cache", Cache(timeout=timeout) if shared_cache else None))

    checks += [
        ("worker", HeartbeatCheck(process=ProcessHeartbeat.Process.WORKER)),
        ("beat", HeartbeatCheck(process=ProcessHeartbeat.Process.BEAT)),
        ("outbox", OutboxCheck()),
        ("dead_letters", DeadLetterCheck()),
    ]
    for _, check in checks:
        if check is not None:
            check.timeout = timeout
    return iter(checks)


# --- Views ----------------------------------------------------------------------------------


@never_cache
def liveness(request: HttpRequest) -> JsonResponse:
    """The process answers. Nothing else is checked: a restart would not fix a dependency."""
    return JsonResponse({"status": "ok"})


class ReadinessView(HealthCheckView):
    """Every readiness check, run concurrently; 503 when any is unavailable."""

    async def get(self, request, *args, **kwargs):
        named = [(name, check) for name, check in readiness_checks()]
        with self.get_executor() as executor:
            results = await asyncio.gather(
                *(check.get_result(executor) for _, check in named if check is not None)
            )
        by_check = {id(result.check): result for result in results}
        report: dict[str, dict[str, Any]] = {}
        ready = True
        for name, check in named:
            if check is None:
                report[name] = {"status": "skipped"}
                continue
            result = by_check[id(check)]
            entry: dict[str, Any] = dict(getattr(check, "info", {}))
            if result.error is None:
                entry["status"] = "ok"
            elif isinstance(result.error, ServiceWarning):
                entry["status"] = "warning"
                entry["detail"] = result.error.message
            else:
                entry["status"] = "unavailable"
                entry["detail"] = result.error.message
                ready = False
            entry["seconds"] = round(result.time_taken, 3)
            report[name] = entry
        failing = [name for name, entry in report.items() if entry["status"] == "unavailable"]
        response = JsonResponse(
            {"status": "ok" if ready else "unavailable", "failing": failing, "checks": report},
            status=200 if ready else 503,
        )
        if failing:
            # One line per probe, not Django's "Service Unavailable" error (with the error
            # reporter on, a probe every few seconds during an outage would flood it).
            logger.warning(
                "Not ready: %s",
                "; ".join(f"{name}: {report[name]['detail']}" for name in failing),
            )
            response._has_been_logged = True
        return response


readiness = ReadinessView.as_view()
