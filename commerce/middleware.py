"""Middleware of the kernel: the request id, and the access log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from commerce.log import request_id_from_header, request_id_var

REQUEST_ID_HEADER = "X-Request-ID"

# One line per request, in the same format as every other line (JSON in production): the
# access log, instead of gunicorn's own plain-text one.
access_logger = logging.getLogger("commerce.access")


class RequestIdMiddleware:
    """Give each request an id (the proxy's X-Request-ID if sane), log it on every line of the
    request and answer it in the X-Request-ID header, so a report can be found in the logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from_header(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        # Not reset on the way out: Django logs 4xx and 5xx answers ("Not Found: ...") after the
        # middleware returned. `request_finished` clears it (commerce.log).
        request_id_var.set(request_id)
        started = time.monotonic()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response
