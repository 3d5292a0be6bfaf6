"""Stock counts and external feeds from files: absolute quantities per SKU and location.

Every row is validated first and each bad one reported with its line number; with any bad row
nothing is written unless bad rows are to be skipped. The good rows are then applied in one
`stock_set_levels` call, which locks them all in the global (variant, location) order: a count
never deadlocks with checkouts, and the correction is computed from the locked quantity, so
no concurrent reservation or adjustment is lost. Memory holds three integers per good row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from django.utils.translation import gettext as _

from catalog.models import ProductVariant
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


def _records(stream: IO[str], file_format: str) -> Iterator[tuple[int, dict]]:
    if file_format == "json":
        data = json.load(stream)
        items = data.get("levels", data) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError(_("A JSON feed is a list of {sku, location, quantity} objects."))
        for index, item in enumerate(items, start=1):
            yield index, item if isinstance(item, dict) else {}
        return
    reader = csv.DictReader(stream)
    missing = [c for c in ("sku", "location", "quantity") if c not in (reader.fieldnames or [])]
    if missing:
        yield 1, {"__header__": missing}
        return
    for record in reader:
        yield reader.line_num, record


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
    pending: list[tuple[int, dict]] = []

    def resolve(batch: list[tuple[int, dict]]) -> None:
        skus = dict(
            ProductVariant.objects.filter(
                sku__in={str(r.get("sku") or "").strip() for _, r in batch}
            ).values_list("sku", "pk")
        )
        for line, record in batch:
            sku = str(record.get("sku") or "").strip()
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
            if not quantity.isdecimal():
                problems.append(
                    _("quantity must be a whole number of 0 or more, not %(value)s")
                    % {"value": quantity}
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
            wanted[key] = int(quantity)
            lines_of[key] = line

    for line, record in _records(stream, file_format):
        if "__header__" in record:
            report.errors.append(
                (
                    1,
                    _("Missing column(s): %(columns)s.")
                    % {"columns": ", ".join(record["__header__"])},
                )
            )
            return report
        report.rows += 1
        pending.append((line, record))
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
