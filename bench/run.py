"""Benchmark runner: `./dev bench [scenario ...] [options]` (see bench/README.md).

Prepares the database (migrate, seed_demo unless the products are there), counts queries in
process, takes a pgbench select-only baseline on the same PostgreSQL, starts gunicorn on a
loopback port, drives it with concurrent keep-alive clients, prints a table and writes a JSON
copy to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import signal
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import lib
from bench.scenarios import INCLUDED_IN, SCENARIOS

# Chosen with --sweep on the 2-core machine (50,000 products, concurrency 16): see README.md.
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 4
SWEEP_GRID = [(workers, threads) for workers in (2, 3, 4) for threads in (2, 3, 4)]
QUICK = {
    "products": 2000,
    "customers": 20000,
    "fulfilment_orders": 1000,
    "duration": 5.0,
    "warmup": 1.0,
    "sweep_duration": 3.0,
}
NOISY_CORES = 0.25  # warn when other processes used more than this during a measurement
FULL = {
    "products": 50000,
    "customers": 200000,
    "fulfilment_orders": 10000,
    "duration": 20.0,
    "warmup": 2.0,
    "sweep_duration": 10.0,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench",
        description="Run benchmark scenarios against a gunicorn on this machine.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="scenario",
        help=f"scenarios to run (default: all): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--products", type=int, help="products in the catalogue (default 50000, quick 2000)"
    )
    parser.add_argument(
        "--customers",
        type=int,
        help="customers for the customers scenario (default 200000, quick 20000)",
    )
    parser.add_argument(
        "--fulfilment-orders",
        type=int,
        help="orders routed in the fulfilment batch (default 10000, quick 1000; also run by "
        "checkout)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument(
        "--duration", type=float, help="seconds per measurement (default 20, quick 5)"
    )
    parser.add_argument(
        "--warmup", type=float, help="seconds of discarded load before each measurement (2)"
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=200_000,
        help="stop a measurement after this many requests (200000)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2000 products, 5 s per measurement"
    )
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help=f"gunicorn workers ({DEFAULT_WORKERS})"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"gunicorn threads per worker ({DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="first try gunicorn with 2..4 workers x 2..4 threads on the list page and keep "
        "the configuration with the best p95",
    )
    parser.add_argument("--sweep-duration", type=float, help="seconds per sweep step (10)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile list pages in process, show top costs"
    )
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench baseline")
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(
        args.products, args.customers, args.fulfilment_orders, args.concurrency, args.max_requests
    ) < 1 or (args.duration <= 0):
        parser.error(
            "--products, --customers, --fulfilment-orders, --concurrency, --max-requests and "
            "--duration must be positive"
        )
    chosen = args.scenarios or list(SCENARIOS)
    # A scenario that another chosen one runs beside its own is not run twice.
    args.scenarios = [name for name in dict.fromkeys(chosen) if INCLUDED_IN.get(name) not in chosen]
    return args


# --- printing -------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells):
        return " | ".join(
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(rps: float, baseline: lib.PgbenchResult | None) -> str:
    if baseline is None or baseline.tps <= 0 or rps <= 0:
        return "-"
    value = rps / baseline.tps
    return f"{value:.4f} (1:{baseline.tps / rps:,.0f})"


def cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def per_request(value: float | None, rps: float) -> str:
    return "-" if value is None or rps <= 0 else f"{1000 * value / rps:.1f}"


def results_table(measurements: list[lib.Measurement], baseline: lib.PgbenchResult | None) -> str:
    rows = []
    if baseline is not None:
        rows.append(
            [
                "pgbench -S (baseline)",
                f"{baseline.transactions:,}",
                f"{baseline.tps:,.0f}",
                f"avg {baseline.latency_avg_ms:.2f}",
                "-",
                "-",
                "0",
                "1",
            ]
        )
    for measurement in measurements:
        summary = measurement.summary
        rows.append(
            [
                measurement.name,
                f"{summary.requests:,}",
                f"{summary.rps:,.1f}",
                ms(summary.p50_ms),
                ms(summary.p95_ms),
                ms(summary.p99_ms),
                f"{summary.errors:,}",
                ratio(summary.rps, baseline),
            ]
        )
        for label, part in measurement.by_label.items():
            rows.append(
                [
                    f"    {label}",
                    f"{part.requests:,}",
                    f"{part.rps:,.1f}",
                    ms(part.p50_ms),
                    ms(part.p95_ms),
                    ms(part.p99_ms),
                    f"{part.errors:,}",
                    "",
                ]
            )
    headers = ["scenario", "requests", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors"]
    return table([*headers, "vs pgbench -S"], rows)


def cpu_table(measurements: list[lib.Measurement]) -> str:
    rows = []
    for measurement in measurements:
        cpu, rps = measurement.cpu, measurement.summary.rps
        if cpu is None:
            continue
        rows.append(
            [
                measurement.name,
                cores(cpu.system),
                cores(cpu.client),
                cores(cpu.server),
                cores(cpu.database),
                cores(cpu.other),
                per_request(cpu.server, rps),
                per_request(cpu.database, rps),
                f"{measurement.bytes_per_response / 1024:,.1f}",
            ]
        )
    headers = ["scenario", "busy", "client", "gunicorn", "postgres", "other"]
    return table([*headers, "gunicorn ms/req", "postgres ms/req", "KiB/resp"], rows)


def checks_table(checks: list[lib.InProcessCheck]) -> str:
    rows = [
        [
            check.name,
            str(check.status),
            str(check.queries),
            ms(check.total_ms),
            ms(check.sql_ms),
            ms(check.cpu_ms),
            ms(check.gc_ms),
            f"{check.response_bytes / 1024:,.1f}",
        ]
        for check in checks
    ]
    headers = ["request", "status", "SQL queries", "total ms", "SQL ms", "CPU ms", "of it GC ms"]
    return table([*headers, "KiB"], rows)


def sweep_table(sweep: list[dict]) -> str:
    rows = [
        [
            step["config"],
            f"{step['summary'].rps:,.1f}",
            ms(step["summary"].p50_ms),
            ms(step["summary"].p95_ms),
            ms(step["summary"].p99_ms),
            f"{step['summary'].errors:,}",
        ]
        for step in sweep
    ]
    return table(["gunicorn", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows)


def profile_text(profile: dict) -> str:
    lines = [
        f"cProfile of {profile['requests']} list pages in process: "
        f"{profile['wall_ms_per_request']:.1f} ms per request under the profiler "
        "(which inflates Python-heavy code)",
        "  own time per request, by area:",
    ]
    lines += [
        f"    {value:7.2f} ms  {label}" for label, value in profile["areas_ms_per_request"].items()
    ]
    lines.append("  top functions by own time (ms per request, calls per request):")
    lines += [
        f"    {row['own_ms']:7.2f} ms  {row['calls_per_request']:8.0f}x  {row['function']}"
        for row in profile["top_functions"]
    ]
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------


def _raise_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    started_at = datetime.datetime.now(datetime.UTC)
    notes = lib.configure_environment()
    os.chdir(lib.REPO_ROOT)
    for note in notes:
        lib.log(note)

    # Scenarios say whether they need the demo catalogue and the pgbench -S baseline (both
    # default to yes); e.g. customers brings its own data and its own baseline.
    selected = [SCENARIOS[name] for name in args.scenarios]
    needs_catalogue = any(getattr(module, "NEEDS_CATALOGUE", True) for module in selected)
    preparation = lib.prepare_database(args.products if needs_catalogue else 0)
    database_pid = lib.postgres_postmaster_pid()
    plans = {name: SCENARIOS[name].prepare(args) for name in args.scenarios}
    checks = [check for plan in plans.values() for check in plan.checks]

    profiles = {}
    if args.profile:
        for name, plan in plans.items():
            if not plan.profile_paths:
                continue
            lib.log(f"profiling {name} in process")
            profiles[name] = lib.profile_requests(plan.profile_paths)

    baseline, baseline_error = None, ""
    if args.no_pgbench:
        baseline_error = "skipped (--no-pgbench)"
    elif not any(getattr(module, "USES_PGBENCH_S", True) for module in selected):
        baseline_error = "not needed by " + ", ".join(args.scenarios)
    else:
        try:
            baseline = lib.pgbench_baseline(
                clients=args.concurrency, duration=max(1, round(args.duration))
            )
        except lib.BenchError as error:
            baseline_error = str(error)
            lib.log(f"no pgbench baseline: {error}")
        finally:
            lib.drop_pgbench_database()

    from django.db import connections

    connections.close_all()  # the runner's own connection stays out of the measurements

    # Scenarios measured in process (no HTTP), e.g. inventory: (JSON results, text, errors).
    in_process = {
        name: SCENARIOS[name].run_in_process(args, plan)
        for name, plan in plans.items()
        if hasattr(SCENARIOS[name], "run_in_process")
    }
    connections.close_all()

    load = {
        "concurrency": args.concurrency,
        "duration": args.duration,
        "warmup": args.warmup,
        "max_requests": args.max_requests,
        "database_pid": database_pid,
    }
    config = lib.GunicornConfig(workers=args.workers, threads=args.threads)
    sweep: list[dict] = []
    http_plans = [plan for plan in plans.values() if plan.workloads]
    if args.sweep and http_plans:
        sweep_plan = http_plans[0]
        for workers, threads in SWEEP_GRID:
            step_config = lib.GunicornConfig(workers=workers, threads=threads)
            lib.log(f"sweep: {step_config.describe()}")
            with lib.Gunicorn(step_config) as server:
                measurement = lib.measure(
                    sweep_plan.sweep,
                    server=server,
                    **{**load, "duration": args.sweep_duration},
                )
            lib.log(_progress(measurement))
            sweep.append(
                {"config": step_config.describe(), "workers": workers, "threads": threads}
                | {"summary": measurement.summary}
            )
        best = min(
            (step for step in sweep if step["summary"].errors == 0),
            key=lambda step: (step["summary"].p95_ms, -step["summary"].rps),
            default=None,
        )
        if best is not None:
            config = lib.GunicornConfig(workers=best["workers"], threads=best["threads"])

    measurements: list[lib.Measurement] = []
    server_log = ""
    if http_plans:
        lib.log(f"starting gunicorn: {config.describe()}")
        with lib.Gunicorn(config) as server:
            for plan in http_plans:
                for workload in plan.workloads:
                    lib.log(f"measuring {workload.name}: {workload.description}")
                    measurement = lib.measure(workload, server=server, **load)
                    lib.log(_progress(measurement))
                    measurements.append(measurement)
            server_log = server.log_tail()

    report = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "postgresql": _server_version(),
        },
        "arguments": vars(args),
        "data": asdict(preparation),
        "gunicorn": {
            "config": config.describe(),
            **asdict(config),
            "sweep": [step | {"summary": asdict(step["summary"])} for step in sweep],
        },
        "pgbench": asdict(baseline) if baseline else {"error": baseline_error or "skipped"},
        "in_process": [asdict(check) for check in checks],
        "profile": profiles,
        "scenarios": {
            name: {
                "info": plan.info,
                "workloads": {w.name: w.description for w in plan.workloads},
            }
            | ({"results": in_process[name][0]} if name in in_process else {})
            for name, plan in plans.items()
        },
        "measurements": [
            measurement.as_dict()
            | {"vs_pgbench": measurement.summary.rps / baseline.tps if baseline else None}
            for measurement in measurements
        ],
    }
    report["targets"] = _targets(plans, checks, measurements)
    for name, (results, _, _) in in_process.items():
        if results["target"]["met"] is not None:
            report["targets"].append(results["target"] | {"scenario": name})
    print(_render(report, args, preparation, config, baseline, checks, measurements, sweep))
    for _, text, _ in in_process.values():
        print(text)
    if profiles:
        for name, profile in profiles.items():
            print(f"\n[{name}] " + profile_text(profile))
    if server_log.strip():
        print("\ngunicorn log (tail):\n" + server_log)

    lib.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = lib.RESULTS_DIR / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nJSON: {path.relative_to(lib.REPO_ROOT)}")
    failed = any(m.summary.errors for m in measurements)
    return 1 if failed or any(errors for _, _, errors in in_process.values()) else 0


def _progress(measurement: lib.Measurement) -> str:
    summary = measurement.summary
    return (
        f"    {summary.requests:,} requests, {summary.rps:,.1f}/s, p50 {ms(summary.p50_ms)} ms, "
        f"p95 {ms(summary.p95_ms)} ms, p99 {ms(summary.p99_ms)} ms, errors {summary.errors}"
        + (f" e.g. {measurement.error_samples[0]}" if measurement.error_samples else "")
    )


def _server_version() -> str:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def _targets(plans, checks, measurements) -> list[dict]:
    targets = []
    by_check = {check.name: check for check in checks}
    by_workload = {measurement.name: measurement for measurement in measurements}
    for plan in plans.values():
        if plan.query_target and plan.query_target[0] in by_check:
            name, limit = plan.query_target
            value = by_check[name].queries
            targets.append(
                {
                    "target": f"SQL queries per {name} < {limit}",
                    "value": value,
                    "met": value < limit,
                }
            )
        if plan.p95_target and plan.p95_target[0] in by_workload:
            name, limit = plan.p95_target
            measurement = by_workload[name]
            value = measurement.summary.p95_ms
            targets.append(
                {
                    "target": f"p95 of {name} at concurrency {measurement.concurrency} "
                    f"< {limit:g} ms",
                    "value": round(value, 1),
                    "met": value < limit and measurement.summary.errors == 0,
                }
            )
    return targets


def _render(report, args, preparation, config, baseline, checks, measurements, sweep) -> str:
    data = preparation
    if data.products_wanted == 0:
        seeding = "no catalogue needed"
    elif data.seeded:
        seeding = f"seeded in {data.seed_seconds:.1f} s ({data.seed_summary or 'seed_demo'})"
    else:
        seeding = f"seeding skipped: {data.products_before:,} products already there"
    lines = [
        "",
        f"== bench {', '.join(args.scenarios)}: {report['started_at']}, "
        f"{report['machine']['cpus']} CPUs, PostgreSQL {report['machine']['postgresql']} ==",
        f"data: {data.products_after:,} products; {seeding}; migrate {data.migrate_seconds:.1f} s; "
        f"VACUUM ANALYZE {data.vacuum_seconds:.1f} s",
        f"gunicorn: {config.describe()}"
        + (" (best p95 of the sweep)" if sweep else " (default; --sweep to compare)"),
        f"load: {args.concurrency} concurrent keep-alive clients, {args.duration:g} s per "
        f"measurement after {args.warmup:g} s of warm-up, at most {args.max_requests:,} requests",
    ]
    if baseline:
        lines.append(
            f"baseline: {baseline.command}: {baseline.tps:,.0f} TPS, average latency "
            f"{baseline.latency_avg_ms:.2f} ms"
        )
    else:
        lines.append(f"baseline: none ({report['pgbench'].get('error')})")
    if sweep:
        lines += ["", "gunicorn sweep (list page):", sweep_table(sweep)]
    lines += ["", results_table(measurements, baseline)]
    lines += [
        "",
        f"CPU during each measurement (average cores busy, of {os.cpu_count()}; other = "
        "processes outside this run):",
        cpu_table(measurements),
    ]
    others = [m.cpu.other for m in measurements if m.cpu and m.cpu.other is not None]
    if others and max(others) > NOISY_CORES:
        lines.append(
            f"WARNING: the machine was not idle: processes outside this run used up to "
            f"{max(others):.2f} cores during the measurements; expect lower, noisier figures."
        )
    lines += [
        "",
        "in process (Django test client, one request at a time; total and SQL are medians, "
        "CPU and GC means):",
        checks_table(checks),
    ]
    lines.append("")
    for target in report["targets"]:
        lines.append(
            f"target: {target['target']}: {target['value']} -> "
            + ("met" if target["met"] else "MISSED")
        )
    for measurement in measurements:
        for sample in measurement.error_samples[:3]:
            lines.append(f"error sample ({measurement.name}): {sample}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_on_signal)
    try:
        return run(args)
    except lib.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
