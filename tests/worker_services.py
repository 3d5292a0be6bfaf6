"""Loaded first by `./dev test` (`-p tests.worker_services`), before Django reads the settings.

Under pytest-xdist every worker gets a test database of its own (pytest-django adds the worker
id to its name) but would share the one Redis: a worker clearing the cache or draining Celery's
queue would pull the other's throttle counters and tasks away under it. Each worker takes a
Redis database number of its own instead.
"""

from __future__ import annotations

import os
import re

REDIS_DATABASES = 16  # what a stock redis-server offers


def _worker_redis_url(url: str, worker: str) -> str:
    index = int(worker.removeprefix("gw"))
    match = re.match(r"^(rediss?://[^/?#]*)(?:/(\d+))?(.*)$", url)
    if match is None:
        return url
    base = int(match.group(2) or 0)
    return f"{match.group(1)}/{(base + index + 1) % REDIS_DATABASES}{match.group(3)}"


_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = _worker_redis_url(os.environ["REDIS_URL"], _worker)
