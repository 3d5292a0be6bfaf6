"""Every API error in one shape: RFC 9457 problem details with a stable `code`."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from commerce.errors import DomainError, ValidationFailed

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: _("Invalid input"),
    401: _("Authentication required"),
    403: _("Permission denied"),
    404: _("Not found"),
    405: _("Method not allowed"),
    406: _("Not acceptable"),
    409: _("Conflict"),
    413: _("Request too large"),
    415: _("Unsupported media type"),
    429: _("Too many requests"),
    500: _("Server error"),
    503: _("Service unavailable"),
}


def problem_response(
    *, status_code: int, code: str, title: Any, detail: Any, headers=None, **extra
) -> Response:
    body = {
        "type": f"urn:problem-type:{code}",
        "title": str(title),
        "status": status_code,
        "code": code,
        "detail": str(detail),
        **extra,
    }
    response = Response(body, status=status_code, headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ValidationFailed):
        return problem_response(
            status_code=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            errors=exc.errors,
        )
    if isinstance(exc, DomainError):
        # A refusal that passes with time (too many declines) says when, as throttles do.
        retry_after = getattr(exc, "retry_after", None)
        return problem_response(
            status_code=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            headers={"Retry-After": str(retry_after)} if retry_after is not None else None,
            **exc.extra,
        )
    if isinstance(exc, RequestDataTooBig):
        return problem_response(**_too_large())
    if isinstance(exc, DataError):
        # The last line of defence: every input field has bounds that fit its column, so a value
        # the database refuses is a bad request that slipped past them. Logged, so it gets fixed.
        logger.warning("Database refused a value in %s: %s", context.get("view"), exc)
        return problem_response(
            status_code=400,
            code="value_out_of_range",
            title=_TITLES[400],
            detail=_("A value is too large or not valid for what it is stored in."),
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view"), exc_info=exc)
        return problem_response(
            status_code=500,
            code="server_error",
            title=_TITLES[500],
            detail=_("Something went wrong on our side. It has been logged."),
        )

    headers = {
        k: v
        for k, v in response.headers.items()
        if k in ("WWW-Authenticate", "Retry-After", "Allow")
    }
    if isinstance(exc, exceptions.ValidationError):
        errors = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        return problem_response(
            status_code=status.HTTP_400_BAD_REQUEST,
            code="invalid",
            title=_TITLES[400],
            detail=_("Some fields are not valid."),
            errors=errors,
            headers=headers,
        )
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
    return problem_response(
        status_code=response.status_code,
        code=code,
        title=_TITLES.get(response.status_code, _("Error")),
        detail=detail,
        headers=headers,
    )


def _too_large() -> dict[str, Any]:
    return {
        "status_code": 413,
        "code": "request_too_large",
        "title": _TITLES[413],
        "detail": _("The request body is larger than the %(limit)d bytes this API accepts.")
        % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
    }


# --- Errors raised outside any API view (no route, middleware) -------------------------------
# Django answers these with its HTML pages; under /api/ a client expects the problem shape.


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def _plain_problem(*, status_code: int, code: str, title: Any, detail: Any) -> HttpResponse:
    body = {
        "type": f"urn:problem-type:{code}",
        "title": str(title),
        "status": status_code,
        "code": code,
        "detail": str(detail),
    }
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return _plain_problem(**_too_large())
    return _plain_problem(
        status_code=400,
        code="bad_request",
        title=_TITLES[400],
        detail=_("The request is malformed.")
        if isinstance(exception, SuspiciousOperation)
        else _("The request cannot be understood."),
    )


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return _plain_problem(
        status_code=403,
        code="permission_denied",
        title=_TITLES[403],
        detail=_("You do not have permission to perform this action."),
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return _plain_problem(
        status_code=404,
        code="not_found",
        title=_TITLES[404],
        detail=_("There is no API endpoint at this address."),
    )


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    return _plain_problem(
        status_code=500,
        code="server_error",
        title=_TITLES[500],
        detail=_("Something went wrong on our side. It has been logged."),
    )
