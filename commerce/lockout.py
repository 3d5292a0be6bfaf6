"""What a client sees once django-axes locks a login out (AXES_LOCKOUT_CALLABLE).

The admin gets a page in the back office's look that says why and for how long, with a 429 and
Retry-After; anything under /api/ gets a problem+json body instead of HTML.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.contrib import admin
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _


def seconds_until_unlocked(request: HttpRequest, credentials: dict | None) -> int:
    """How long the lockout still lasts: the cool-off counts from the last recorded failure."""
    cool_off = get_cool_off(request) or timedelta(0)
    last_failure = None
    for attempts in AxesProxyHandler.get_implementation().get_user_attempts(request, credentials):
        latest = attempts.aggregate(latest=Max("attempt_time"))["latest"]
        if latest is not None and (last_failure is None or latest > last_failure):
            last_failure = latest
    if last_failure is None:
        return math.ceil(cool_off.total_seconds())
    remaining = (last_failure + cool_off - timezone.now()).total_seconds()
    return max(1, math.ceil(remaining))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    seconds = seconds_until_unlocked(request, credentials)
    minutes = max(1, math.ceil(seconds / 60))
    if request.path.startswith("/api/"):
        body = {
            "type": "urn:problem-type:login_locked",
            "title": _("Too many failed sign-in attempts"),
            "status": 429,
            "code": "login_locked",
            "detail": _("Sign-in is locked for %(minutes)s minutes after repeated failures.")
            % {"minutes": minutes},
        }
        response = HttpResponse(
            json.dumps(body), status=429, content_type="application/problem+json"
        )
    else:
        response = render(
            request,
            "admin/locked_out.html",
            {
                **admin.site.each_context(request),
                "title": _("Sign-in locked"),
                "failure_limit": get_failure_limit(request, credentials),
                "minutes": minutes,
            },
            status=429,
        )
    response["Retry-After"] = str(seconds)
    return response
