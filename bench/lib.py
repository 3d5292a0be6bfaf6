"""Building blocks of the benchmark runner: environment, data preparation, in-process checks
(queries, profile), the pgbench baseline, a gunicorn under test, CPU accounting and the load
generator. Standard library plus what the project's venv already has (Django, psycopg)."""

from __future__ import annotations

import contextlib
import cProfile
import ctypes
import gc
import glob
import http.client
import itertools
import math
import os
import pstats
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
HOST = "127.0.0.1"

# What every process of the run (this one, manage.py, gunicorn) sees: a production-like Django
# (DEBUG off) that answers plain HTTP on the loopback address.
SERVER_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": HOST,
    "SECURE_SSL_REDIRECT": "0",
    "LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "commerce.settings",
}
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql"}
REQUEST_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


class BenchError(Exception):
    """A step of the run failed; the message says which and why."""


def log(message: str) -> None:
    print(f"--> {message}", file=sys.stderr, flush=True)


# --- environment ----------------------------------------------------------------------------


def configure_environment() -> list[str]:
    """Check DATABASE_URL and set the variables shared by every process of the run."""
    notes = []
    url = os.environ.get("DATABASE_URL", "")
    if urllib.parse.urlsplit(url).scheme not in POSTGRES_SCHEMES:
        raise BenchError(
            "DATABASE_URL must point to PostgreSQL (run through `./dev bench`, which starts a "
            "throwaway server, or set DATABASE_URL=postgres://user:password@host:port/db)."
        )
    key = os.environ.get("SECRET_KEY", "")
    if not key or key.startswith("django-insecure"):
        os.environ["SECRET_KEY"] = f"bench-{secrets.token_urlsafe(40)}"
        notes.append("SECRET_KEY was not set: using a random key for this run.")
    os.environ.update(SERVER_ENV)
    return notes


def database_params(url: str | None = None) -> dict[str, str]:
    """libpq keywords (host, port, user, password, dbname) from a DATABASE_URL."""
    parts = urllib.parse.urlsplit(url or os.environ["DATABASE_URL"])
    params = {
        "host": urllib.parse.unquote(parts.hostname or ""),
        "port": str(parts.port or ""),
        "user": urllib.parse.unquote(parts.username or ""),
        "password": urllib.parse.unquote(parts.password or ""),
        "dbname": urllib.parse.unquote(parts.path.lstrip("/")),
    }
    return {key: value for key, value in params.items() if value}


def python() -> str:
    return sys.executable


def gunicorn_command() -> list[str]:
    candidate = Path(sys.executable).parent / "gunicorn"
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("gunicorn")
    return [found] if found else [sys.executable, "-m", "gunicorn"]


# --- statistics -----------------------------------------------------------------------------


def percentile(sorted_values: list[float], pct: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


@dataclass
class Summary:
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, latencies: list[float], errors: int, seconds: float) -> Summary:
        values = sorted(latencies)
        ms = [1000 * percentile(values, p) for p in (50, 95, 99)]
        return cls(
            requests=len(values),
            errors=errors,
            seconds=seconds,
            rps=len(values) / seconds if seconds > 0 else 0.0,
            p50_ms=ms[0],
            p95_ms=ms[1],
            p99_ms=ms[2],
            mean_ms=1000 * statistics.fmean(values) if values else math.nan,
            max_ms=1000 * values[-1] if values else math.nan,
        )


# --- CPU accounting (Linux /proc; silently absent elsewhere) --------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[int, float, float]]:
    """pid -> (ppid, own CPU seconds, CPU seconds of reaped children)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2 :].split()  # fields from #3 (state) on
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        table[int(entry)] = (
            int(fields[1]),
            (utime + stime) / CLOCK_TICKS,
            (cutime + cstime) / CLOCK_TICKS,
        )
    return table


def _tree_cpu(root: int | None, table: dict[int, tuple[int, float, float]]) -> float | None:
    """CPU seconds of a process and all its descendants, living or reaped."""
    if root is None or root not in table:
        return None
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        _, own, reaped = table[pid]
        total += own + reaped
        stack.extend(children.get(pid, []))
    return total


def _system_busy_seconds() -> float | None:
    try:
        with open("/proc/stat") as handle:
            fields = [int(value) for value in handle.readline().split()[1:]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def _self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuSnapshot:
    wall: float
    system: float | None
    client: float
    server: float | None
    database: float | None

    @classmethod
    def take(cls, server_pid: int | None, database_pid: int | None) -> CpuSnapshot:
        try:
            table = _processes()
        except OSError:
            table = {}
        return cls(
            wall=time.perf_counter(),
            system=_system_busy_seconds(),
            client=_self_cpu_seconds(),
            server=_tree_cpu(server_pid, table),
            database=_tree_cpu(database_pid, table),
        )


@dataclass
class CpuUsage:
    """Average cores busy during a measurement, by who used them."""

    cores: int
    system: float | None
    client: float
    server: float | None
    database: float | None
    other: float | None

    @classmethod
    def between(cls, start: CpuSnapshot, end: CpuSnapshot) -> CpuUsage:
        wall = max(end.wall - start.wall, 1e-9)

        def rate(a, b):
            return None if a is None or b is None else max(b - a, 0.0) / wall

        system = rate(start.system, end.system)
        client = rate(start.client, end.client)
        server = rate(start.server, end.server)
        database = rate(start.database, end.database)
        other = None
        if system is not None:
            other = max(system - client - (server or 0.0) - (database or 0.0), 0.0)
        return cls(os.cpu_count() or 1, system, client, server, database, other)


def postgres_postmaster_pid() -> int | None:
    """The local postmaster serving Django's connection (for CPU accounting), if visible."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        return _processes()[backend][0]
    except (OSError, KeyError):
        return None  # a remote server, or /proc is not readable


# --- data preparation -----------------------------------------------------------------------


def manage(*args: str) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [python(), "manage.py", *args],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        text=True,
        capture_output=True,
        check=False,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        code = completed.returncode
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"failed (exit {code})"
        raise BenchError(f"manage.py {' '.join(args)} {how}")
    return completed


@dataclass
class DataPreparation:
    products_wanted: int
    products_before: int
    products_after: int
    seeded: bool
    migrate_seconds: float
    seed_seconds: float | None
    vacuum_seconds: float
    seed_summary: str = ""


def setup_django() -> None:
    """Django in this process: for counting queries, profiling and picking request targets."""
    import django

    # WhiteNoise warns once per process that collectstatic has not been run; the API needs none.
    warnings.filterwarnings("ignore", message=r"No directory at: ")
    django.setup()


def product_count() -> int:
    from catalog.models import Product

    return Product.objects.count()


def prepare_database(products: int) -> DataPreparation:
    """Migrate, seed the demo catalogue unless `products` are already there, then VACUUM ANALYZE
    the catalogue so the planner has statistics, as autovacuum would have in production."""
    log("migrating")
    started = time.perf_counter()
    manage("migrate", "--noinput")
    migrate_seconds = time.perf_counter() - started
    setup_django()
    before = product_count()
    seed_seconds, summary = None, ""
    if before < products:
        log(f"seeding {products:,} products (the database holds {before:,})")
        started = time.perf_counter()
        completed = manage("seed_demo", "--products", str(products))
        seed_seconds = time.perf_counter() - started
        summary = " ".join(
            line.strip()
            for line in completed.stdout.splitlines()
            if line.strip() and not line.startswith(("Logins:", "Done in"))  # no API token
        )
        log(f"seeded in {seed_seconds:.1f} s. {summary}")
    else:
        log(f"skipping seeding: the database already holds {before:,} products")
    started = time.perf_counter()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename LIKE 'catalog\\_%%'"
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')
    vacuum_seconds = time.perf_counter() - started
    return DataPreparation(
        products_wanted=products,
        products_before=before,
        products_after=product_count(),
        seeded=seed_seconds is not None,
        migrate_seconds=migrate_seconds,
        seed_seconds=seed_seconds,
        vacuum_seconds=vacuum_seconds,
        seed_summary=summary,
    )


# --- in-process checks ----------------------------------------------------------------------


def _client():
    from django.test import Client

    return Client(HTTP_HOST=HOST, HTTP_ACCEPT="application/json")


@dataclass
class InProcessCheck:
    name: str
    path: str
    status: int
    queries: int
    total_ms: float  # median wall time of the request
    sql_ms: float  # median wall time inside cursor.execute (PostgreSQL + round trip)
    cpu_ms: float  # mean CPU time of this process (Python, incl. GC)
    gc_ms: float  # mean CPU time in Python's cyclic garbage collector
    response_bytes: int
    sql: list[str] = field(default_factory=list)


class _GcTimer:
    """CPU seconds spent in the cyclic garbage collector while installed (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started

    def __enter__(self) -> _GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        gc.callbacks.remove(self)


def check_in_process(name: str, path: str, *, runs: int = 10) -> InProcessCheck:
    """Count the SQL queries of one request with CaptureQueriesContext, then time `runs` more,
    one at a time: wall time, time in SQL, CPU time and how much of it the GC took."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    queries = [query["sql"] for query in captured.captured_queries]

    sql_time = [0.0]

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_time[0] += time.perf_counter() - started

    totals, sqls = [], []
    with _GcTimer() as gc_timer, connection.execute_wrapper(timed):
        cpu_started = time.process_time()
        for _ in range(runs):
            sql_time[0] = 0.0
            started = time.perf_counter()
            client.get(path)
            totals.append(time.perf_counter() - started)
            sqls.append(sql_time[0])
        cpu = time.process_time() - cpu_started
    return InProcessCheck(
        name=name,
        path=path,
        status=response.status_code,
        queries=len(queries),
        total_ms=1000 * statistics.median(totals),
        sql_ms=1000 * statistics.median(sqls),
        cpu_ms=1000 * cpu / runs,
        gc_ms=1000 * gc_timer.seconds / runs,
        response_bytes=len(response.content),
        sql=queries,
    )


def get_json(path: str) -> dict:
    response = _client().get(path)
    if response.status_code != 200:
        raise BenchError(f"GET {path} answered {response.status_code} in process")
    return response.json()


# Where a profiled request's own time (tottime) is spent, first match wins.
_PROFILE_AREAS = [
    ("PostgreSQL round trips (psycopg, incl. waiting)", ("psycopg", "select.", "poll", "wait_c")),
    ("Django ORM: SQL compilation", ("django/db/models/sql/",)),
    ("Django ORM: rows -> model instances, prefetch", ("django/db/",)),
    ("project code (catalog/, commerce/)", (f"{REPO_ROOT}/catalog/", f"{REPO_ROOT}/commerce/")),
    ("decimal / money formatting", ("decimal", "_pydecimal")),
    ("DRF + JSON rendering", ("rest_framework/", "/json/", "json.")),
    ("django-filter", ("django_filters/",)),
    ("Django translation (gettext)", ("django/utils/translation", "gettext")),
    ("Django request/response, middleware, URLs", ("django/",)),
]


def _profile_area(filename: str, function: str) -> str:
    where = f"{filename}:{function}"
    for label, needles in _PROFILE_AREAS:
        if any(needle in where for needle in needles):
            return label
    return "other (stdlib, builtins)"


def profile_requests(paths: list[str], *, top: int = 15) -> dict:
    """cProfile `paths` in process (after warming up) and group the cost per request."""
    client = _client()
    for path in paths[:3]:
        client.get(path)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for path in paths:
        client.get(path)
    profiler.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    count = len(paths)
    areas: Counter[str] = Counter()
    functions = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():
        areas[_profile_area(filename, function)] += own
        short = filename.replace(f"{REPO_ROOT}/", "")
        short = re.sub(r".*/site-packages/", "", short)
        functions.append(
            {
                "function": f"{short}:{line}({function})",
                "calls_per_request": calls / count,
                "own_ms": 1000 * own / count,
                "cumulative_ms": 1000 * cumulative / count,
            }
        )
    functions.sort(key=lambda row: row["own_ms"], reverse=True)
    return {
        "requests": count,
        "wall_ms_per_request": 1000 * wall / count,
        "areas_ms_per_request": {
            label: 1000 * seconds / count for label, seconds in areas.most_common()
        },
        "top_functions": functions[:top],
    }


# --- pgbench baseline -----------------------------------------------------------------------


def find_pgbench() -> str | None:
    """pg_config --bindir, then /usr/lib/postgresql/*/bin (newest first), then PATH."""
    try:
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if bindir and os.access(os.path.join(bindir, "pgbench"), os.X_OK):
            return os.path.join(bindir, "pgbench")
    except (OSError, subprocess.CalledProcessError):
        pass

    def version(directory: str) -> float:
        try:
            return float(Path(directory).parent.name)
        except ValueError:
            return 0.0

    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if os.access(os.path.join(directory, "pgbench"), os.X_OK):
            return os.path.join(directory, "pgbench")
    return shutil.which("pgbench")


@dataclass
class PgbenchResult:
    command: str
    scale: int
    clients: int
    threads: int
    seconds: float
    transactions: int
    tps: float
    latency_avg_ms: float
    init_seconds: float


PGBENCH_DATABASE = "bench_pgbench"


def _admin_connection():
    import psycopg

    return psycopg.connect(autocommit=True, **database_params())


def pgbench_baseline(*, clients: int, duration: int, scale: int = 10) -> PgbenchResult:
    """`pgbench -i -s scale` into its own database on the Django database's server, then a
    select-only run with as many clients as the HTTP load: what the same machine does when
    every request is a single indexed SELECT."""
    import psycopg
    from psycopg import sql

    executable = find_pgbench()
    if executable is None:
        raise BenchError("pgbench not found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH)")
    try:
        with _admin_connection() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PGBENCH_DATABASE))
            )
    except psycopg.errors.DuplicateDatabase:
        pass
    except psycopg.Error as error:
        raise BenchError(f"cannot create database {PGBENCH_DATABASE}: {error}") from None
    params = database_params()
    env = os.environ.copy()
    env.update(
        {
            f"PG{key.upper()}": value
            for key, value in params.items()
            if key in {"host", "port", "user", "password"}
        }
    )
    log(f"pgbench -i -s {scale}")
    started = time.perf_counter()
    _run_pgbench([executable, "-i", "-q", "-s", str(scale), PGBENCH_DATABASE], env)
    init_seconds = time.perf_counter() - started
    threads = max(1, min(2, clients))
    arguments = ["-S", "-c", str(clients), "-j", str(threads), "-T", str(duration)]
    log(f"pgbench {' '.join(arguments)}")
    output = _run_pgbench([executable, *arguments, PGBENCH_DATABASE], env)
    tps = re.search(r"^tps = ([\d.]+)", output, re.MULTILINE)
    latency = re.search(r"^latency average = ([\d.]+) ms", output, re.MULTILINE)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    if not tps or not latency:
        raise BenchError(f"could not read pgbench's output:\n{output}")
    return PgbenchResult(
        command=f"pgbench {' '.join(arguments)} (scale {scale})",
        scale=scale,
        clients=clients,
        threads=threads,
        seconds=duration,
        transactions=int(processed.group(1)) if processed else 0,
        tps=float(tps.group(1)),
        latency_avg_ms=float(latency.group(1)),
        init_seconds=init_seconds,
    )


def _run_pgbench(command: list[str], env: dict[str, str]) -> str:
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BenchError(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")
    return completed.stdout + completed.stderr


def drop_pgbench_database() -> None:
    import psycopg
    from psycopg import sql

    try:
        with _admin_connection() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(PGBENCH_DATABASE)
                )
            )
    except psycopg.Error as error:
        log(f"could not drop database {PGBENCH_DATABASE}: {error}")


# --- the server under test ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the gunicorn master if the runner dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class GunicornConfig:
    workers: int
    threads: int
    keep_alive: int = 30

    def describe(self) -> str:
        return (
            f"gthread, {self.workers} workers x {self.threads} threads, "
            f"keep-alive {self.keep_alive} s"
        )

    def arguments(self) -> list[str]:
        arguments = [
            "--worker-class",
            "gthread",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--keep-alive",
            str(self.keep_alive),
            "--log-level",
            "warning",
            "--timeout",
            "60",
            "--graceful-timeout",
            "10",
        ]
        if os.path.isdir("/dev/shm"):
            arguments += ["--worker-tmp-dir", "/dev/shm"]
        return arguments


class Gunicorn:
    """`gunicorn commerce.wsgi` on a free loopback port, in its own process group; a context
    manager that waits until every worker answers and always stops the whole group."""

    def __init__(self, config: GunicornConfig):
        self.config = config
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            mode="w+", prefix="bench-gunicorn-", suffix=".log"
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def __enter__(self) -> Gunicorn:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        for attempt in range(3):
            self.port = free_port()
            command = [
                *gunicorn_command(),
                "commerce.wsgi",
                "--bind",
                f"{HOST}:{self.port}",
                *self.config.arguments(),
            ]
            env = os.environ.copy()
            # WhiteNoise warns in every worker that collectstatic has not run; the API needs none.
            env["PYTHONWARNINGS"] = "ignore:No directory at"
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            if self._wait_ready(timeout):
                return
            if "Address already in use" in self.log_tail() and attempt < 2:
                self.stop(close_log=False)
                continue
            break
        tail = self.log_tail()
        self.stop()
        raise BenchError(f"gunicorn did not start:\n{tail}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        answered = False
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if not answered:
                answered = self._answers()
            if answered and len(self.worker_pids()) >= self.config.workers:
                # Every worker imports Django on its own: give the last ones a moment, then
                # make sure that the server still answers.
                time.sleep(0.5)
                return self._answers()
            time.sleep(0.2)
        return False

    def _answers(self) -> bool:
        try:
            connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
            connection.request("GET", "/api/v1/channels/", headers=REQUEST_HEADERS)
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except (OSError, http.client.HTTPException):
            return False

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        try:
            table = _processes()
        except OSError:
            return []
        return [pid for pid, (ppid, _, _) in table.items() if ppid == self.process.pid]

    def log_tail(self, lines: int = 40) -> str:
        try:
            self._log.flush()
            with open(self._log.name, errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except (OSError, ValueError):
            return ""

    def stop(self, close_log: bool = True) -> None:
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=20)
            # Whatever is left of the group (a stuck master or an orphaned worker).
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                time.sleep(1)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log(f"gunicorn master {process.pid} did not exit")
        if close_log:
            self._log.close()


# --- load generator -------------------------------------------------------------------------


@dataclass
class Workload:
    """A stream of GET requests: `next_request(rng)` returns (label, path); a label groups the
    requests of one kind (e.g. one filter) in the breakdown."""

    name: str
    description: str
    next_request: Callable[[random.Random], tuple[str, str]]


@dataclass
class Measurement:
    name: str
    description: str
    concurrency: int
    summary: Summary
    by_label: dict[str, Summary]
    statuses: dict[str, int]
    error_samples: list[str]
    bytes_per_response: float
    cpu: CpuUsage | None

    def as_dict(self) -> dict:
        return asdict(self)


class _LoadClient(threading.Thread):
    """One simulated client: a keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, *, port, workload, seed, start_at, deadline, counter, budget, stop):
        super().__init__(daemon=True)
        self.port, self.workload = port, workload
        self.rng = random.Random(seed)
        self.start_at, self.deadline = start_at, deadline
        self.counter, self.budget, self.stop = counter, budget, stop
        self.latencies: list[float] = []
        self.labels: list[str] = []
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.bytes = 0
        self.last_finish = 0.0

    def run(self) -> None:
        connection = None
        while not self.stop.is_set():
            started = time.perf_counter()
            if started >= self.deadline:
                break
            measuring = started >= self.start_at
            if measuring and next(self.counter) >= self.budget:
                break
            label, path = self.workload.next_request(self.rng)
            body, status = b"", 0
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
                connection.request("GET", path, headers=REQUEST_HEADERS)
                response = connection.getresponse()
                body = response.read()
                status = response.status
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                if connection is not None:
                    connection.close()
                connection = None
                if measuring and len(self.errors) < 5:
                    self.errors.append(f"{path}: {error!r}")
            finished = time.perf_counter()
            if not measuring:
                continue
            self.latencies.append(finished - started)
            self.labels.append(label)
            self.statuses.append(status)
            self.bytes += len(body)
            self.last_finish = finished
            if not 200 <= status < 300 and status and len(self.errors) < 5:
                self.errors.append(f"{path}: HTTP {status} {body[:200]!r}")
        if connection is not None:
            connection.close()


def measure(
    workload: Workload,
    *,
    server: Gunicorn,
    concurrency: int,
    duration: float,
    warmup: float,
    max_requests: int,
    database_pid: int | None = None,
    seed: int = 1,
) -> Measurement:
    """Closed loop: `concurrency` clients send requests back to back for `warmup` seconds
    (discarded), then for `duration` seconds or until `max_requests`, whichever comes first.
    Every latency is kept; anything but a 2xx answer is an error."""
    stop = threading.Event()
    now = time.perf_counter()
    start_at = now + warmup
    deadline = start_at + duration
    counter = itertools.count()  # next() is atomic in CPython: the shared request budget
    clients = [
        _LoadClient(
            port=server.port,
            workload=workload,
            seed=seed * 1000 + index,
            start_at=start_at,
            deadline=deadline,
            counter=counter,
            budget=max_requests,
            stop=stop,
        )
        for index in range(concurrency)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(max(start_at - time.perf_counter(), 0))
        before = CpuSnapshot.take(server.pid, database_pid)
        for client in clients:
            client.join()
        after = CpuSnapshot.take(server.pid, database_pid)
    finally:
        stop.set()
    end = max((client.last_finish for client in clients), default=start_at)
    seconds = max(end - start_at, 1e-9)

    latencies = [value for client in clients for value in client.latencies]
    labels = [value for client in clients for value in client.labels]
    statuses = [value for client in clients for value in client.statuses]
    failed = [not 200 <= status < 300 for status in statuses]
    by_label: dict[str, Summary] = {}
    for label in sorted(set(labels)):
        picked = [i for i, value in enumerate(labels) if value == label]
        by_label[label] = Summary.of(
            [latencies[i] for i in picked], sum(failed[i] for i in picked), seconds
        )
    return Measurement(
        name=workload.name,
        description=workload.description,
        concurrency=concurrency,
        summary=Summary.of(latencies, sum(failed), seconds),
        by_label=by_label if len(by_label) > 1 else {},
        statuses={str(code): count for code, count in sorted(Counter(statuses).items())},
        error_samples=[error for client in clients for error in client.errors][:10],
        bytes_per_response=sum(client.bytes for client in clients) / max(len(latencies), 1),
        cpu=CpuUsage.between(before, after) if before.system is not None else None,
    )


# --- scenarios ------------------------------------------------------------------------------


@dataclass
class Plan:
    """What a scenario prepared in process, before any server runs."""

    workloads: list[Workload]
    sweep: Workload  # the workload that picks the gunicorn configuration with --sweep
    checks: list[InProcessCheck]
    profile_paths: list[str]
    query_target: tuple[str, int] | None = None  # (check name, fewer queries than this)
    p95_target: tuple[str, float] | None = None  # (workload name, p95 below this many ms)
    info: dict = field(default_factory=dict)
