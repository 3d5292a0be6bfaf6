"""The id that ties log lines together: the HTTP request's, or the Celery task's.

`RequestIdMiddleware` and the task signals set it in a context variable; `RequestIdFilter`, on the
console handler, copies it onto every record, so each line of one request or task says which.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# What a proxy or client may hand us as an id: short, and nothing that could forge a log line.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def request_id_from_header(value: str | None) -> str:
    """The client's or proxy's X-Request-ID when it is sane, else a new one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def _task_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task is not None and task_id:
        task.request.request_id_token = request_id_var.set(task_id)


def _task_finished(task: Any = None, **kwargs: Any) -> None:
    token = getattr(task.request, "request_id_token", None) if task is not None else None
    if token is not None:
        request_id_var.reset(token)
        task.request.request_id_token = None


def _request_finished(**kwargs: Any) -> None:
    request_id_var.set("-")


def connect_signals() -> None:
    """Log lines of a Celery task carry the task's id; a finished request's id is dropped."""
    from celery.signals import task_postrun, task_prerun
    from django.core.signals import request_finished

    task_prerun.connect(_task_started, weak=False, dispatch_uid="commerce.log.task_started")
    task_postrun.connect(_task_finished, weak=False, dispatch_uid="commerce.log.task_finished")
    request_finished.connect(
        _request_finished, weak=False, dispatch_uid="commerce.log.request_finished"
    )
