"""Automation rules (issue #15): the rule engine on the real event path, with a real Celery
worker pool as in production, beside a same-run Celery no-op task baseline.

No HTTP server of ours. A `celery -A commerce worker --concurrency=4` subprocess on the same
Redis and PostgreSQL (all three queues, as docker-compose runs it) also loads this module
(`--include bench.scenarios.automation`) for the baseline's task, `bench.noop`, which does
nothing. The runner (this process) publishes events as the services do, one transaction each,
handed to the broker after commit. Phases, one worker, one run:

1. baseline: N `bench.noop` tasks queued while the worker's `celery` consumer is cancelled, then
   consumed flat out (tasks/s from `add_consumer` until the worker's own `stats()` counts them
   all); beside it the raw event dispatch rate (`bench.noop` *events*, no consumer takes them)
   measured the same way;
2. throughput: 50 active rules on `order.placed`, in ten bands of `event.total` (five rules per
   band, so each event matches exactly 5), each with one DB-only action that emits no event
   (`tag_customer`); N events with the payloads of the seeded orders that have a customer,
   queued while the consumer is cancelled, then dispatched flat out: events/s from
   `add_consumer` to the last `dispatched_at`, and ÷ the no-op tasks/s;
3. latency: events published at half the measured throughput: from the event's commit
   (`occurred_at`) to its runs' first action (`ActionExecution.created_at`, the engine's clock
   for the event) and to the event being fully dispatched (`dispatched_at`, every rule done);
4. due steps: K runs waiting on a rule's `wait` step with `due_at` spread evenly over the next
   minute; the runner plays beat (`automation.run_due` sent every 10 s, as CELERY_BEAT_SCHEDULE
   does): the step's lateness is when its action happened (`StaffAlert.created_at` of its
   `alert_staff`) minus `due_at`; none may happen before `due_at`;
5. simulation (in process, worker stopped): S stored `order.placed` events (bulk-created, the
   seeded orders' payloads spread over 30 days) replayed by `simulate()` against one draft rule
   with an event-only condition and one wait: seconds, and no row written.

Order confirmations are switched off in every channel for the run (a `NotificationSetting`,
restored afterwards), so the figures are the rule engine's and not the message sender's
(`./dev bench messages` measures that); the other consumers of `order.placed` (messages,
webhooks) still run and find nothing to do. Rules already on `order.placed` (the seed's fraud
alert) are set to draft for the run and restored, so exactly the bench's 50 are evaluated. The bench rules get a flood limit high enough not to
pause them. Everything the run creates is deleted again.

Targets (issue #15): rule events/s ÷ no-op tasks/s ≥ 0.35; p95 commit → first action ≤ 1 s at
half the throughput; due-step lateness p99 ≤ 30 s and never early; simulating 100,000 events
≤ 60 s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from celery import shared_task

from bench import lib

NAME = "automation"
NEEDS_CATALOGUE = True  # the seeded orders (and their customers) are the events' payloads
USES_PGBENCH_S = False  # its baseline is a Celery no-op task of the same run
WORKER_CONCURRENCY = int(os.environ.get("BENCH_AUTOMATION_CONCURRENCY", "4"))  # docker-compose
RULES = 50
BANDS = 10  # RULES / BANDS rules match each event
SIZES = {
    # noop tasks, noop events, order.placed events, latency seconds, due runs, stored events
    "quick": {"noop": 3000, "raw": 1000, "events": 300, "latency_s": 15, "due": 300, "sim": 10_000},
    "full": {
        "noop": 10_000,
        "raw": 3000,
        "events": 2000,
        "latency_s": 60,
        "due": 3000,
        "sim": 100_000,
    },
}
TICK_SECONDS = 10.0  # CELERY_BEAT_SCHEDULE["automation-run-due"]
DUE_SPREAD_SECONDS = 60.0
DUE_LEAD_SECONDS = 5.0
DRAIN_TIMEOUT = 900.0
BATCH = 2000
TAG_PREFIX = "bench-automation-"
RATIO_TARGET = 0.35
P95_TARGET_MS = 1000.0
LATE_P99_TARGET_S = 30.0
SIM_TARGET_S = 60.0  # for 100,000 events; scaled for fewer
NOISY_CORES = 0.25  # as bench/run.py: processes outside the run used more than this


@shared_task(name="bench.noop")
def noop() -> None:
    """The baseline: a task that does nothing, with the project's task conventions."""


def _sizes(options) -> dict:
    return SIZES["quick" if options.quick else "full"]


def prepare(options) -> lib.Plan:
    from orders.models import Order

    orders = Order.objects.exclude(number=None).exclude(customer=None).count()
    if not orders:
        raise lib.BenchError("automation: the seeded database has no orders with a customer")
    info = {**_sizes(options), "orders": orders, "rules": RULES}
    return lib.Plan(workloads=[], sweep=None, checks=[], profile_paths=[], info=info)


# --- the worker -------------------------------------------------------------------------------


def _start_worker(log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
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
            "--include=bench.scenarios.automation",
            "--loglevel=INFO",
            f"--hostname=bench-automation-{os.getpid()}@%h",
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
                f"automation: the worker did not start:\n{log_path.read_text()[-2000:]}"
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


class _Control:
    """The worker's `celery` queue consumer switched off while a phase's work is queued, on
    again to start the clock; its own task counters tell when the no-op tasks are done."""

    def __init__(self, app) -> None:
        self.app = app
        prefix = f"bench-automation-{os.getpid()}@"
        deadline = time.monotonic() + 30
        self.name = None
        while self.name is None:
            replies = app.control.inspect(timeout=1.0).ping() or {}
            self.name = next((name for name in replies if name.startswith(prefix)), None)
            if self.name is None and time.monotonic() > deadline:
                raise lib.BenchError("automation: the worker does not answer control pings")

    def pause(self) -> None:
        self.app.control.cancel_consumer("celery", destination=[self.name], reply=True, timeout=5)

    def resume(self) -> None:
        self.app.control.add_consumer("celery", destination=[self.name], reply=True, timeout=5)

    def accepted(self, task: str) -> int:
        """Tasks of this name the pool has taken (Celery counts them when a process starts
        one; a no-op is done microseconds later)."""
        inspect = self.app.control.inspect(destination=[self.name], timeout=2.0, limit=1)
        stats = (inspect.stats() or {}).get(self.name) or {}
        return int((stats.get("total") or {}).get(task, 0))


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
    lib.log(f"    published {count:,} {event_type} in {time.perf_counter() - started:.1f} s")
    return ids


def _wait(label: str, done, total: int, *, timeout: float = DRAIN_TIMEOUT, poll: float = 0.25):
    """Poll `done()` (a count) until it reaches `total`; returns the perf_counter when it did."""
    started = time.perf_counter()
    last_report = started
    while True:
        count = done()
        now = time.perf_counter()
        if count >= total:
            return now
        if now - started > timeout:
            raise lib.BenchError(
                f"automation: {label}: only {count:,} of {total:,} after {timeout:.0f} s"
            )
        if now - last_report > 10:
            lib.log(f"    {label}: {count:,} of {total:,}")
            last_report = now
        time.sleep(poll)


def _dispatched(ids: list[int]) -> int:
    from commerce.models import OutboxEvent

    return OutboxEvent.objects.filter(
        pk__gte=min(ids), pk__lte=max(ids), dispatched_at__isnull=False
    ).count()


def _last_dispatch(ids: list[int]) -> dt.datetime:
    from django.db.models import Max

    from commerce.models import OutboxEvent

    return OutboxEvent.objects.filter(pk__in=ids).aggregate(last=Max("dispatched_at"))["last"]


def _rows(sql: str, params: list) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


FIRST_ACTION_LATENCY = """
    SELECT extract(epoch FROM min(x.created_at) - e.occurred_at) * 1000
    FROM commerce_outboxevent e
    JOIN automation_rulerun r ON r.event_id = e.id
    JOIN automation_actionexecution x ON x.run_id = r.id
    WHERE e.id BETWEEN %s AND %s
    GROUP BY e.id, e.occurred_at"""
DISPATCH_LATENCY = """
    SELECT extract(epoch FROM dispatched_at - occurred_at) * 1000 FROM commerce_outboxevent
    WHERE id BETWEEN %s AND %s AND dispatched_at IS NOT NULL"""


def _pcts(values: list[float]) -> dict[int, float]:
    values = sorted(values)
    return {p: lib.percentile(values, p) if values else float("nan") for p in (50, 95, 99)}


# --- data of the run --------------------------------------------------------------------------


def _payloads() -> list[dict]:
    """The seeded orders that have a customer (tag_customer needs one), as their order.placed
    payloads, made JSON-plain as the outbox stores them."""
    from django.core.serializers.json import DjangoJSONEncoder

    from orders.core.records import order_payload
    from orders.models import Order

    orders = (
        Order.objects.exclude(number=None)
        .exclude(customer=None)
        .select_related("channel", "pickup_location")
        .prefetch_related("lines")
        .order_by("pk")[:200]
    )
    return [json.loads(json.dumps(order_payload(order), cls=DjangoJSONEncoder)) for order in orders]


def _band_conditions(payloads: list[dict]) -> list[str]:
    """BANDS condition texts on `event.total` that split the payloads into bands of about the
    same size; every event falls in exactly one."""
    from decimal import Decimal

    totals = sorted(Decimal(str(p["total"])) for p in payloads)
    edges = [totals[len(totals) * k // BANDS] for k in range(1, BANDS)]
    bands = []
    for k in range(BANDS):
        lines = []
        if k > 0:
            lines.append(f"event.total >= {edges[k - 1]}")
        if k < BANDS - 1:
            lines.append(f"event.total < {edges[k]}")
        bands.append("\n".join(lines))
    return bands


def _make_rule(name: str, trigger: str, conditions: str, steps: str, *, active: bool, **extra):
    from automation.rules.services import rule_publish, rule_save, rule_set_status

    rule = rule_save(
        name=name,
        trigger=trigger,
        conditions_text=conditions,
        guard_text="",
        steps_text=steps,
        flood_limit_per_minute=10_000_000,  # bench volumes, not a flood
        **extra,
    )
    if active:
        rule_publish(rule=rule)
        rule_set_status(rule=rule, status="active")
        rule.refresh_from_db()
    return rule


def _confirmations_off() -> list[tuple[int, bool | None]]:
    """Switch order confirmations off everywhere; returns what to restore."""
    from automation.messages import kinds
    from automation.models import NotificationSetting
    from commerce.models import Channel

    before = []
    for channel in Channel.objects.all():
        row = NotificationSetting.objects.filter(
            channel=channel, kind=kinds.ORDER_CONFIRMATION
        ).first()
        before.append((channel.pk, row.enabled if row else None))
        NotificationSetting.objects.update_or_create(
            channel=channel, kind=kinds.ORDER_CONFIRMATION, defaults={"enabled": False}
        )
    return before


def _confirmations_restore(before: list[tuple[int, bool | None]]) -> None:
    from automation.messages import kinds
    from automation.models import NotificationSetting

    for channel_id, enabled in before:
        rows = NotificationSetting.objects.filter(
            channel_id=channel_id, kind=kinds.ORDER_CONFIRMATION
        )
        if enabled is None:
            rows.delete()
        else:
            rows.update(enabled=enabled)


def _other_rules_off() -> list[tuple[int, str]]:
    """The rules already on order.placed (the seed's ready-made ones) set to draft for the run,
    so exactly the bench's 50 are evaluated; returns what to restore."""
    from django.utils import timezone

    from automation.models import Rule

    others = list(
        Rule.objects.filter(
            trigger="order.placed", status__in=["active", "shadow", "paused"]
        ).values_list("pk", "status")
    )
    Rule.objects.filter(pk__in=[pk for pk, _status in others]).update(
        status="draft", updated_at=timezone.now()
    )
    return others


def _other_rules_restore(others: list[tuple[int, str]]) -> None:
    from django.utils import timezone

    from automation.models import Rule

    for pk, status in others:
        Rule.objects.filter(pk=pk).update(status=status, updated_at=timezone.now())


def _delete_rules(rule_ids: list[int]) -> None:
    """The bench rules and everything they left, in SQL (a full run leaves ~100,000 runs,
    too many for the ORM's collector to walk)."""
    from django.db import connection, transaction

    from automation.models import Rule, RuleRun, RuleVersion, StaffAlert

    if not rule_ids:
        return
    runs = RuleRun._meta.db_table
    in_runs = f"IN (SELECT id FROM {runs} WHERE rule_id = ANY(%s))"
    with transaction.atomic(), connection.cursor() as cursor:
        alerts = StaffAlert._meta.db_table
        cursor.execute(
            f"DELETE FROM {alerts} WHERE rule_id = ANY(%s) OR run_id {in_runs}",
            [rule_ids, rule_ids],
        )
        for model, target in ((RuleRun, in_runs), (Rule, "= ANY(%s)")):
            for relation in model._meta.related_objects:
                related = relation.related_model
                if related in (RuleRun, RuleVersion, StaffAlert, Rule):
                    continue
                table, column = related._meta.db_table, relation.field.column
                if relation.on_delete.__name__ == "CASCADE":
                    cursor.execute(f"DELETE FROM {table} WHERE {column} {target}", [rule_ids])
                else:
                    cursor.execute(
                        f"UPDATE {table} SET {column} = NULL WHERE {column} {target}", [rule_ids]
                    )
        cursor.execute(f"DELETE FROM {runs} WHERE rule_id = ANY(%s)", [rule_ids])
        rules = Rule._meta.db_table
        cursor.execute(
            f"UPDATE {rules} SET published_version_id = NULL WHERE id = ANY(%s)", [rule_ids]
        )
        cursor.execute(
            f"DELETE FROM {RuleVersion._meta.db_table} WHERE rule_id = ANY(%s)", [rule_ids]
        )
        cursor.execute(f"DELETE FROM {rules} WHERE id = ANY(%s)", [rule_ids])


def _delete_events(event_ids: list[int]) -> None:
    from automation.models import Message
    from commerce.models import OutboxEvent

    for start in range(0, len(event_ids), BATCH):
        chunk = event_ids[start : start + BATCH]
        Message.objects.filter(event_id__in=chunk).delete()
        OutboxEvent.objects.filter(pk__in=chunk).delete()  # receipts, deliveries cascade


# --- in process: what one event costs ---------------------------------------------------------


def _statement_kind(sql: str) -> str:
    head = sql.lstrip().split(None, 1)[0].upper()
    if head in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return "savepoint"
    return head.lower()


def _table_of(sql: str) -> str:
    import re

    match = re.search(r'(?:INTO|FROM|UPDATE)\s+"([a-z_0-9]+)"', sql)
    return match.group(1) if match else "-"


def _event_cost(payloads: list[dict], ids: list[int], runs: int = 10, profile: int = 0) -> dict:
    """Dispatch order.placed events in this process, one at a time (no worker yet): the SQL
    statements of one, the wall and CPU time of `runs` more, and with `profile` that many more
    under cProfile (own time grouped by area, the top functions)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from commerce.events import dispatch, publish

    def one(index: int) -> int:
        payload = payloads[index % len(payloads)]
        with transaction.atomic():
            event = publish(
                type="order.placed",
                subject_type="order",
                subject_id=payload["order_id"],
                payload=payload,
            )
        ids.append(event.pk)
        return event.pk

    dispatch(one(0))  # warm: imports, caches
    event_id = one(1)
    with CaptureQueriesContext(connection) as captured:
        dispatch(event_id)
    kinds = Counter(_statement_kind(q["sql"]) for q in captured.captured_queries)
    tables = Counter(
        f"{_statement_kind(q['sql'])} {_table_of(q['sql'])}"
        for q in captured.captured_queries
        if _statement_kind(q["sql"]) != "savepoint"
    )
    walls, started_cpu = [], time.process_time()
    for index in range(runs):
        event_id = one(index + 2)
        started = time.perf_counter()
        dispatch(event_id)
        walls.append(time.perf_counter() - started)
    cpu = time.process_time() - started_cpu
    profiled = _profile_dispatch(one, runs + 2, profile) if profile else None
    return {
        "profile": profiled,
        "statements": len(captured.captured_queries),
        "by_kind": dict(kinds.most_common()),
        "by_table": dict(tables.most_common(12)),
        "wall_ms": 1000 * sum(walls) / runs,
        "cpu_ms": 1000 * cpu / runs,  # includes publishing each event
    }


def _profile_dispatch(one, first: int, count: int, top: int = 15) -> dict:
    import cProfile
    import pstats
    import re

    from commerce.events import dispatch

    event_ids = [one(first + index) for index in range(count)]
    profiler = cProfile.Profile()
    profiler.enable()
    for event_id in event_ids:
        dispatch(event_id)
    profiler.disable()
    areas: Counter[str] = Counter()
    functions = []
    root = f"{lib.REPO_ROOT}/"
    ours = []
    for (filename, line, function), (_, calls, own, cumulative, _) in pstats.Stats(
        profiler
    ).stats.items():
        if filename.startswith(f"{root}automation/"):
            area = "automation/ (engine, actions, conditions)"
        else:
            area = lib._profile_area(filename, function)
        areas[area] += own
        short = re.sub(r".*/site-packages/", "", filename.replace(root, ""))
        functions.append((own, calls, f"{short}:{line}({function})"))
        if short.startswith(("automation/", "commerce/", "customers/")):
            ours.append((cumulative, calls, f"{short}:{line}({function})"))
    functions.sort(reverse=True)
    ours.sort(reverse=True)
    return {
        "events": count,
        "areas_ms_per_event": {k: 1000 * v / count for k, v in areas.most_common()},
        "top_functions": [
            {"function": name, "own_ms": 1000 * own / count, "calls_per_event": calls / count}
            for own, calls, name in functions[:top]
        ],
        "project_cumulative": [
            {
                "function": name,
                "cumulative_ms": 1000 * cum / count,
                "calls_per_event": calls / count,
            }
            for cum, calls, name in ours[:top]
        ],
    }


# --- phases -----------------------------------------------------------------------------------


def _baseline(app, control: _Control, count: int) -> dict:
    lib.log(f"automation: baseline, {count:,} bench.noop tasks")
    control.pause()
    before = control.accepted("bench.noop")
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            app.send_task("bench.noop", producer=producer)
    started = time.perf_counter()
    control.resume()
    ended = _wait(
        "no-op tasks",
        lambda: control.accepted("bench.noop") - before,
        count,
        poll=0.05,
    )
    seconds = ended - started
    return {"tasks": count, "seconds": seconds, "per_s": count / seconds}


def _flat_out(
    control: _Control, event_type: str, payloads: list[dict], count: int, cpu_of, event_ids
):
    """`count` events queued while the consumer is off, then dispatched flat out: (ids,
    events/s, seconds, CPU usage). The ids also go to `event_ids` (for the clean-up)."""
    from django.utils import timezone

    control.pause()
    ids = _publish(event_type, payloads, count, rate=None)
    event_ids += ids
    before = cpu_of()
    resumed = timezone.now()
    control.resume()
    _wait(f"{event_type} dispatched", lambda: _dispatched(ids), count)
    cpu = lib.CpuUsage.between(before, cpu_of())
    seconds = (_last_dispatch(ids) - resumed).total_seconds()
    return ids, count / seconds, seconds, cpu


def _due_steps(app, count: int, rule_ids: list[int]) -> dict:
    """K runs waiting on `wait 1m` with due times spread over the next minute; the runner
    sends `automation.run_due` every 10 s as beat does, until every step has happened."""
    from django.utils import timezone

    from automation.models import RuleRun, StaffAlert

    rule = _make_rule(
        "bench: due steps",
        "loyalty.joined",  # no event of the run has this type: runs come only from below
        "",
        'wait 1m\nalert_staff title="bench due step"',
        active=True,
    )
    rule_ids.append(rule.pk)
    version = rule.published_version
    t0 = timezone.now()
    due = {}
    runs = []
    for index in range(count):
        due_at = t0 + dt.timedelta(
            seconds=DUE_LEAD_SECONDS + DUE_SPREAD_SECONDS * (index + 0.5) / count
        )
        runs.append(
            RuleRun(
                rule=rule,
                version=version,
                event=None,
                trigger_key=f"bench-due:{index}",
                subject_type="customer",
                subject_id=str(index),
                status=RuleRun.Status.WAITING,
                step_index=1,
                due_at=due_at,
                started_at=t0 - dt.timedelta(minutes=1),
                variables={},
            )
        )
    for start in range(0, len(runs), BATCH):
        for run in RuleRun.objects.bulk_create(runs[start : start + BATCH]):
            due[run.pk] = run.due_at
    lib.log(
        f"automation: due steps, {count:,} runs due over {DUE_SPREAD_SECONDS:.0f} s, "
        f"automation.run_due every {TICK_SECONDS:.0f} s"
    )
    alerts = StaffAlert.objects.filter(rule=rule, key__startswith="action:")
    clock = time.monotonic()
    next_tick, ticks = clock, 0
    deadline = clock + DUE_LEAD_SECONDS + DUE_SPREAD_SECONDS + 300
    last_report = clock
    while True:
        now = time.monotonic()
        if now >= next_tick:
            app.send_task("automation.run_due")
            ticks += 1
            next_tick += TICK_SECONDS
        done = alerts.count()
        if done >= count:
            break
        if now > deadline:
            raise lib.BenchError(f"automation: due steps: only {done:,} of {count:,} done")
        if now - last_report > 15:
            lib.log(f"    due steps done: {done:,} of {count:,}")
            last_report = now
        time.sleep(0.5)
    rows = list(
        RuleRun.objects.filter(rule=rule).values_list("pk", "status", "finished_at", "due_at")
    )
    acted = dict(alerts.values_list("run_id", "created_at"))
    late, late_clock, early, not_done = [], [], 0, 0
    for run_id, status, finished_at, _due_now in rows:
        at = acted.get(run_id)
        if status != RuleRun.Status.SUCCEEDED or at is None:
            not_done += 1
            continue
        late.append((at - due[run_id]).total_seconds())
        late_clock.append((finished_at - due[run_id]).total_seconds())
        early += at < due[run_id] or finished_at < due[run_id]
    late.sort()
    late_clock.sort()
    return {
        "runs": count,
        "ticks": ticks,
        "late_s": {
            "p50": lib.percentile(late, 50),
            "p99": lib.percentile(late, 99),
            "max": late[-1] if late else float("nan"),
        },
        "late_by_tick_clock_s": {
            "p50": lib.percentile(late_clock, 50),
            "p99": lib.percentile(late_clock, 99),
            "max": late_clock[-1] if late_clock else float("nan"),
        },
        "early": early,
        "not_succeeded": not_done,
    }


def _simulation(
    payloads: list[dict], count: int, rule_ids: list[int], event_ids: list[int]
) -> dict:
    """`count` stored order.placed events over 30 days, replayed by simulate() in process
    against one draft rule (event-only condition, one wait)."""
    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone

    from automation.models import ActionExecution, Message, RuleRun, RunStep, StaffAlert
    from automation.rules.simulation import simulate
    from commerce.models import OutboxEvent
    from orders.models import DiscountCode

    totals = sorted(Decimal(str(p["total"])) for p in payloads)
    median = totals[len(totals) // 2]
    rule = _make_rule(
        "bench: simulation",
        "order.placed",
        f"event.total >= {median}",
        "wait 3d\nsend_message kind=campaign",
        active=False,  # a draft: what merchants simulate before switching a rule on
    )
    rule_ids.append(rule.pk)
    now = timezone.now()
    since = now - dt.timedelta(days=31)
    until = now - dt.timedelta(days=1)
    step = (until - since) / count
    lib.log(f"automation: simulation, storing {count:,} order.placed events")
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        rows = []
        for index in range(start, min(start + BATCH, count)):
            payload = payloads[index % len(payloads)]
            at = since + step * (index + 0.5)
            rows.append(
                OutboxEvent(
                    type="order.placed",
                    subject_type="order",
                    subject_id=str(payload["order_id"]),
                    payload=payload,
                    occurred_at=at,
                    dispatched_at=at,  # history: the relay never takes these
                    next_attempt_at=at,
                )
            )
        created = OutboxEvent.objects.bulk_create(rows)
        event_ids.extend(event.pk for event in created)
        del rows, created
    store_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{OutboxEvent._meta.db_table}"')  # as autovacuum would
    models = (Message, DiscountCode, RuleRun, RunStep, ActionExecution, StaffAlert, OutboxEvent)

    def counts():
        return {model.__name__: model.objects.count() for model in models}

    in_window = OutboxEvent.objects.filter(
        type="order.placed", occurred_at__gte=since, occurred_at__lte=until
    ).count()
    before = counts()
    statements = [0]

    def counted(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    lib.log(f"automation: simulating rule {rule.pk} over {count:,} stored events")
    with connection.execute_wrapper(counted):
        started, cpu_started = time.perf_counter(), time.process_time()
        report = simulate(rule, since=since, until=until)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    after = counts()
    changed = {name: after[name] - before[name] for name in before if after[name] != before[name]}
    return {
        "events": count,
        "events_in_window": in_window,
        "store_seconds": store_seconds,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "statements": statements[0],
        "runs_started": report["runs_started"],
        "skipped": report["skipped"],
        "actions": report["actions"],
        "rows_changed": changed,
    }


# --- the scenario -----------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells):
        return " | ".join(
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), "-+-".join("-" * w for w in widths), *map(line, rows)])


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rate(value: float) -> str:
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def run_in_process(args, plan: lib.Plan) -> tuple[dict, str, bool]:
    from automation.models import RuleRun
    from commerce.celery import app
    from customers.models import Tag

    sizes = plan.info
    database_pid = lib.postgres_postmaster_pid()
    payloads = _payloads()
    rule_ids: list[int] = []
    event_ids: list[int] = []
    sim_ids: list[int] = []
    restore = _confirmations_off()
    others = _other_rules_off()
    worker = None
    log_path = Path(lib.REPO_ROOT) / "bench" / "results" / "automation-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            per_band = RULES // BANDS
            for index, conditions in enumerate(
                band for band in _band_conditions(payloads) for _ in range(per_band)
            ):
                rule = _make_rule(
                    f"bench: rule {index + 1:02d}",
                    "order.placed",
                    conditions,
                    f"tag_customer tag={TAG_PREFIX}{index + 1:02d}",
                    active=True,
                )
                rule_ids.append(rule.pk)
            lib.log(f"automation: {RULES} rules on order.placed, {per_band} match each event")
            cost = _event_cost(payloads, event_ids, profile=20 if args.profile else 0)
            lib.log(
                f"automation: one event in process: {cost['statements']} SQL statements, "
                f"{cost['wall_ms']:.0f} ms"
            )
            purged = app.control.purge()
            lib.log(f"automation: {purged:,} stale task(s) purged from the broker")
            lib.log(
                f"automation: starting a celery worker (concurrency {WORKER_CONCURRENCY}); "
                f"log {log_path}"
            )
            worker = _start_worker(log_path)
            control = _Control(app)

            def cpu_now():
                return lib.CpuSnapshot.take(worker.pid, database_pid)

            baseline = _baseline(app, control, sizes["noop"])
            lib.log(f"    {baseline['per_s']:,.0f} tasks/s")

            lib.log(f"automation: raw dispatch, {sizes['raw']:,} bench.noop events")
            ids, raw_rate, raw_seconds, _cpu = _flat_out(
                control, "bench.noop", payloads, sizes["raw"], cpu_now, event_ids
            )
            lib.log(f"    {raw_rate:,.0f} events/s")

            lib.log(f"automation: throughput, {sizes['events']:,} order.placed events")
            ids, rate, seconds, cpu = _flat_out(
                control, "order.placed", payloads, sizes["events"], cpu_now, event_ids
            )
            statuses = Counter(
                RuleRun.objects.filter(event_id__in=ids).values_list("status", flat=True)
            )
            lib.log(f"    {rate:,.1f} events/s; runs {dict(statuses)}")

            paced = max(1.0, rate / 2)
            latency_count = max(30, round(paced * sizes["latency_s"]))
            lib.log(f"automation: latency, {latency_count:,} order.placed at {paced:.1f}/s")
            before = cpu_now()
            ids = _publish("order.placed", payloads, latency_count, rate=paced)
            event_ids += ids
            _wait("latency events dispatched", lambda: _dispatched(ids), latency_count)
            latency_cpu = lib.CpuUsage.between(before, cpu_now())
            first_action = _pcts(
                [float(r[0]) for r in _rows(FIRST_ACTION_LATENCY, [min(ids), max(ids)])]
            )
            all_done = _pcts([float(r[0]) for r in _rows(DISPATCH_LATENCY, [min(ids), max(ids)])])

            due = _due_steps(app, sizes["due"], rule_ids)
        finally:
            if worker is not None:
                _stop_worker(worker)
        simulation = _simulation(payloads, sizes["sim"], rule_ids, sim_ids)
    finally:
        lib.log("automation: cleaning up")
        _delete_rules(rule_ids)
        _delete_events(event_ids)
        _delete_events(sim_ids)
        Tag.objects.filter(name__startswith=TAG_PREFIX).delete()
        _confirmations_restore(restore)
        _other_rules_restore(others)

    ratio = rate / baseline["per_s"]
    sim_limit = SIM_TARGET_S * sizes["sim"] / 100_000
    targets = [
        (f"rule events/s ÷ no-op tasks/s ≥ {RATIO_TARGET}", f"{ratio:.3f}", ratio >= RATIO_TARGET),
        (
            f"p95 commit → first action ≤ {P95_TARGET_MS:.0f} ms at {paced:.1f} events/s",
            f"{first_action[95]:.0f} ms",
            first_action[95] <= P95_TARGET_MS,
        ),
        (
            f"due-step lateness p99 ≤ {LATE_P99_TARGET_S:.0f} s, none early",
            f"{due['late_s']['p99']:.1f} s, {due['early']} early",
            due["late_s"]["p99"] <= LATE_P99_TARGET_S and due["early"] == 0,
        ),
        (
            f"simulate {sizes['sim']:,} events ≤ {sim_limit:g} s, no row written",
            f"{simulation['seconds']:.1f} s, rows changed {simulation['rows_changed'] or 'none'}",
            simulation["seconds"] <= sim_limit and not simulation["rows_changed"],
        ),
    ]
    failed_runs = statuses.get("failed", 0)
    errors = bool(due["early"] or due["not_succeeded"] or simulation["rows_changed"] or failed_runs)
    results = {
        "sizes": sizes,
        "worker_concurrency": WORKER_CONCURRENCY,
        "other_order_placed_rules_off": [pk for pk, _status in others],
        "payload_orders": len(payloads),
        "event_in_process": cost,
        "noop_tasks": baseline,
        "raw_dispatch": {"events": sizes["raw"], "seconds": raw_seconds, "per_s": raw_rate},
        "rules_throughput": {
            "events": sizes["events"],
            "seconds": seconds,
            "per_s": rate,
            "actions_per_s": rate * (RULES // BANDS),
            "ratio_to_noop": ratio,
            "run_statuses": dict(statuses),
            "cores": {
                "busy": cpu.system,
                "worker": cpu.server,
                "postgres": cpu.database,
                "runner": cpu.client,
                "other": cpu.other,
            },
        },
        "latency": {
            "rate": paced,
            "events": latency_count,
            "first_action_ms": first_action,
            "dispatched_ms": all_done,
            "cores": {
                "busy": latency_cpu.system,
                "worker": latency_cpu.server,
                "postgres": latency_cpu.database,
                "runner": latency_cpu.client,
                "other": latency_cpu.other,
            },
        },
        "due_steps": due,
        "simulation": simulation,
        "target": {
            "target": "; ".join(name for name, _value, _met in targets),
            "value": {name: value for name, value, _met in targets},
            "met": all(met for _name, _value, met in targets),
        },
    }

    def ms(values):
        return [f"{values[p]:,.0f}" for p in (50, 95, 99)]

    rows = [
        [
            "celery no-op task (baseline)",
            f"{baseline['tasks']:,}",
            f"{baseline['seconds']:.1f}",
            _rate(baseline["per_s"]),
            "1",
            "",
            "",
            "",
        ],
        [
            "event dispatch, no consumer",
            f"{sizes['raw']:,}",
            f"{raw_seconds:.1f}",
            _rate(raw_rate),
            f"{raw_rate / baseline['per_s']:.3f}",
            "",
            "",
            "",
        ],
        [
            f"order.placed, {RULES} rules ({RULES // BANDS} match)",
            f"{sizes['events']:,}",
            f"{seconds:.1f}",
            _rate(rate),
            f"{ratio:.3f}",
            "",
            "",
            "",
        ],
        [
            f"  at {paced:.1f}/s: commit → first action",
            f"{latency_count:,}",
            "",
            "",
            "",
            *ms(first_action),
        ],
        [
            f"  at {paced:.1f}/s: commit → dispatched",
            f"{latency_count:,}",
            "",
            "",
            "",
            *ms(all_done),
        ],
    ]
    text = [
        f"automation: worker --concurrency={WORKER_CONCURRENCY}; payloads of {len(payloads)} "
        f"seeded orders with a customer; order confirmations and the {len(others)} other "
        "rule(s) on order.placed off for the run",
        _table(
            ["measurement", "count", "seconds", "per s", "vs no-op", "p50 ms", "p95 ms", "p99 ms"],
            rows,
        ),
        f"  runs of the throughput events: {dict(statuses)}",
        *(
            f"  cores busy in the {label} phase: {_cores(usage.system)} of {os.cpu_count()} "
            f"(worker {_cores(usage.server)}, PostgreSQL {_cores(usage.database)}, runner "
            f"{_cores(usage.client)}, other {_cores(usage.other)})"
            + (
                "  WARNING: the machine was not idle"
                if usage.other is not None and usage.other > NOISY_CORES
                else ""
            )
            for label, usage in (("throughput", cpu), ("latency", latency_cpu))
        ),
        f"  one event in process (all consumers): {cost['statements']} SQL statements "
        f"({', '.join(f'{n} {k}' for k, n in cost['by_kind'].items())}), "
        f"{cost['wall_ms']:.0f} ms wall, {cost['cpu_ms']:.0f} ms CPU of this process",
        "    top: " + ", ".join(f"{n} x {k}" for k, n in cost["by_table"].items()),
        f"  due steps: {due['runs']:,} runs over {DUE_SPREAD_SECONDS:.0f} s, {due['ticks']} ticks: "
        f"late p50 {due['late_s']['p50']:.1f} s, p99 {due['late_s']['p99']:.1f} s, "
        f"max {due['late_s']['max']:.1f} s (by the tick's clock: p99 "
        f"{due['late_by_tick_clock_s']['p99']:.1f} s); early {due['early']}; "
        f"not succeeded {due['not_succeeded']}",
        f"  simulation: {simulation['events']:,} stored events (+ "
        f"{simulation['events_in_window'] - simulation['events']:,} of the seed's in the window; "
        f"written in "
        f"{simulation['store_seconds']:.1f} s) in {simulation['seconds']:.1f} s "
        f"({simulation['cpu_seconds']:.1f} s CPU, {simulation['statements']:,} SQL statements); "
        f"{simulation['runs_started']:,} runs, skipped {simulation['skipped']}, actions "
        f"{simulation['actions']}; rows changed: {simulation['rows_changed'] or 'none'}",
    ]
    for name, value, met in targets:
        text.append(f"  target: {name}: {value} -> {'met' if met else 'MISSED'}")
    profiled = cost["profile"]
    if profiled:
        text.append(
            f"  cProfile of {profiled['events']} order.placed dispatches in process, own time "
            "per event by area:"
        )
        text += [
            f"    {ms_:7.2f} ms  {area}" for area, ms_ in profiled["areas_ms_per_event"].items()
        ]
        text.append("  top functions by own time (ms per event, calls per event):")
        text += [
            f"    {row['own_ms']:7.2f} ms  {row['calls_per_event']:8.0f}x  {row['function']}"
            for row in profiled["top_functions"]
        ]
        text.append("  project functions by cumulative time (ms per event, calls per event):")
        text += [
            f"    {row['cumulative_ms']:7.2f} ms  {row['calls_per_event']:8.1f}x  {row['function']}"
            for row in profiled["project_cumulative"]
        ]
    return results, "\n".join(text), errors
