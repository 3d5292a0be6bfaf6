"""A real receiver for webhooks: an HTTP server on 127.0.0.1 in a thread, answering a script of
statuses (and delays) and recording every request it got, plus helpers to make endpoints,
events and due deliveries. No HTTP is mocked: the delivery code speaks to this server."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from automation.models import WebhookDelivery, WebhookEndpoint
from automation.webhooks import services
from commerce.events import publish
from commerce.models import OutboxEvent
from tests.orders.conftest import (  # noqa: F401 (fixtures re-used by this package)
    JP_ADDRESS,
    ledger_reconciles,
    shop,
)


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (longer than the timeout: a timeout)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers each request with the next scripted answer (200 "ok" once the script is out)."""

    def __init__(self) -> None:
        self.script: deque[Answer] = deque()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    answer = receiver.script.popleft() if receiver.script else Answer()
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self, *answers: Answer | int) -> None:
        for answer in answers:
            self.script.append(Answer(answer) if isinstance(answer, int) else answer)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def endpoint_make(
    receiver: Receiver, *, event_types=("*",), channel=None, name="ERP"
) -> tuple[WebhookEndpoint, str]:
    return services.endpoint_create(
        name=name, url=receiver.url, event_types=list(event_types), channel=channel
    )


def event_make(type: str = "order.placed", **payload) -> OutboxEvent:
    payload.setdefault("order_id", 1)
    payload.setdefault("channel", "web-jp")
    return publish(type=type, subject_type="order", subject_id=payload["order_id"], payload=payload)


def delivery_make(endpoint: WebhookEndpoint, event: OutboxEvent | None = None) -> WebhookDelivery:
    return services.delivery_create(endpoint=endpoint, event=event or event_make())


def make_due(delivery: WebhookDelivery) -> None:
    """The back-off has passed."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
