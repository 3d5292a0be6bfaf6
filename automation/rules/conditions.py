"""Evaluate a rule's conditions, keeping for the run log each comparison's left value,
operator, right value and result: "why didn't this fire" is read from the trace, not guessed.

Types: when the left value is a number (or money), the right one is read as a Decimal, never a
float; a missing field is false for every operator except `is not set`. Over an empty list `any`
is false, `all` is true and `none` is true (as in logic; the admin says so beside the field).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from automation.rules.context import MISSING, EvalContext


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.replace(",", "").strip())
        except InvalidOperation:
            return None
    return None


def _same_type(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(left, str) and isinstance(right, str):
        # Money in payloads is written as text ("3850"): two numbers compare as numbers.
        a, b = _number(left), _number(right)
        if a is not None and b is not None:
            return a, b
    if isinstance(left, bool) or isinstance(right, bool):
        as_bool = {"true": True, "false": False}
        if isinstance(right, str):
            right = as_bool.get(right.lower(), right)
        return left, right
    number = _number(left)
    if number is not None and not isinstance(left, str):
        other = _number(right)
        return number, other if other is not None else right
    if isinstance(left, str) and isinstance(right, (int, Decimal)):
        other = _number(left)
        if other is not None:
            return other, Decimal(right)
    if isinstance(left, (datetime, date)) and isinstance(right, str):
        return left.isoformat(), right
    if isinstance(left, str) and isinstance(right, str):
        return left.lower(), right.lower()
    return left, right


def compare(left: Any, op: str, right: Any) -> bool:
    if op == "is_set":
        return left is not MISSING and left not in (None, "", [])
    if op == "is_not_set":
        return left is MISSING or left in (None, "", [])
    if left is MISSING:
        return False
    if op in ("contains", "not_contains"):
        items = left if isinstance(left, (list, tuple, set)) else [left]
        found = any(_same_type(item, right)[0] == _same_type(item, right)[1] for item in items)
        if isinstance(left, str) and isinstance(right, str):
            found = right.lower() in left.lower()
        return found if op == "contains" else not found
    if op in ("in", "not_in"):
        options = right if isinstance(right, list) else [right]
        found = any(
            _same_type(left, option)[0] == _same_type(left, option)[1] for option in options
        )
        return found if op == "in" else not found
    a, b = _same_type(left, right)
    try:
        return {
            "eq": lambda: a == b,
            "ne": lambda: a != b,
            "gt": lambda: a > b,
            "gte": lambda: a >= b,
            "lt": lambda: a < b,
            "lte": lambda: a <= b,
        }[op]()
    except TypeError:
        return False  # a number against a word: not comparable, so not true


def _shown(value: Any) -> Any:
    if value is MISSING:
        return "(missing)"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list) and len(value) > 10:
        return [*value[:10], "…"]
    return value


def evaluate(condition: dict[str, Any], ctx: EvalContext, item: Any = None) -> tuple[bool, dict]:
    """(result, trace) of one condition."""
    if "or" in condition:
        traces = []
        for part in condition["or"]:
            result, trace = evaluate(part, ctx, item)
            traces.append(trace)
            if result:
                return True, {"or": traces, "result": True}
        return False, {"or": traces, "result": False}
    if "not" in condition:
        result, trace = evaluate(condition["not"], ctx, item)
        return not result, {"not": trace, "result": not result}
    for quantifier in ("any", "all", "none"):
        if quantifier in condition:
            items = ctx.resolve(condition[quantifier], item)
            items = items if isinstance(items, list) else []
            matches = sum(1 for element in items if all_true(condition["where"], ctx, element)[0])
            result = {
                "any": matches > 0,
                "all": matches == len(items),
                "none": matches == 0,
            }[quantifier]
            return result, {
                "quantifier": quantifier,
                "over": condition[quantifier],
                "items": len(items),
                "matching": matches,
                "result": result,
            }
    for function in ("count", "sum"):
        if function in condition:
            value = ctx.window(function, condition[function], condition["days"])
            result = compare(value, condition["op"], condition["right"])
            return result, {
                "left": f"{function} {condition[function]} in {condition['days']} days",
                "value": _shown(value),
                "op": condition["op"],
                "right": _shown(condition["right"]),
                "result": result,
            }
    left = ctx.resolve(condition["left"], item)
    op = condition["op"]
    if op in ("changed", "changed_from_to"):
        previous = _previous(condition["left"], ctx)
        result = (
            previous is not MISSING
            and _same_type(left, previous)[0] != _same_type(left, previous)[1]
        )
        if result and op == "changed_from_to":
            result = compare(previous, "eq", condition["from"]) and compare(
                left, "eq", condition["to"]
            )
        return result, {
            "left": condition["left"],
            "value": _shown(left),
            "op": op,
            "right": _shown(previous),
            "result": result,
        }
    result = compare(left, op, condition.get("right"))
    trace = {
        "left": condition["left"],
        "value": _shown(left),
        "op": op,
        "right": _shown(condition.get("right")),
        "result": result,
    }
    root = condition["left"].split(".")[0]
    if ctx.simulated and root not in ("event", "local", "channel", "item", "run"):
        trace["current_data"] = True
    return result, trace


def _previous(path: str, ctx: EvalContext) -> Any:
    """The value before the change, as the event carries it: `previous_<key>` or `previous`."""
    head, *rest = path.split(".")
    if head != "event" or not rest:
        return MISSING
    payload = ctx.root("event")
    key = rest[-1]
    for candidate in (f"previous_{key}", "previous", f"{key}_before"):
        if candidate in payload:
            return payload[candidate]
    return MISSING


def all_true(
    conditions: list[dict[str, Any]], ctx: EvalContext, item: Any = None
) -> tuple[bool, list]:
    """Every condition true? Stops at the first false one; the trace ends with it."""
    traces = []
    for condition in conditions:
        result, trace = evaluate(condition, ctx, item)
        traces.append(trace)
        if not result:
            return False, traces
    return True, traces


def first_failure(traces: list[dict]) -> str:
    """One sentence for the run log: the condition that was false, with its values."""
    if not traces:
        return ""
    last = traces[-1]
    if "left" in last:
        return f"{last['left']} = {last['value']!r}, not {last['op']} {last['right']!r}"
    if "quantifier" in last:
        return (
            f"{last['quantifier']} of {last['over']}: {last['matching']} of {last['items']} match"
        )
    return str(last)
