"""Every API error in one shape: RFC 9457 problem details with a stable `code`."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
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
    415: _("Unsupported media type"),
    429: _("Too many requests"),
    500: _("Server error"),
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
        return problem_response(
            status_code=exc.status, code=exc.code, title=exc.title, detail=exc.detail, **exc.extra
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
