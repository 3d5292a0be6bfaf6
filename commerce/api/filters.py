"""The filter backend of every list: query parameters mean what the schema says they mean.

django-filter is lenient where a client would not expect it: `flagged=maybe` or
`placed_after=` is "no filter", a repeated parameter silently uses one value, and a date-time
with a UTC offset no place has (`+20:40`) reaches PostgreSQL and fails there. Each of these is a
400 naming the parameter here. An empty value stays "no filter" only for free-text parameters,
where the schema allows an empty string; a date, a number, a choice or an id must be given or
left out. A filter set may name the parameters meant to be repeated (`repeatable`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import django_filters
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend

from commerce.errors import ValidationFailed

BOOLEAN_VALUES = {"true", "false", "1", "0"}
# Real UTC offsets run from -12:00 to +14:00; PostgreSQL refuses more than 15:59.
MAX_UTC_OFFSET = timedelta(hours=14)
_MULTI = (django_filters.MultipleChoiceFilter, django_filters.BaseInFilter)


class FilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationFailed(filterset.errors)
        errors = _strict_errors(filterset, request.query_params)
        if errors:
            raise ValidationFailed(errors)
        return filterset.qs


def _strict_errors(filterset, params) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, filter_ in filterset.filters.items():
        values = params.getlist(name)
        if not values:
            continue
        repeatable = isinstance(filter_, _MULTI) or name in getattr(filterset, "repeatable", ())
        if len(values) > 1 and not repeatable:
            errors[name] = [_("Give this parameter once.")]
        elif (
            isinstance(filter_, django_filters.BooleanFilter)
            and values[0].lower() not in BOOLEAN_VALUES
        ):
            errors[name] = [_("Use true or false.")]
        elif "" in values and not _is_free_text(filter_):
            errors[name] = [_("Give a value, or leave the parameter out.")]
        value = filterset.form.cleaned_data.get(name)
        offset = value.utcoffset() if isinstance(value, datetime) else None
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            errors[name] = [_("The UTC offset must be between -14:00 and +14:00.")]
    return errors


def _is_free_text(filter_) -> bool:
    return isinstance(filter_, django_filters.CharFilter) and not isinstance(
        filter_, django_filters.BaseInFilter
    )
