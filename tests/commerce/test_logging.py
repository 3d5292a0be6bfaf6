"""Request ids on responses and log lines, JSON logs in production, the error-reporting hook."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

from commerce.celery import app as celery_app


@pytest.fixture
def console_lines() -> Iterator[io.StringIO]:
    """What the configured console handler writes, captured."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def test_response_echoes_a_sane_request_id(https_client):
    response = https_client.get("/health/live/", HTTP_X_REQUEST_ID="lb-7f3a.91:2")

    assert response["X-Request-ID"] == "lb-7f3a.91:2"


@pytest.mark.parametrize(
    "sent",
    [None, "", "two words", "forged\nline", "x" * 129, "{json}", "-leading-dash"],
)
def test_response_carries_a_new_request_id_when_none_or_no_sane_one_is_sent(https_client, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}

    first = https_client.get("/health/live/", **headers)["X-Request-ID"]
    second = https_client.get("/health/live/", **headers)["X-Request-ID"]

    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


def test_log_lines_of_a_request_are_json_with_its_request_id(https_client, db, console_lines):
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    assert isinstance(handler.formatter, JsonFormatter)  # DEBUG is off in the tests

    response = https_client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-42")

    assert response.status_code == 404
    records = [json.loads(line) for line in console_lines.getvalue().splitlines()]
    not_found = [r for r in records if r["logger"] == "django.request"]
    assert len(not_found) == 1
    assert not_found[0]["message"] == "Not Found: /no-such-page/"
    assert not_found[0]["level"] == "WARNING"
    assert not_found[0]["request_id"] == "req-42"
    assert "time" in not_found[0]


def test_log_lines_outside_a_request_carry_a_placeholder_id(console_lines):
    logging.getLogger("commerce.test").warning("outside")

    record = json.loads(console_lines.getvalue().splitlines()[-1])
    assert record["message"] == "outside"
    assert record["request_id"] == "-"


def python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    environment = {**os.environ}
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**environment, "DJANGO_SETTINGS_MODULE": "commerce.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        _Receiver.bodies.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def error_receiver() -> Iterator[str]:
    """A Sentry-compatible ingestion endpoint on the loopback: its DSN."""
    _Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_address[1]}/42"
    finally:
        server.shutdown()
        server.server_close()


REPORT = (
    "import django; django.setup(); import sentry_sdk; "
    "print(sentry_sdk.get_client().is_active()); "
    "sentry_sdk.capture_message('ops-hook-check'); sentry_sdk.flush(10)"
)


def test_error_reporting_is_off_without_a_dsn(error_receiver):
    result = python(REPORT, SENTRY_DSN=None)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert _Receiver.bodies == []


def test_error_reporting_sends_to_the_configured_dsn(error_receiver):
    result = python(REPORT, SENTRY_DSN=error_receiver, SENTRY_ENVIRONMENT="staging-7")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert [path for path, _ in _Receiver.bodies] == ["/api/42/envelope/"]
    envelope = _Receiver.bodies[0][1].decode()
    assert "ops-hook-check" in envelope
    assert '"environment":"staging-7"' in envelope


def test_each_request_leaves_one_json_access_line_with_its_id(https_client, db, console_lines):
    response = https_client.get("/health/live/?probe=1", HTTP_X_REQUEST_ID="req-access-1")

    assert response.status_code == 200
    records = [json.loads(line) for line in console_lines.getvalue().splitlines()]
    access = [r for r in records if r["logger"] == "commerce.access"]
    assert len(access) == 1
    assert access[0]["message"] == "GET /health/live/ 200"
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/health/live/"
    assert access[0]["status"] == 200
    assert access[0]["request_id"] == "req-access-1"
    assert access[0]["duration_ms"] >= 0


@celery_app.task(name="tests.log_a_line")
def log_a_line() -> None:
    logging.getLogger("tests.task").warning("inside the task")


def test_log_lines_of_a_celery_task_carry_its_task_id(console_lines):
    result = log_a_line.apply(task_id="task-1234")

    assert result.successful()
    records = [json.loads(line) for line in console_lines.getvalue().splitlines()]
    inside = [r for r in records if r["logger"] == "tests.task"]
    assert [r["request_id"] for r in inside] == ["task-1234"]
    logging.getLogger("tests.task").warning("after the task")
    after = json.loads(console_lines.getvalue().splitlines()[-1])
    assert after["request_id"] == "-"
