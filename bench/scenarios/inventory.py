"""Inventory: stock reservations and bulk availability, in process against PostgreSQL.

No HTTP here: C threads in the runner, each with its own Django database connection, call the
inventory services back to back (a closed loop) for the warm-up, then for `--duration` seconds
or until `--max-requests` calls:

- hot SKU: `stock_reserve(kind="order")` of 1 unit of one and the same variant (every call
  queues on the same stock rows).
- spread: the same, of a random variant among up to 10,000 (one line per call).
- availability: `availability_for_channel` for the variants of 50 random products (a list page).

Baseline: pgbench's TPC-B-like default script (`pgbench -c C -j 2 -T duration`, read-write, five
statements per transaction) on the same server; the target is spread reservations/s at least a
third of its TPS.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import secrets
import threading
import time
from collections import Counter

from bench import lib

NAME = "inventory"
CHANNEL = "web-jp"
LOCATION = "wh-chiba"
SKUS = 10_000  # variants that get ample stock; the spread measurement picks among them
STOCK_LEVEL = 1_000_000
BATCH = 5_000
PAGE_PRODUCTS = 50
PGBENCH_SCALE = 10
TARGET_RATIO = 1 / 3  # spread reservations/s >= this share of pgbench TPC-B TPS


def _variants() -> tuple[list[int], dict[int, list[int]]]:
    """(non-bundle variant ids in pk order, up to SKUS; product id -> variant ids)."""
    from catalog.models import BundleComponent, ProductVariant

    bundles = BundleComponent.objects.values("bundle_id")
    skus = list(
        ProductVariant.objects.exclude(pk__in=bundles)
        .order_by("pk")
        .values_list("pk", flat=True)[:SKUS]
    )
    by_product: dict[int, list[int]] = {}
    for product_id, variant_id in ProductVariant.objects.order_by("pk").values_list(
        "product_id", "pk"
    ):
        by_product.setdefault(product_id, []).append(variant_id)
    return skus, by_product


def _ensure_stock(skus: list[int]) -> float:
    from django.db import connection

    from inventory.models import StockLocation
    from inventory.services import StockLevel, stock_set_levels

    location = StockLocation.objects.get(code=LOCATION)
    started = time.perf_counter()
    for start in range(0, len(skus), BATCH):
        levels = [
            StockLevel(variant_id, location.pk, STOCK_LEVEL)
            for variant_id in skus[start : start + BATCH]
        ]
        stock_set_levels(levels=levels, reference="bench-inventory", publish_signals=False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inventory_stock")
    return time.perf_counter() - started


def prepare(options) -> lib.Plan:
    from commerce.selectors import channel_get_active

    channel_get_active(code=CHANNEL)  # raises if seed_demo did not create it
    skus, by_product = _variants()
    if not skus:
        raise lib.BenchError("no (non-bundle) variant to reserve")
    lib.log(f"inventory: setting {len(skus):,} SKUs to {STOCK_LEVEL:,} on hand at {LOCATION}")
    seconds = _ensure_stock(skus)
    return lib.Plan(
        workloads=[],
        sweep=None,
        checks=[],
        profile_paths=[],
        info={
            "channel": CHANNEL,
            "location": LOCATION,
            "skus": len(skus),
            "hot_sku": skus[0],
            "stock_level": STOCK_LEVEL,
            "stock_seconds": round(seconds, 2),
            "products": len(by_product),
            "page_products": PAGE_PRODUCTS,
            "_skus": skus,
            "_by_product": by_product,
        },
    )


# --- closed loop in threads ------------------------------------------------------------------


class _Worker(threading.Thread):
    def __init__(self, *, op, seed, start_at, deadline, counter, budget):
        super().__init__(daemon=True)
        self.op, self.rng = op, random.Random(seed)
        self.start_at, self.deadline = start_at, deadline
        self.counter, self.budget = counter, budget
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []
        self.last_finish = 0.0

    def run(self) -> None:
        from django.db import connection

        try:
            while True:
                started = time.perf_counter()
                if started >= self.deadline:
                    break
                measuring = started >= self.start_at
                if measuring and next(self.counter) >= self.budget:
                    break
                failed = None
                try:
                    self.op(self.rng)
                except Exception as error:  # counted by type
                    failed = error
                finished = time.perf_counter()
                if not measuring:
                    continue
                self.latencies.append(finished - started)
                self.last_finish = finished
                if failed is not None:
                    self.errors[type(failed).__name__] += 1
                    if len(self.samples) < 3:
                        self.samples.append(f"{type(failed).__name__}: {failed}")
        finally:
            connection.close()


def _measure(name, description, op, *, args, database_pid, seed) -> dict:
    now = time.perf_counter()
    start_at = now + args.warmup
    deadline = start_at + args.duration
    counter = itertools.count()
    workers = [
        _Worker(
            op=op,
            seed=seed * 1000 + index,
            start_at=start_at,
            deadline=deadline,
            counter=counter,
            budget=args.max_requests,
        )
        for index in range(args.concurrency)
    ]
    for worker in workers:
        worker.start()
    time.sleep(max(start_at - time.perf_counter(), 0))
    before = lib.CpuSnapshot.take(None, database_pid)
    for worker in workers:
        worker.join()
    after = lib.CpuSnapshot.take(None, database_pid)
    end = max((worker.last_finish for worker in workers), default=start_at)
    latencies = [value for worker in workers for value in worker.latencies]
    errors = sum((worker.errors for worker in workers), Counter())
    summary = lib.Summary.of(latencies, sum(errors.values()), max(end - start_at, 1e-9))
    cpu = lib.CpuUsage.between(before, after) if before.system is not None else None
    result = {
        "name": name,
        "description": description,
        "concurrency": args.concurrency,
        "summary": summary,
        "errors_by_type": dict(errors),
        "error_samples": [s for worker in workers for s in worker.samples][:5],
        "cpu": cpu,
    }
    lib.log(
        f"    {summary.requests:,} ops, {summary.rps:,.1f}/s, p50 {summary.p50_ms:.1f} ms, "
        f"p95 {summary.p95_ms:.1f} ms, p99 {summary.p99_ms:.1f} ms, errors {dict(errors) or 0}"
    )
    return result


# --- pgbench TPC-B-like baseline --------------------------------------------------------------


def pgbench_tpcb(*, clients: int, duration: int) -> lib.PgbenchResult:
    """`pgbench -i -s 10` into the runner's pgbench database, then the default (TPC-B-like,
    read-write) script: `pgbench -c C -j 2 -T duration`. The caller drops the database."""
    import psycopg
    from psycopg import sql

    executable = lib.find_pgbench()
    if executable is None:
        raise lib.BenchError("pgbench not found (pg_config --bindir, /usr/lib/postgresql/*/bin)")
    try:
        with lib._admin_connection() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(lib.PGBENCH_DATABASE))
            )
    except psycopg.errors.DuplicateDatabase:
        pass
    except psycopg.Error as error:
        raise lib.BenchError(f"cannot create database {lib.PGBENCH_DATABASE}: {error}") from None
    env = os.environ.copy()
    env.update(
        {
            f"PG{key.upper()}": value
            for key, value in lib.database_params().items()
            if key in {"host", "port", "user", "password"}
        }
    )
    lib.log(f"pgbench -i -s {PGBENCH_SCALE}")
    started = time.perf_counter()
    lib._run_pgbench([executable, "-i", "-q", "-s", str(PGBENCH_SCALE), lib.PGBENCH_DATABASE], env)
    init_seconds = time.perf_counter() - started
    threads = max(1, min(2, clients))
    arguments = ["-c", str(clients), "-j", str(threads), "-T", str(duration)]
    lib.log(f"pgbench {' '.join(arguments)} (TPC-B-like)")
    output = lib._run_pgbench([executable, *arguments, lib.PGBENCH_DATABASE], env)
    tps = re.search(r"^tps = ([\d.]+)", output, re.MULTILINE)
    latency = re.search(r"^latency average = ([\d.]+) ms", output, re.MULTILINE)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    if not tps or not latency:
        raise lib.BenchError(f"could not read pgbench's output:\n{output}")
    return lib.PgbenchResult(
        command=f"pgbench {' '.join(arguments)} (TPC-B-like, scale {PGBENCH_SCALE})",
        scale=PGBENCH_SCALE,
        clients=clients,
        threads=threads,
        seconds=duration,
        transactions=int(processed.group(1)) if processed else 0,
        tps=float(tps.group(1)),
        latency_avg_ms=float(latency.group(1)),
        init_seconds=init_seconds,
    )


# --- the measurements -------------------------------------------------------------------------


def _fmt_ms(value: float) -> str:
    return "-" if value != value else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells):
        return " | ".join(
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join(
        [line(headers), "-+-".join("-" * w for w in widths), *(line(row) for row in rows)]
    )


def run_in_process(args, plan: lib.Plan) -> tuple[dict, str, bool]:
    """Measure, print nothing; returns (results for the JSON, rendered text, had errors)."""
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    from commerce.selectors import channel_get_active
    from inventory.selectors import availability_for_channel
    from inventory.services import ReserveLine, stock_reserve

    skus: list[int] = plan.info.pop("_skus")
    by_product: dict[int, list[int]] = plan.info.pop("_by_product")
    products = list(by_product)
    hot = skus[0]
    run_id = secrets.token_hex(4)
    references = itertools.count()  # next() is atomic in CPython
    database_pid = lib.postgres_postmaster_pid()
    channel = channel_get_active(code=CHANNEL)

    def page(rng: random.Random) -> list[int]:
        picked = rng.sample(products, min(PAGE_PRODUCTS, len(products)))
        return [variant for product in picked for variant in by_product[product]]

    # SQL queries of one availability call (and of one reservation), one at a time.
    sample = page(random.Random(7))
    with CaptureQueriesContext(connection) as captured:
        availability_for_channel(channel=channel, variant_ids=sample)
    availability_queries = len(captured.captured_queries)
    with CaptureQueriesContext(connection) as captured:
        stock_reserve(
            channel=channel,
            lines=[ReserveLine(skus[-1], 1)],
            reference=f"bench-{run_id}-probe",
            kind="order",
        )
    reserve_queries = len(captured.captured_queries)
    connections.close_all()

    def reserve(variant_id: int) -> None:
        stock_reserve(
            channel=channel,
            lines=[ReserveLine(variant_id, 1)],
            reference=f"bench-{run_id}-{next(references)}",
            kind="order",
        )

    def hot_op(rng: random.Random) -> None:
        reserve(hot)

    def spread_op(rng: random.Random) -> None:
        reserve(rng.choice(skus))

    def availability_op(rng: random.Random) -> None:
        availability_for_channel(channel=channel, variant_ids=page(rng))

    measurements = []
    for index, (name, description, op) in enumerate(
        [
            ("inventory: reserve, hot SKU", f"stock_reserve 1 x variant {hot}", hot_op),
            (
                "inventory: reserve, spread",
                f"stock_reserve 1 x a random variant of {len(skus):,}",
                spread_op,
            ),
            (
                "inventory: availability, 50 products",
                f"availability_for_channel, variants of {PAGE_PRODUCTS} random products "
                f"({len(sample)} ids in the sample)",
                availability_op,
            ),
        ],
        start=1,
    ):
        lib.log(f"measuring {name}: {description}")
        measurements.append(
            _measure(name, description, op, args=args, database_pid=database_pid, seed=index)
        )
    connections.close_all()

    baseline, baseline_error = None, ""
    if args.no_pgbench:
        baseline_error = "skipped (--no-pgbench)"
    else:
        try:
            baseline = pgbench_tpcb(clients=args.concurrency, duration=max(1, round(args.duration)))
        except lib.BenchError as error:
            baseline_error = str(error)
            lib.log(f"no pgbench TPC-B baseline: {error}")
        finally:
            lib.drop_pgbench_database()

    def vs(rps: float) -> str:
        if baseline is None or baseline.tps <= 0 or rps <= 0:
            return "-"
        return f"{rps / baseline.tps:.3f} (1:{baseline.tps / rps:,.1f})"

    rows = []
    if baseline is not None:
        rows.append(
            [
                "pgbench TPC-B (baseline)",
                f"{baseline.transactions:,}",
                f"{baseline.tps:,.0f}",
                f"avg {baseline.latency_avg_ms:.2f}",
                "-",
                "-",
                "0",
                "1",
            ]
        )
    for m in measurements:
        s = m["summary"]
        errors = ", ".join(f"{n} {k}" for k, n in sorted(m["errors_by_type"].items())) or "0"
        rows.append(
            [
                m["name"],
                f"{s.requests:,}",
                f"{s.rps:,.1f}",
                _fmt_ms(s.p50_ms),
                _fmt_ms(s.p95_ms),
                _fmt_ms(s.p99_ms),
                errors,
                vs(s.rps),
            ]
        )
    headers = ["scenario", "ops", "ops/s", "p50 ms", "p95 ms", "p99 ms", "errors"]
    cpu_rows = []
    for m in measurements:
        cpu, rps = m["cpu"], m["summary"].rps
        if cpu is None:
            continue

        def per_op(value, rps=rps):
            return "-" if value is None or rps <= 0 else f"{1000 * value / rps:.2f}"

        cpu_rows.append(
            [
                m["name"],
                f"{cpu.system:.2f}",
                f"{cpu.client:.2f}",
                "-" if cpu.database is None else f"{cpu.database:.2f}",
                "-" if cpu.other is None else f"{cpu.other:.2f}",
                per_op(cpu.client),
                per_op(cpu.database),
            ]
        )

    spread = measurements[1]["summary"]
    ratio = spread.rps / baseline.tps if baseline and baseline.tps > 0 else None
    target = {
        "target": f"spread reservations/s / pgbench TPC-B TPS >= {TARGET_RATIO:.3f} (1/3)",
        "value": None if ratio is None else round(ratio, 3),
        "met": None if ratio is None else ratio >= TARGET_RATIO,
    }
    lines = [
        "",
        f"== inventory (in process, {args.concurrency} threads, one connection each, "
        f"{args.duration:g} s per measurement after {args.warmup:g} s of warm-up) ==",
        f"data: {len(products):,} products, {len(skus):,} SKUs at {STOCK_LEVEL:,} on hand at "
        f"{LOCATION} (set in {plan.info['stock_seconds']:.1f} s), hot SKU variant {hot}",
        (
            f"baseline: {baseline.command}: {baseline.tps:,.0f} TPS, average latency "
            f"{baseline.latency_avg_ms:.2f} ms"
            if baseline
            else f"baseline: none ({baseline_error})"
        ),
        "",
        _table([*headers, "vs pgbench TPC-B"], rows),
    ]
    if cpu_rows:
        lines += [
            "",
            f"CPU during each measurement (average cores busy, of {os.cpu_count()}):",
            _table(
                ["scenario", "busy", "python", "postgres", "other", "python ms/op", "pg ms/op"],
                cpu_rows,
            ),
        ]
    lines += [
        "",
        f"SQL queries: availability_for_channel for {len(sample)} variants "
        f"({PAGE_PRODUCTS} products): {availability_queries}; stock_reserve of one line: "
        f"{reserve_queries}",
        f"target: {target['target']}: {target['value']} -> "
        + ("-" if target["met"] is None else "met" if target["met"] else "MISSED"),
    ]
    for m in measurements:
        for sample_error in m["error_samples"][:3]:
            lines.append(f"error sample ({m['name']}): {sample_error}")
    results = {
        "pgbench_tpcb": lib.asdict(baseline) if baseline else {"error": baseline_error},
        "sql_queries": {
            "availability_for_channel": availability_queries,
            "availability_variant_ids": len(sample),
            "stock_reserve_one_line": reserve_queries,
        },
        "measurements": [
            m
            | {
                "summary": lib.asdict(m["summary"]),
                "cpu": lib.asdict(m["cpu"]) if m["cpu"] else None,
                "vs_pgbench_tpcb": m["summary"].rps / baseline.tps if baseline else None,
            }
            for m in measurements
        ],
        "target": target,
    }
    had_errors = any(m["summary"].errors for m in measurements)
    return results, "\n".join(lines), had_errors
