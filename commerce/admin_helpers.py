"""What every app's admin pages share: money, times and rates as staff read them, a read-only
table for a change page, and the loop of an action that runs a service on each selected row.
In the kernel so that catalog, inventory, customers and orders use one copy."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from commerce.errors import DomainError, ValidationFailed
from commerce.money import quantize


def money(amount: Any, currency: str) -> str:
    """An amount with the currency's own minor digits: "3780 JPY", "19.99 USD"."""
    if amount is None or amount == "":
        return "—"
    try:
        return f"{quantize(Decimal(str(amount)), currency)} {currency}"
    except (InvalidOperation, ValueError):
        return f"{amount} {currency}"


def percent(rate: Any) -> str:
    """0.10 → "10 %", 0.08875 → "8.875 %"."""
    value = Decimal(str(rate)) * 100
    return f"{value.quantize(Decimal('0.001')).normalize():f} %"


def when(moment) -> str:
    """A time on a timeline: local, to the second (the order of events matters)."""
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i:s") if moment else "—"


def problem(error: DomainError) -> str:
    """What a domain error says, with the per-field messages of a validation error."""
    if isinstance(error, ValidationFailed) and error.errors:
        return " ".join(str(m) for messages_ in error.errors.values() for m in messages_)
    return str(error.detail)


def table(headers: list[Any], rows: list[tuple[Any, ...]], empty: Any = None):
    """A read-only table for a display field on a change page (every cell escaped)."""
    if not rows:
        return empty if empty is not None else "—"
    return format_html(
        '<table class="orders-admin-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        format_html_join("", "<th>{}</th>", ((h,) for h in headers)),
        format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
        ),
    )


def run_each(model_admin, request, objects, operation, done_message, failed_message) -> int:
    """An admin action's loop: run a service on each object; one that fails is reported by its
    number with the service's message (`failed_message` % number, problem) and the others go
    on. Returns how many were done."""
    done = 0
    for obj in objects:
        try:
            operation(obj)
        except DomainError as error:
            model_admin.message_user(
                request,
                failed_message % {"number": str(obj), "problem": problem(error)},
                messages.ERROR,
            )
        else:
            done += 1
    if done:
        model_admin.message_user(request, done_message % {"count": done}, messages.SUCCESS)
    return done
