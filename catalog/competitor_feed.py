"""Competitor price files: a CSV of `sku, competitor, price[, observed_at]`, recorded in one
channel by `catalog.services.competitor_prices_import` (`manage.py import_competitor_prices`).

The file is read with the same checks as the catalogue import (`commerce.importing`): its header
first, then every row's shape and text, each problem reported on its line. Only when the whole
file is clean is anything recorded, all in one transaction; otherwise every bad row is reported,
with the rows the service itself refuses (an unknown SKU, a bad price or date), and nothing is.
"""

from __future__ import annotations

from typing import IO

from django.utils.translation import gettext as _

from catalog.errors import CompetitorPricesInvalid, RowError
from catalog.models import CompetitorPrice, ProductVariant
from catalog.services import ImportResult, competitor_prices_import
from commerce.csvsafe import cell_restore
from commerce.importing import CsvFile, text_problem
from commerce.models import Channel

REQUIRED_COLUMNS = ("sku", "competitor", "price")
OPTIONAL_COLUMNS = ("observed_at",)
_MAX_LENGTHS = {
    "sku": ProductVariant._meta.get_field("sku").max_length,
    "competitor": CompetitorPrice._meta.get_field("competitor").max_length,
    # Far more than any price or ISO date needs; longer is a wrong column, reported on its line.
    "price": 40,
    "observed_at": 40,
}


def _header_errors(header: list[str]) -> list[RowError]:
    columns = set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    messages = [
        (column, _("Missing column %(column)s.") % {"column": column})
        for column in REQUIRED_COLUMNS
        if column not in header
    ]
    messages += [
        (column, _("Unknown column %(column)s.") % {"column": column})
        for column in header
        if column not in columns
    ]
    return [RowError(line=1, sku="", field=column, message=m) for column, m in messages]


def competitor_prices_import_csv(
    *, stream: IO[str], channel: Channel, dry_run: bool = False
) -> ImportResult:
    """Read a competitor price file and record it in `channel`, all or nothing.

    Raises CompetitorPricesInvalid with every bad row (line, SKU, field, reason) and records
    nothing when any row is bad; a header without a required column (or with an unknown one)
    is refused on line 1 before any row is read.
    """
    reader = CsvFile(stream)
    if reader.header_problems:
        raise CompetitorPricesInvalid(
            [RowError(line=1, sku="", field="", message=m) for m in reader.header_problems]
        )
    header_errors = _header_errors(reader.header)
    if header_errors:
        raise CompetitorPricesInvalid(header_errors)
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    problems: list[RowError] = []
    for csv_row in reader.rows(max_lengths=_MAX_LENGTHS):
        if csv_row.problems:
            sku = csv_row.clean("sku")
            clean = text_problem(sku, column="sku", max_length=_MAX_LENGTHS["sku"]) is None
            problems += [
                RowError(line=csv_row.line, sku=sku if clean else "", field="", message=m)
                for m in csv_row.problems
            ]
            continue
        # Our exports escape formula-like text with an apostrophe (commerce.csvsafe).
        rows.append({c: cell_restore(csv_row.clean(c)).strip() for c in reader.header})
        lines.append(csv_row.line)
    try:
        # With unreadable rows, the others are still checked (so that one run reports every
        # bad row), but nothing is recorded.
        result = competitor_prices_import(
            rows=rows, channel=channel, row_numbers=lines, dry_run=dry_run or bool(problems)
        )
    except CompetitorPricesInvalid as error:
        raise CompetitorPricesInvalid(problems + error.row_errors) from None
    if problems:
        raise CompetitorPricesInvalid(problems)
    return result
