"""Fixtures for the resilience tests: Redis servers of the test's own, stopped and started while
the code under test runs, and a real `celery -A commerce worker` in a subprocess.

Nothing is mocked. The suite's shared Redis is never stopped: each test starts its own
`redis-server` on a free port (`tests.commerce.conftest.RedisServer`, without persistence, so a
restart also loses what was queued, the harshest outage). The worker subprocess runs in a
session of its own and is killed with all its pool processes when the test ends, pass or fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from customers.api.permissions import local_counters
from tests.commerce.conftest import RedisServer, _free_port, own_broker  # noqa: F401
from tests.orders.conftest import ledger_reconciles, shop  # noqa: F401

WORKER_START_TIMEOUT = 60


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Poll `condition` until it holds or `timeout` seconds passed; return whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def broker_counts(server: RedisServer) -> tuple[int, int]:
    """(messages waiting in Celery's queue, messages a worker took and has not acknowledged):
    kombu keeps the latter in a hash until the task is done."""
    client = server.client()
    try:
        return client.llen("celery"), client.hlen("unacked")
    except redis.ConnectionError:
        return -1, -1
    finally:
        client.close()


def _process_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process from /proc, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return state, int(ppid)


def _is_running(pid: int) -> bool:
    state = _process_state(pid)
    return state is not None and state[0] not in ("Z", "X")  # a zombie has died


@dataclass
class WorkerProcess:
    """A `celery worker` subprocess and its log."""

    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def pool_pids(self) -> set[int]:
        """The pool processes (children of the main process) that are running now."""
        children = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                state = _process_state(int(entry.name))
                if state is not None and state[1] == self.process.pid:
                    children.add(int(entry.name))
        return {pid for pid in children if _is_running(pid)}

    def all_alive(self, pool: set[int]) -> bool:
        """The main process and every one of `pool` still run."""
        return self.process.poll() is None and all(_is_running(pid) for pid in pool)


def database_url() -> str:
    """The test database (as pytest-django renamed it), for another process to connect to."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


def _stop(process: subprocess.Popen) -> None:
    """Warm shutdown of the worker and its pool; killed when that takes too long."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its session (pool children)
    process.wait()


@contextmanager
def celery_worker(
    *,
    broker_url: str,
    log_dir: Path,
    concurrency: int = 2,
    database: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[WorkerProcess]:
    """`celery -A commerce worker` on `broker_url`, as production runs it, plus the test tasks.

    The settings come from the environment as in production (REDIS_URL), so the worker's broker
    transport and options are the configured ones.
    """
    env = {**os.environ, "REDIS_URL": broker_url, "DEBUG": "0", "OUTBOX_RELAY_GRACE_SECONDS": "1"}
    for name in ("CELERY_BROKER_URL", "CACHE_URL"):
        env.pop(name, None)
    if database:
        env["DATABASE_URL"] = database
    env.update(extra_env or {})
    log_path = log_dir / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "commerce",
                "worker",
                "--include",
                "tests.resilience.tasks",
                f"--concurrency={concurrency}",
                "--loglevel=INFO",
                f"--hostname=resilience-{os.getpid()}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with every pool process
        )
    worker = WorkerProcess(process=process, log_path=log_path)
    try:
        started = wait_until(
            lambda: " ready." in worker.log() or process.poll() is not None,
            timeout=WORKER_START_TIMEOUT,
        )
        if not started or process.poll() is not None:
            pytest.fail(f"the worker did not start:\n{worker.tail()}")
        yield worker
    finally:
        _stop(process)


@pytest.fixture
def cache_redis(settings) -> Iterator[RedisServer]:
    """A Redis server of the test's own as the default cache (where the throttles count), with
    the socket timeouts the settings give a Redis cache. The test may stop and start it."""
    local_counters.clear()  # what the throttles counted in this process while a cache was down
    server = RedisServer(port=_free_port())
    server.start()
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    try:
        yield server
    finally:
        server.stop()
