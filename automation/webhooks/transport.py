"""One POST to a receiver, with urllib3: what came back, or why nothing did.

No retries and no redirects here (the delivery service decides what a failure means and when to
try again), and at most `EXCERPT_BYTES` of the answer are read: a receiver cannot make a worker
download a large or endless body.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import HTTPError, TimeoutError

EXCERPT_BYTES = 2048
EXCERPT_CHARS = 500

# Shared by the threads of a worker process: urllib3's pools are thread-safe, and keeping
# connections open to a busy receiver saves a TLS handshake per delivery.
_pool = urllib3.PoolManager(num_pools=50, maxsize=4, retries=False)


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: no HTTP answer (timeout, refused connection, TLS failure...)
    latency_ms: int
    excerpt: str = ""
    error: str = ""
    timed_out: bool = False
    retry_after: str = ""  # the Retry-After header, unparsed


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    started = time.monotonic()
    response = None
    try:
        response = _pool.request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            redirect=False,
            preload_content=False,
        )
        raw = response.read(EXCERPT_BYTES, decode_content=True)
    except TimeoutError as exc:
        return Outcome(None, _ms(started), error=_error(exc), timed_out=True)
    except (HTTPError, OSError, ValueError) as exc:
        return Outcome(None, _ms(started), error=_error(exc))
    finally:
        if response is not None:
            # The rest of the body is not read, so the connection cannot be reused.
            response.close()
            response.release_conn()
    return Outcome(
        response.status,
        _ms(started),
        excerpt=raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS],
        retry_after=response.headers.get("Retry-After", ""),
    )


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
