"""Fixtures for the outbox tests: the real broker queue, test consumers, threads, a worker.

Nothing here mocks the database or the broker: the tests run against the PostgreSQL and Redis
that `./dev test` starts, and a second Redis that a test may start and stop itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import kombu.pools
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.contrib.auth.models import Group
from django.db import connections

from commerce import events
from commerce.celery import app as celery_app
from commerce.models import OutboxEvent

BROKER_QUEUE = "celery"  # Celery's default queue: a list of that name in Redis


# --- Broker ---------------------------------------------------------------------------------


def _flush_queue(client: redis.Redis) -> None:
    client.delete(BROKER_QUEUE, "unacked", "unacked_index")


@pytest.fixture
def broker_queue() -> Iterator[redis.Redis]:
    """A client of the broker's Redis (REDIS_URL), with Celery's queue empty before and after."""
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("REDIS_URL is not set: run these tests with `./dev test`")
    assert celery_app.conf.broker_url == url, "the Celery app is not on REDIS_URL"
    client = redis.Redis.from_url(url)
    _flush_queue(client)
    yield client
    _flush_queue(client)
    client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _use_broker(url: str) -> None:
    """Point the Celery app at `url`, dropping every pooled connection to the old broker.

    `app.pool` and `app.amqp.producer_pool` are cached, and kombu keeps its pools in a
    process-wide registry keyed by connection; all three must go for the new URL to be used.
    """
    celery_app.conf.broker_url = url
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@dataclass
class RedisServer:
    """A `redis-server` of our own, which a test can stop and start again on the same port."""

    port: int
    process: subprocess.Popen | None = None
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None, "already running"
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        pytest.fail(f"redis-server did not start on port {self.port}")
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)


@pytest.fixture
def own_broker() -> Iterator[RedisServer]:
    """A Redis server of the test's own, and the Celery app's broker pointed at it.

    Teardown kills the server and puts the app back on its configured broker.
    """
    original_url = celery_app.conf.broker_url
    server = RedisServer(port=_free_port())
    server.start()
    try:
        _use_broker(server.url)
        yield server
    finally:
        server.stop()
        _use_broker(original_url)


# --- Consumers and their effects -----------------------------------------------------------


class Consumers:
    """Test consumers, registered in the outbox's registry for the length of one test.

    A consumer's effect is a Group written by its handler, hence inside the receipt's
    transaction. Each name carries a random suffix: Group names are unique, and a second effect
    must show as a second row, not as a failing handler.
    """

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(
        self,
        name: str,
        event_type: str,
        *,
        fail: threading.Event | None = None,
        delay: float = 0.0,
    ) -> str:
        """Subscribe `name` to `event_type`. While `fail` is set, the handler raises after
        writing its effect; `delay` seconds of sleep widen the window for a race."""

        def handler(event: OutboxEvent) -> None:
            Group.objects.create(name=self._prefix(event, name) + uuid.uuid4().hex[:12])
            if delay:
                time.sleep(delay)
            if fail is not None and fail.is_set():
                raise RuntimeError(f"{name} is broken")

        events.register_consumer(name=name, event_types=[event_type], handler=handler)
        self.names.append(name)
        return name

    def effects(self, event: OutboxEvent, name: str) -> int:
        """How many times consumer `name` had its effect for `event`."""
        return Group.objects.filter(name__startswith=self._prefix(event, name)).count()

    @staticmethod
    def _prefix(event: OutboxEvent, name: str) -> str:
        return f"effect-{event.pk}-{name}-"

    def remove_all(self) -> None:
        for name in self.names:
            events.unregister_consumer(name=name)


@pytest.fixture
def consumers() -> Iterator[Consumers]:
    registry = Consumers()
    yield registry
    registry.remove_all()


# --- A real worker --------------------------------------------------------------------------


def _close_db_connections(**kwargs: Any) -> None:
    connections.close_all()


@contextmanager
def _embedded_worker() -> Iterator[Any]:
    root = logging.getLogger()
    root_level, root_handlers = root.level, root.handlers[:]  # the worker takes the root logger
    task_postrun.connect(_close_db_connections, weak=False)
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30
        ) as worker:
            yield worker
    finally:
        task_postrun.disconnect(_close_db_connections)
        root.setLevel(root_level)
        root.handlers[:] = root_handlers


@pytest.fixture
def embedded_worker() -> Callable[[], AbstractContextManager[Any]]:
    """Start with `with embedded_worker():` a real Celery worker in a thread of this process.

    It consumes from the app's broker as configured when it starts. Tasks run in the worker's
    thread on their own database connection, closed after each task (CONN_MAX_AGE would keep
    it open past the test).
    """
    return _embedded_worker
