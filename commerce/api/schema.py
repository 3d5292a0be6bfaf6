"""The OpenAPI schema's error answers: every operation lists the problems it can answer with.

A view documents its success answer (`extend_schema(responses=...)`); the errors follow from
what the view is, so they are derived here instead of being repeated on every view:

| answer | when |
|---|---|
| (own) | what a view declares itself: `extend_schema(responses={404: ProblemSerializer})` |
| 400 | the operation takes input: a body, query parameters (filters, pages) or path parameters |
| 401 | the view authenticates: a missing, wrong or expired token |
| 403 | the view's permissions are not open to everyone |
| 404 | the path names an object (`{number}`, `{pk}`, `{channel}`...) or the page is past the end |
| 409 | writes: the current state forbids the change, or an Idempotency-Key was reused |
| 413, 415 | operations with a body: too large, or not JSON/form data |
| 429, 503 | throttled views: too many requests, or the throttle's counters are unreachable |

All of them are RFC 9457 problem details (`application/problem+json`, see problems.py).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from commerce.api.problems import PROBLEM_CONTENT_TYPE

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, with a stable machine-readable `code`. Problems about a thing
    add members of their own (e.g. `sku`, `requested`, `available` for missing stock)."""

    type = serializers.CharField(help_text=_("A URI naming the kind of problem."))
    title = serializers.CharField(help_text=_("A short summary of the kind of problem."))
    status = serializers.IntegerField(help_text=_("The HTTP status code."))
    code = serializers.CharField(help_text=_("Stable snake_case code, e.g. `insufficient_stock`."))
    detail = serializers.CharField(help_text=_("What went wrong, in words."))
    errors = serializers.DictField(
        required=False,
        child=serializers.JSONField(),
        help_text=_("Bad input only: the messages of each field (nested for nested input)."),
    )


_DESCRIPTIONS = {
    400: _("Invalid input: the problem's `errors` name each field and say why."),
    401: _("Authentication required: no credentials, or a wrong or expired token."),
    403: _("Permission denied."),
    404: _("Not found, or not yours."),
    409: _("Conflict: the current state does not allow this."),
    413: _("The request body is too large."),
    415: _("Unsupported media type: send JSON."),
    429: _("Too many requests: wait for the seconds in Retry-After."),
    503: _("Temporarily unavailable: try again after the seconds in Retry-After."),
}


class AutoSchema(BaseAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status_code, response in responses.items():
            # Problems a view declares itself (`{404: ProblemSerializer}`) are problem+json too.
            content = response.get("content")
            if status_code >= "400" and content and PROBLEM_CONTENT_TYPE not in content:
                response["content"] = {PROBLEM_CONTENT_TYPE: next(iter(content.values()))}
        for status_code in self._error_statuses():
            responses.setdefault(
                str(status_code),
                self._get_response_for_code(
                    OpenApiResponse(ProblemSerializer, description=_DESCRIPTIONS[status_code]),
                    str(status_code),
                    [PROBLEM_CONTENT_TYPE],
                    direction,
                ),
            )
        return dict(sorted(responses.items()))

    def _error_statuses(self) -> list[int]:
        view = self.view
        method = self.method.upper()
        has_body = method in {"POST", "PUT", "PATCH"}
        has_path_params = "{" in self.path
        statuses = set()
        if has_body or has_path_params or self._has_query_parameters():
            statuses.add(400)
        if view.get_authenticators():
            statuses.add(401)
        if not all(issubclass(p, AllowAny) for p in view.permission_classes):
            statuses.update({401, 403})
        if has_path_params or self._is_paginated():
            statuses.add(404)
        if method in WRITE_METHODS:
            statuses.add(409)
        if has_body:
            statuses.update({413, 415})
        if view.get_throttles():
            statuses.update({429, 503})
        return sorted(statuses)

    def _has_query_parameters(self) -> bool:
        return any(p.get("in") == "query" for p in self._get_parameters())

    def _is_paginated(self) -> bool:
        return self.method.upper() == "GET" and self._is_list_view() and bool(self._get_paginator())
