"""Messages and webhooks: events through dispatch → message rendering → the e-mail backend, and
webhook deliveries to a local receiver, with a real Celery worker pool as in production.

No HTTP server of ours. The runner (this process) publishes events as the services do (one
transaction each, handed to the broker after commit); a `celery -A commerce worker
--concurrency=4` subprocess on the same Redis and PostgreSQL dispatches them, writes the
message and delivery rows, renders and hands each message to Django's locmem e-mail backend,
and posts each delivery to a receiver in this process (a threaded HTTP server answering 204).
Three phases, in the same run on the same worker:

1. baseline: N events of a type no consumer takes (`bench.noop`), published as fast as the
   runner can: the raw OutboxEvent dispatch rate (events/s from the first commit to the last
   dispatch);
2. throughput: N `order.placed` events (payloads of the seeded orders, taken in turn, each
   event its own: N confirmations and N deliveries): messages/s and deliveries/s;
3. latency: `--rate` (50) `order.placed` events per second for N / 5 events (at least 500):
   p50/p95/p99 from the event's commit to the hand-over to the e-mail backend (the message's
   `sent_at`) and to the receiver's answer (the delivery's `finished_at`).

Target (issue #14): p95 commit → handed to the provider under 2 s at 50 orders/s, and
messages/s ÷ dispatch/s at least 0.5.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench import lib

NAME = "messages"
NEEDS_CATALOGUE = True  # the seeded orders are what the messages are rendered over
USES_PGBENCH_S = False  # its baseline is the raw event dispatch rate of the same run
QUICK_EVENTS = 1000
FULL_EVENTS = 10000
WORKER_CONCURRENCY = int(os.environ.get("BENCH_MESSAGES_CONCURRENCY", "4"))  # as docker-compose
RATE = 50.0
DRAIN_TIMEOUT = 900.0
P95_TARGET_MS = 2000.0
RATIO_TARGET = 0.5


class _Receiver(BaseHTTPRequestHandler):
    received = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with _Receiver.lock:
            _Receiver.received += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _events(options) -> int:
    return QUICK_EVENTS if options.quick else FULL_EVENTS


def prepare(options) -> lib.Plan:
    from orders.models import Order

    orders = Order.objects.exclude(number=None).exclude(email="").count()
    if not orders:
        raise lib.BenchError("messages: the seeded database has no orders with an e-mail")
    info = {"events": _events(options), "orders_rendered": orders, "rate": RATE}
    return lib.Plan(workloads=[], sweep=None, checks=[], profile_paths=[], info=info)


# --- the worker -------------------------------------------------------------------------------


def _start_worker(log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
        "OUTBOX_RELAY_GRACE_SECONDS": "30",
    }
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "commerce",
            "worker",
            f"--concurrency={WORKER_CONCURRENCY}",
            "--loglevel=INFO",
            f"--hostname=bench-messages-{os.getpid()}@%h",
        ],
        cwd=lib.REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise lib.BenchError(
                f"messages: the worker did not start:\n{log_path.read_text()[-2000:]}"
            )
        time.sleep(0.2)
    return process


def _stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# --- publishing and waiting -------------------------------------------------------------------


def _publish(event_type: str, payloads: list[dict], count: int, *, rate: float | None) -> list[int]:
    """`count` events, each in its own transaction as a service writes one; paced at `rate`
    per second when given."""
    from django.db import transaction

    from commerce.events import publish

    ids = []
    started = time.perf_counter()
    for index in range(count):
        payload = payloads[index % len(payloads)]
        with transaction.atomic():
            event = publish(
                type=event_type,
                subject_type="order",
                subject_id=payload.get("order_id", 0),
                payload=payload,
            )
        ids.append(event.pk)
        if rate:
            ahead = started + (index + 1) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    lib.log(f"    published {count:,} in {time.perf_counter() - started:.1f} s")
    return ids


def _wait(label: str, done, total: int) -> float:
    """Poll `done()` (a count) until it reaches `total`; returns the seconds waited."""
    started = time.perf_counter()
    last_report = started
    while True:
        count = done()
        if count >= total:
            return time.perf_counter() - started
        now = time.perf_counter()
        if now - started > DRAIN_TIMEOUT:
            raise lib.BenchError(
                f"messages: {label}: only {count:,} of {total:,} after {DRAIN_TIMEOUT:.0f} s"
            )
        if now - last_report > 10:
            lib.log(f"    {label}: {count:,} of {total:,}")
            last_report = now
        time.sleep(0.25)


def _drain(event_ids: list[int]) -> None:
    """Wait until every event is dispatched, then until each message and delivery it made is
    done (sent or given up: failed, suppressed, dead)."""
    from automation.models import Message, WebhookDelivery
    from commerce.models import OutboxEvent

    low, high = min(event_ids), max(event_ids)
    _wait(
        "events dispatched",
        lambda: OutboxEvent.objects.filter(
            pk__gte=low, pk__lte=high, dispatched_at__isnull=False
        ).count(),
        len(event_ids),
    )
    messages = Message.objects.filter(event_id__gte=low, event_id__lte=high)
    deliveries = WebhookDelivery.objects.filter(event_id__gte=low, event_id__lte=high)
    expected_messages, expected_deliveries = messages.count(), deliveries.count()
    if expected_messages != len(event_ids) or expected_deliveries != len(event_ids):
        lib.log(
            f"    {expected_messages:,} messages and {expected_deliveries:,} deliveries for {len(event_ids):,} events"
        )
    _wait(
        "messages sent",
        lambda: messages.exclude(status__in=["queued", "sending"]).count(),
        expected_messages,
    )
    _wait(
        "deliveries made",
        lambda: deliveries.exclude(status__in=["pending", "delivering"]).count(),
        expected_deliveries,
    )


def _span_rate(first_ids: list[int], sql: str) -> tuple[float, float]:
    """(items/s, seconds) from the first event's commit to the last item's time, by `sql`
    returning (count, first occurred_at, last finish) for the events in `first_ids`."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, [min(first_ids), max(first_ids)])
        count, first, last = cursor.fetchone()
    seconds = (last - first).total_seconds()
    return (count / seconds if seconds > 0 else float("nan")), seconds


def _latencies(ids: list[int], sql: str) -> list[float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, [min(ids), max(ids)])
        return sorted(float(row[0]) for row in cursor.fetchall())


DISPATCH_SPAN = """
    SELECT count(*), min(occurred_at), max(dispatched_at) FROM commerce_outboxevent
    WHERE id BETWEEN %s AND %s AND dispatched_at IS NOT NULL"""
MESSAGE_SPAN = """
    SELECT count(*), min(e.occurred_at), max(m.sent_at) FROM automation_message m
    JOIN commerce_outboxevent e ON e.id = m.event_id
    WHERE m.event_id BETWEEN %s AND %s AND m.status = 'sent'"""
DELIVERY_SPAN = """
    SELECT count(*), min(e.occurred_at), max(d.finished_at) FROM automation_webhookdelivery d
    JOIN commerce_outboxevent e ON e.id = d.event_id
    WHERE d.event_id BETWEEN %s AND %s AND d.status = 'succeeded'"""
MESSAGE_LATENCY = """
    SELECT extract(epoch FROM m.sent_at - e.occurred_at) * 1000 FROM automation_message m
    JOIN commerce_outboxevent e ON e.id = m.event_id
    WHERE m.event_id BETWEEN %s AND %s AND m.status = 'sent'"""
DELIVERY_LATENCY = """
    SELECT extract(epoch FROM d.finished_at - e.occurred_at) * 1000 FROM automation_webhookdelivery d
    JOIN commerce_outboxevent e ON e.id = d.event_id
    WHERE d.event_id BETWEEN %s AND %s AND d.status = 'succeeded'"""


def _cleanup(event_ids: list[int]) -> None:
    """The run's rows go, so a second run measures the same tables."""
    from automation.models import Message
    from commerce.models import OutboxEvent

    for start in range(0, len(event_ids), 2000):
        chunk = event_ids[start : start + 2000]
        Message.objects.filter(event_id__in=chunk).delete()
        OutboxEvent.objects.filter(pk__in=chunk).delete()  # deliveries, attempts, receipts cascade


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def run_in_process(args, plan: lib.Plan) -> tuple[dict, str, bool]:
    from automation.models import WebhookEndpoint
    from automation.webhooks.services import endpoint_create
    from commerce.models import OutboxEvent
    from orders.core.records import order_payload
    from orders.models import Order

    events = plan.info["events"]
    database_pid = lib.postgres_postmaster_pid()
    latency_events = max(500, events // 5)
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_port}/bench-receiver/"
    WebhookEndpoint.objects.filter(name="bench receiver").delete()
    endpoint, _secret = endpoint_create(
        name="bench receiver", url=url, event_types=["order.placed"]
    )
    # The marketplace sends its own confirmations (the demo switches ours off there): every
    # event of the run is then exactly one message and one delivery.
    orders = list(
        Order.objects.exclude(number=None)
        .exclude(email="")
        .exclude(channel__kind="marketplace")
        .select_related("channel", "pickup_location")
        .prefetch_related("lines")
        .order_by("pk")[:200]
    )
    payloads = [order_payload(order) for order in orders]
    all_ids: list[int] = []
    log_path = Path(lib.REPO_ROOT) / "bench" / "results" / "messages-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lib.log(
        f"messages: starting a celery worker (concurrency {WORKER_CONCURRENCY}); log {log_path}"
    )
    from commerce.celery import app

    # The seed handed every event it dispatched in process to the broker as well; a worker
    # would first work through those no-ops, inside the measurement.
    purged = app.control.purge()
    lib.log(f"messages: {purged:,} stale task(s) purged from the broker")
    worker = _start_worker(log_path)
    try:
        lib.log(f"messages: baseline, {events:,} bench.noop events published flat out")
        base_ids = _publish("bench.noop", payloads, events, rate=None)
        all_ids += base_ids
        _wait(
            "dispatched",
            lambda: OutboxEvent.objects.filter(
                pk__in=base_ids, dispatched_at__isnull=False
            ).count(),
            events,
        )
        dispatch_rate, dispatch_seconds = _span_rate(base_ids, DISPATCH_SPAN)

        lib.log(f"messages: throughput, {events:,} order.placed events published flat out")
        before = lib.CpuSnapshot.take(worker.pid, database_pid)
        flood_ids = _publish("order.placed", payloads, events, rate=None)
        all_ids += flood_ids
        _drain(flood_ids)
        flood_cpu = lib.CpuUsage.between(before, lib.CpuSnapshot.take(worker.pid, database_pid))
        placed_rate, _placed_seconds = _span_rate(flood_ids, DISPATCH_SPAN)
        message_rate, message_seconds = _span_rate(flood_ids, MESSAGE_SPAN)
        delivery_rate, delivery_seconds = _span_rate(flood_ids, DELIVERY_SPAN)

        lib.log(f"messages: latency, {latency_events:,} order.placed events at {RATE:.0f}/s")
        paced_ids = _publish("order.placed", payloads, latency_events, rate=RATE)
        all_ids += paced_ids
        _drain(paced_ids)
        message_latency = _latencies(paced_ids, MESSAGE_LATENCY)
        delivery_latency = _latencies(paced_ids, DELIVERY_LATENCY)
    finally:
        _stop_worker(worker)
        receiver.shutdown()
        _cleanup(all_ids)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()

    def pct(values, p):
        return lib.percentile(values, p) if values else float("nan")

    ratio = message_rate / dispatch_rate if dispatch_rate else float("nan")
    p95 = pct(message_latency, 95)
    met = p95 < P95_TARGET_MS and ratio >= RATIO_TARGET
    results = {
        "events": events,
        "latency_events": latency_events,
        "orders_rendered": len(orders),
        "dispatch_per_s": dispatch_rate,
        "order_placed_dispatch_per_s": placed_rate,
        "messages_per_s": message_rate,
        "deliveries_per_s": delivery_rate,
        "messages_over_dispatch": ratio,
        "seconds": {
            "dispatch": dispatch_seconds,
            "messages": message_seconds,
            "deliveries": delivery_seconds,
        },
        "message_latency_ms": {p: pct(message_latency, p) for p in (50, 95, 99)},
        "delivery_latency_ms": {p: pct(delivery_latency, p) for p in (50, 95, 99)},
        "receiver_requests": _Receiver.received,
        "throughput_cores": {
            "busy": flood_cpu.system,
            "worker": flood_cpu.server,
            "postgres": flood_cpu.database,
            "runner": flood_cpu.client,
        },
        "target": {
            "target": f"p95 commit → provider < {P95_TARGET_MS:.0f} ms at {RATE:.0f}/s and messages/s ÷ dispatch/s ≥ {RATIO_TARGET}",
            "value": {"p95_ms": p95, "ratio": ratio},
            "met": met,
        },
    }
    lines = [
        f"messages: {events:,} events per phase, rendered over {len(orders)} seeded orders; worker --concurrency={WORKER_CONCURRENCY}",
        f"  baseline: raw event dispatch     {dispatch_rate:8.1f} events/s   ({events:,} in {dispatch_seconds:.1f} s)",
        f"  order.placed dispatched (both consumers) {placed_rate:6.1f} /s",
        f"  messages sent (e-mail backend)   {message_rate:8.1f} /s   ({message_seconds:.1f} s)   ÷ dispatch = {ratio:.2f}",
        f"  webhook deliveries (receiver)    {delivery_rate:8.1f} /s   ({delivery_seconds:.1f} s)",
        f"  cores busy meanwhile: {_cores(flood_cpu.system)} of {os.cpu_count()} (worker {_cores(flood_cpu.server)}, "
        f"PostgreSQL {_cores(flood_cpu.database)}, this runner {_cores(flood_cpu.client)})",
        f"  at {RATE:.0f}/s: commit → e-mail backend  p50 {pct(message_latency, 50):.0f} ms  p95 {p95:.0f} ms  p99 {pct(message_latency, 99):.0f} ms",
        f"  at {RATE:.0f}/s: commit → receiver's 204   p50 {pct(delivery_latency, 50):.0f} ms  p95 {pct(delivery_latency, 95):.0f} ms  p99 {pct(delivery_latency, 99):.0f} ms",
        f"  target: p95 commit → provider < {P95_TARGET_MS:.0f} ms at {RATE:.0f}/s: "
        f"{'met' if p95 < P95_TARGET_MS else 'NOT met'} ({p95:.0f} ms)",
        f"  target: messages/s ÷ raw dispatch/s ≥ {RATIO_TARGET}: "
        f"{'met' if ratio >= RATIO_TARGET else 'NOT met'} ({ratio:.2f}; ÷ order.placed dispatch/s: "
        f"{message_rate / placed_rate if placed_rate else float('nan'):.2f})",
    ]
    return results, "\n".join(lines), False
