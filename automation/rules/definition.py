"""A rule's definition: what merchants write, and the checked structure the engine runs.

Merchants write conditions and steps one per line in the admin (docs/automation.md):

    cart.value >= 3000
    customer.segments contains vip or customer.tier = gold
    any cart.lines where sku = TEA-001
    count orders in 30 days = 0

    send_message kind=abandoned_cart medium=email
    wait 23h
    issue_code discount=CART10 expires_hours=72
    stop if cart.state != open

`parse_conditions` and `parse_steps` turn those lines into the JSON stored on the rule, and
`validate` checks a whole definition, raising `DefinitionError` with the field and line. The
JSON is what versions freeze and the engine reads; the lines are kept beside it so the merchant
edits what they wrote.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _

OPERATORS = {
    "=": "eq",
    "==": "eq",
    "!=": "ne",
    ">": "gt",
    ">=": "gte",
    "<": "lt",
    "<=": "lte",
    "in": "in",
    "not in": "not_in",
    "contains": "contains",
    "not contains": "not_contains",
    "is set": "is_set",
    "is not set": "is_not_set",
    "changed": "changed",
}
UNARY = {"is_set", "is_not_set", "changed"}
QUANTIFIERS = ("any", "all", "none")
WINDOW_OF = {"orders", "messages", "runs"}
ROOTS = {
    "event",
    "order",
    "customer",
    "cart",
    "variant",
    "product",
    "stock",
    "fulfilment",
    "local",
    "channel",
    "item",
    "run",
    "competitor",
}
SUBJECTS = ("customer", "order", "cart", "variant", "product", "stock", "fulfilment")
TIME_TRIGGERS = ("schedule", "date")
DATE_FIELDS = ("last_order", "birthday", "registered")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_STEPS = 50
_DURATION = re.compile(r"^(\d+)\s*(m|min|h|d)$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class DefinitionError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Parsed:
    conditions: list[dict[str, Any]]
    steps: list[dict[str, Any]]


def _lines(text: str) -> list[tuple[int, str]]:
    return [
        (number, line.strip())
        for number, line in enumerate((text or "").splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#")
    ]


def _value(raw: str) -> Any:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    lowered = raw.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    if lowered in ("null", "none", "empty"):
        return None
    return raw


def _path(raw: str, field: str) -> str:
    path = raw.strip()
    if not re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)*", path) or path.split(".")[0] not in ROOTS:
        raise DefinitionError(
            field,
            _("“%(path)s” is not a field: start with one of %(roots)s.")
            % {"path": path, "roots": ", ".join(sorted(ROOTS - {"item", "run"}))},
        )
    return path


def parse_condition(line: str, field: str = "conditions") -> dict[str, Any]:
    """One condition line → its JSON. Raises DefinitionError naming the line's problem."""
    line = line.strip()
    alternatives = re.split(r"\s+or\s+", line)
    if len(alternatives) > 1:
        return {"or": [parse_condition(part, field) for part in alternatives]}
    if line.startswith("not "):
        return {"not": parse_condition(line[4:], field)}
    words = line.split(None, 1)
    if words and words[0] in QUANTIFIERS:
        match = re.fullmatch(r"(any|all|none)\s+(\S+)\s+where\s+(.+)", line)
        if not match:
            raise DefinitionError(
                field, _("Write “%(q)s <list> where <condition>”.") % {"q": words[0]}
            )
        quantifier, over, where = match.groups()
        inner = [parse_condition(part, field) for part in re.split(r"\s+and\s+", where)]
        return {quantifier: _path(over, field), "where": inner}
    if words and words[0] in ("count", "sum"):
        match = re.fullmatch(
            r"(count|sum)\s+(\S+)\s+in\s+(\d+)\s+days?\s*(>=|<=|!=|==|=|>|<)\s*(.+)", line
        )
        if not match:
            raise DefinitionError(
                field,
                _(
                    "Write “count orders in 30 days >= 2” or “sum orders.total in 365 days >= 50000”."
                ),
            )
        function, of, days, operator, right = match.groups()
        if function == "count" and of not in WINDOW_OF:
            raise DefinitionError(
                field, _("Count one of: %(of)s.") % {"of": ", ".join(sorted(WINDOW_OF))}
            )
        if function == "sum" and of != "orders.total":
            raise DefinitionError(field, _("Only orders.total can be summed."))
        return {
            function: of,
            "days": int(days),
            "op": OPERATORS[operator],
            "right": _value(right),
        }
    match = re.fullmatch(r"(\S+)\s+changed\s+from\s+(.+?)\s+to\s+(.+)", line)
    if match:
        left, before, after = match.groups()
        return {
            "left": _path(left, field),
            "op": "changed_from_to",
            "from": _value(before),
            "to": _value(after),
        }
    for text, op in sorted(OPERATORS.items(), key=lambda item: -len(item[0])):
        pattern = rf"(\S+)\s*{re.escape(text)}" + (r"\s*$" if op in UNARY else r"\s*(.+)")
        if text[0].isalpha():
            pattern = rf"(\S+)\s+{re.escape(text)}" + (r"\s*$" if op in UNARY else r"\s+(.+)")
        match = re.fullmatch(pattern, line)
        if match:
            condition: dict[str, Any] = {"left": _path(match.group(1), field), "op": op}
            if op not in UNARY:
                right = match.group(2)
                condition["right"] = (
                    [_value(part) for part in right.split(",")]
                    if op in ("in", "not_in")
                    else _value(right)
                )
            return condition
    raise DefinitionError(
        field,
        _(
            "“%(line)s” is not a condition: write <field> <operator> <value>, e.g. order.total >= 5000."
        )
        % {"line": line},
    )


def parse_conditions(text: str, field: str = "conditions") -> list[dict[str, Any]]:
    conditions = []
    for number, line in _lines(text):
        try:
            conditions.append(parse_condition(line, field))
        except DefinitionError as error:
            raise DefinitionError(
                field, _("Line %(n)s: %(message)s") % {"n": number, "message": error.message}
            ) from None
    return conditions


def duration_minutes(raw: str, field: str) -> int:
    match = _DURATION.fullmatch(raw.strip())
    if not match:
        raise DefinitionError(
            field, _("“%(raw)s” is not a duration: write 30m, 24h or 3d.") % {"raw": raw}
        )
    amount, unit = int(match.group(1)), match.group(2)
    minutes = amount * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit]
    if not 1 <= minutes <= 400 * 1440:
        raise DefinitionError(field, _("A wait is between 1 minute and 400 days."))
    return minutes


def _arguments(text: str, field: str) -> dict[str, Any]:
    try:
        parts = shlex.split(text)
    except ValueError as error:
        raise DefinitionError(field, str(error)) from None
    arguments = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not re.fullmatch(r"[a-z_]+", key):
            raise DefinitionError(
                field, _("Write arguments as name=value, not “%(part)s”.") % {"part": part}
            )
        arguments[key] = _value(value)
    return arguments


def parse_step(line: str, field: str = "steps") -> dict[str, Any]:
    from automation.rules.actions import ACTIONS

    words = line.split(None, 1)
    head, rest = words[0], (words[1] if len(words) > 1 else "")
    if head == "stop":
        if rest.startswith("if "):
            return {"stop_if": parse_condition(rest[3:], field)}
        if rest:
            raise DefinitionError(field, _("Write “stop” or “stop if <condition>”."))
        return {"stop": True}
    if head == "goto":
        match = re.fullmatch(r"(\d+)\s+if\s+(.+)", rest)
        if not match:
            raise DefinitionError(field, _("Write “goto <step number> if <condition>”."))
        return {"goto": int(match.group(1)), "if": parse_condition(match.group(2), field)}
    if head == "wait":
        match = re.fullmatch(r"for\s+(\S+)\s+timeout\s+(\S+)(\s+or\s+stop)?", rest)
        if match:
            return {
                "wait": {
                    "event": match.group(1),
                    "timeout_minutes": duration_minutes(match.group(2), field),
                    "on_timeout": "stop" if match.group(3) else "continue",
                }
            }
        match = re.fullmatch(r"until\s+(\d{4}-\d{2}-\d{2})(?:\s+(\S+))?", rest)
        if match:
            day, clock = match.groups()
            try:
                date.fromisoformat(day)
            except ValueError:
                raise DefinitionError(field, _("“%(day)s” is not a date.") % {"day": day}) from None
            if clock and not _CLOCK.fullmatch(clock):
                raise DefinitionError(field, _("Write the time of day as 09:00."))
            return {"wait": {"until_date": day, "at": clock or "00:00"}}
        match = re.fullmatch(r"until\s+(\S+)(?:\s+on\s+(\S+))?", rest)
        if match:
            clock, days = match.groups()
            if not _CLOCK.fullmatch(clock):
                raise DefinitionError(field, _("Write the time of day as 09:00."))
            weekdays = days.split(",") if days else []
            if any(day not in WEEKDAYS for day in weekdays):
                raise DefinitionError(field, _("Weekdays are mon, tue, wed, thu, fri, sat, sun."))
            return {"wait": {"until_local": clock, "weekdays": weekdays}}
        return {"wait": {"minutes": duration_minutes(rest, field)}}
    if head not in ACTIONS:
        raise DefinitionError(
            field,
            _("“%(head)s” is not a step: use an action (%(actions)s), wait, stop or goto.")
            % {"head": head, "actions": ", ".join(sorted(ACTIONS))},
        )
    arguments = _arguments(rest, field)
    ACTIONS[head].check(arguments, field)
    return {"action": head, "params": arguments}


def parse_steps(text: str, field: str = "steps") -> list[dict[str, Any]]:
    steps = []
    for number, line in _lines(text):
        try:
            steps.append(parse_step(line, field))
        except DefinitionError as error:
            raise DefinitionError(
                field, _("Line %(n)s: %(message)s") % {"n": number, "message": error.message}
            ) from None
    if not steps:
        raise DefinitionError(field, _("A rule needs at least one step."))
    if len(steps) > MAX_STEPS:
        raise DefinitionError(field, _("A rule has at most %(n)s steps.") % {"n": MAX_STEPS})
    for number, step in enumerate(steps, start=1):
        if "goto" in step and not 1 <= step["goto"] <= len(steps):
            raise DefinitionError(
                field,
                _("Line %(n)s: there is no step %(goto)s.") % {"n": number, "goto": step["goto"]},
            )
    return steps


def validate(definition: dict[str, Any]) -> dict[str, Any]:
    """Check a whole definition (the JSON form); returns it. Raises DefinitionError."""
    from automation.rules.triggers import trigger_types

    trigger = definition.get("trigger") or ""
    if trigger not in trigger_types() and trigger not in TIME_TRIGGERS:
        raise DefinitionError("trigger", _("Choose a trigger: an event type, schedule or date."))
    if trigger == "schedule":
        schedule = definition.get("schedule") or {}
        _check_zone(schedule.get("time_zone"))
        if not _CLOCK.fullmatch(str(schedule.get("at", ""))) and not schedule.get("every_minutes"):
            raise DefinitionError("schedule", _("Give a time of day (at=09:00) or every_minutes."))
        if schedule.get("every_minutes") is not None and int(schedule["every_minutes"]) < 1:
            raise DefinitionError("schedule", _("The shortest interval is 1 minute."))
    if trigger == "date":
        date = definition.get("date") or {}
        if date.get("field") not in DATE_FIELDS:
            raise DefinitionError(
                "date", _("Count days from one of: %(f)s.") % {"f": ", ".join(DATE_FIELDS)}
            )
        int(date.get("offset_days", 0))
        _check_zone(date.get("time_zone"))
    subject = definition.get("subject")
    if subject and subject not in SUBJECTS:
        raise DefinitionError(
            "subject", _("The subject is one of: %(s)s.") % {"s": ", ".join(SUBJECTS)}
        )
    for exit_type in definition.get("exit_on") or []:
        if exit_type not in trigger_types():
            raise DefinitionError("exit_on", _("“%(t)s” is not an event type.") % {"t": exit_type})
    if not definition.get("steps"):
        raise DefinitionError("steps", _("A rule needs at least one step."))
    return definition


def _check_zone(name: Any) -> None:
    try:
        ZoneInfo(str(name or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise DefinitionError(
            "time_zone",
            _("“%(zone)s” is not an IANA time zone such as Asia/Tokyo.") % {"zone": name},
        ) from None
