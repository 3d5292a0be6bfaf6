"""`Idempotency-Key` for the API's writes that create orders or move money: a retry with the
same key and body gets the first response and runs nothing (see orders.core.idempotency)."""

from __future__ import annotations

from collections.abc import Callable

from rest_framework.response import Response
from rest_framework.views import APIView

from commerce.api.problems import problem_exception_handler
from commerce.errors import DomainError
from orders.core.idempotency import fingerprint, idempotency_begin, idempotency_finish


def idempotent(request, view: APIView, run: Callable[[], Response], *, scope: str) -> Response:
    """Run `run` once per `Idempotency-Key` within `scope` (whose keys these are); without the
    header it simply runs. A refusal is kept and replayed like a success; a crash or a 429 is
    not."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return run()
    begun = idempotency_begin(
        scope=scope, key=key, fingerprint=fingerprint("POST", request.path, request.data)
    )
    if begun.replay:
        record = begun.record
        response = Response(record.response_body, status=record.response_status)
        response["Idempotent-Replayed"] = "true"
        if record.response_status >= 400:
            response.content_type = "application/problem+json"
        return response
    try:
        response = run()
    except DomainError as exc:
        response = problem_exception_handler(exc, {"view": view, "request": request})
    except BaseException:
        idempotency_finish(begun.record, status=500, body=None)
        raise
    idempotency_finish(begun.record, status=response.status_code, body=response.data)
    return response
