"""Stock counts and external feeds from files: absolute quantities per SKU and location.

Every row is validated first and each bad one reported with its line number; with any bad row
nothing is written unless bad rows are to be skipped. The good rows are then applied in one
`stock_set_levels` call, which locks them all in the global (variant, location) order: a count
never deadlocks with checkouts, and the correction is computed from the locked quantity, so
no concurrent reservation or adjustment is lost. Memory holds three integers per good row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from django.utils.translation import gettext as _

from catalog.models import ProductVariant
from commerce.importing import INT32_MAX, CsvFile, shown, text_problem, whole_number
from inventory.models import StockLocation, StockMovement
from inventory.services import StockLevel, stock_set_levels

CHUNK = 2000


@dataclass
class StockImportReport:
    rows: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    changed: int = 0
    unchanged: int = 0
    written: bool = False

    def summary(self) -> str:
        verdict = _("Written.") if self.written else _("Nothing was written.")
        return _(
            "%(rows)s rows read, %(bad)s bad; %(changed)s stock levels changed, %(same)s already right. %(verdict)s"
        ) % {
            "rows": self.rows,
            "bad": len(self.errors),
            "changed": self.changed,
            "same": self.unchanged,
            "verdict": verdict,
        }


COLUMNS = ("sku", "location", "quantity")
_MAX_LENGTHS = {
    "sku": ProductVariant._meta.get_field("sku").max_length,
    "location": StockLocation._meta.get_field("code").max_length,
}


def _records(stream: IO[str], file_format: str) -> Iterator[tuple[int, dict, list[str]]]:
    """(line or item number, record, problems): a record with problems is reported as it is,
    before anything is looked up with its values."""
    if file_format == "json":
        data = json.load(stream)
        items = data.get("levels", data) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError(_("A JSON feed is a list of {sku, location, quantity} objects."))
        for index, item in enumerate(items, start=1):
            record = item if isinstance(item, dict) else {}
            problems = [
                problem
                for column in COLUMNS
                if (
                    problem := text_problem(
                        record.get(column), column=column, max_length=_MAX_LENGTHS.get(column)
                    )
                )
            ]
            yield index, record, problems
        return
    reader = CsvFile(stream)
    missing = [c for c in COLUMNS if c not in reader.header]
    if reader.header_problems:
        yield 1, {"__header__": " ".join(reader.header_problems)}, []
        return
    if missing:
        message = _("Missing column(s): %(columns)s.") % {"columns": ", ".join(missing)}
        yield 1, {"__header__": message}, []
        return
    for row in reader.rows(max_lengths=_MAX_LENGTHS):
        yield row.line, row.record, row.problems


def stock_import(
    *,
    stream: IO[str],
    file_format: str = "csv",
    reason: str = StockMovement.Reason.COUNT_CORRECTION,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    reference: str = "",
    actor=None,
) -> StockImportReport:
    """Apply a file of counted (or reported) quantities. See the module docstring."""
    report = StockImportReport()
    locations = dict(StockLocation.objects.values_list("code", "pk"))
    wanted: dict[tuple[int, int], int] = {}
    lines_of: dict[tuple[int, int], int] = {}
    pending: list[tuple[int, dict, list[str]]] = []

    def resolve(batch: list[tuple[int, dict, list[str]]]) -> None:
        skus = dict(
            ProductVariant.objects.filter(
                sku__in={str(r.get("sku") or "").strip() for _, r, bad in batch if not bad}
            ).values_list("sku", "pk")
        )
        for line, record, bad in batch:
            sku = str(record.get("sku") or "").strip()
            if bad:
                # The values may be anything (NUL, undecodable bytes): quote none of them.
                report.errors.append((line, "; ".join(bad)))
                continue
            location = str(record.get("location") or "").strip()
            quantity = str(
                record.get("quantity") if record.get("quantity") is not None else ""
            ).strip()
            problems = []
            if sku not in skus:
                problems.append(
                    _("unknown SKU %(sku)s") % {"sku": sku} if sku else _("sku is empty")
                )
            if location not in locations:
                problems.append(
                    _("unknown location %(code)s") % {"code": location}
                    if location
                    else _("location is empty")
                )
            counted = whole_number(record.get("quantity"), maximum=INT32_MAX)
            if counted is None:
                problems.append(
                    _("quantity must be a whole number from 0 to %(max)s, not %(value)s")
                    % {"max": INT32_MAX, "value": shown(quantity)}
                )
            key = (skus.get(sku), locations.get(location))
            if not problems and key in wanted:
                problems.append(
                    _("the same SKU and location as line %(line)s") % {"line": lines_of[key]}
                )
            if problems:
                report.errors.append(
                    (line, f"{sku or '?'} @ {location or '?'}: " + "; ".join(problems))
                )
                continue
            wanted[key] = counted  # type: ignore[assignment]
            lines_of[key] = line

    for line, record, problems in _records(stream, file_format):
        if "__header__" in record:
            report.errors.append((1, record["__header__"]))
            return report
        report.rows += 1
        pending.append((line, record, problems))
        if len(pending) >= CHUNK:
            resolve(pending)
            pending = []
    resolve(pending)
    if dry_run or (report.errors and not skip_bad_rows) or not wanted:
        return report
    movements = stock_set_levels(
        levels=[StockLevel(v, loc, q) for (v, loc), q in wanted.items()],
        reason=reason,
        reference=reference,
        actor=actor,
    )
    report.changed = len(movements)
    report.unchanged = len(wanted) - len(movements)
    report.written = True
    return report
