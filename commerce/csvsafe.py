"""Exports that are safe to open in a spreadsheet (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` as a
formula (`=HYPERLINK(...)` leaks data, `+cmd|' /C calc'!A0` runs a program), and a leading tab
or carriage return hides the character after it. Any text a customer or a supplier typed (a
product name, a note) may start so. Every CSV we write goes through `csv_writer`, which prefixes
such a text cell with an apostrophe: spreadsheets show the text as typed, and run nothing.

Numbers are left alone: a cell of a numeric column (`numeric`) that is a plain number such as
`-5` or `-12.50` is data, not a formula. Every other cell is text, even when it looks like a
number: `-2+3` in a name is escaped.

Importers of our own exports read cells through `cell_restore`, which removes exactly the one
apostrophe `cell_neutralise` added: a value that itself starts with apostrophes before a
dangerous character gets one more on the way out and loses one on the way back, so every text
survives an export and re-import unchanged.

Written here rather than taken from defusedcsv: that wraps `csv.writer` only, while the XLSX
exports need the same rule, and it offers no way back for our importers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import IO, Any

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = re.compile(r"^'*[=+\-@\t\r]")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def cell_neutralise(value: Any) -> Any:
    """A text cell as a spreadsheet may show it without running it (see the module)."""
    if value is None or isinstance(value, int | float | Decimal):
        return value  # a typed number (bool is an int) is never a formula
    text = str(value)
    if _ESCAPED.match(text):
        return "'" + text
    return text


def cell_restore(text: str) -> str:
    """The value `cell_neutralise` was given, from the cell it wrote."""
    if text.startswith("'") and _ESCAPED.match(text):
        return text[1:]
    return text


class SafeWriter:
    """`csv.writer` with every cell neutralised, except plain numbers in numeric columns."""

    def __init__(self, writer, numeric: Callable[[str], bool] | None = None) -> None:
        self._writer = writer
        self._numeric_test = numeric
        self._numeric: set[int] | None = None if numeric else set()

    def _cells(self, row: Iterable[Any]) -> list[Any]:
        cells = list(row)
        if self._numeric is None:
            # The first row is the header: it says which columns hold numbers.
            self._numeric = {i for i, name in enumerate(cells) if self._numeric_test(str(name))}
        return [
            cell
            if i in self._numeric and isinstance(cell, str) and _NUMBER.match(cell)
            else cell_neutralise(cell)
            for i, cell in enumerate(cells)
        ]

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow(self._cells(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: IO[str], *, numeric: Callable[[str], bool] | None = None) -> SafeWriter:
    """A CSV writer for exports. `numeric(column_name)` says which columns of the header (the
    first row written) hold numbers; without it every cell is text."""
    return SafeWriter(csv.writer(stream), numeric)
