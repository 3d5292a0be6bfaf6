"""What every file importer checks the same way, before it looks anything up or writes.

A cell the database would refuse (a NUL byte, bytes that are not text in the file's encoding,
more characters than the column holds, a number beyond the integer column) must be a row error
found while reading, so that a dry run and a real run refuse the same rows and neither ends in a
database or CSV traceback. Importers read their files through `CsvFile` and check their cells with
`text_problem` and `whole_number`; what a value means stays with each importer.

Files are opened with `errors="surrogateescape"`: an undecodable byte becomes a lone surrogate
that `text_problem` reports on its row, instead of a `UnicodeDecodeError` that ends the read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from django.utils.translation import gettext as _

# The largest value of an IntegerField / PositiveIntegerField column on PostgreSQL.
INT32_MAX = 2_147_483_647
# Digits beyond this are never a valid count; checked before int() (which refuses > 4300 digits).
_MAX_DIGITS = 18
_SHOWN = 40  # characters of a bad value quoted back in a message
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


def open_text(path: str, encoding: str = "utf-8-sig") -> IO[str]:
    """A file opened for an importer: undecodable bytes are reported by row, not raised."""
    return open(path, encoding=encoding, errors="surrogateescape", newline="")


def wrap_binary(binary: IO[bytes], encoding: str = "utf-8-sig") -> io.TextIOWrapper:
    """An uploaded (binary) file as text, with the same error handling as `open_text`."""
    return io.TextIOWrapper(binary, encoding=encoding, errors="surrogateescape", newline="")


def shown(value: Any) -> str:
    """A value quoted back in a message: short, and with its control characters visible."""
    text = str(value)
    if len(text) > _SHOWN:
        text = text[:_SHOWN] + "…"
    if any(_is_bad_character(c) for c in text):
        text = text.encode("unicode_escape", errors="backslashreplace").decode("ascii")
    return text


def _is_bad_character(character: str) -> bool:
    code = ord(character)
    return (
        (code < 32 and character not in _ALLOWED_CONTROLS)
        or code == 127
        or 0xD800 <= code <= 0xDFFF
    )


def text_problem(
    value: Any, *, column: str, max_length: int | None = None, encoding: str | None = None
) -> str | None:
    """Why `value` cannot be stored as text, or None. Tabs and line breaks are text."""
    if value is None or isinstance(value, bool | int | float):
        return None
    text = str(value)
    for character in text:
        if not _is_bad_character(character):
            continue
        code = ord(character)
        if 0xD800 <= code <= 0xDFFF:
            return _(
                "%(column)s is not valid %(encoding)s text; is the file in another encoding?"
            ) % {
                "column": column,
                "encoding": encoding or "UTF-8",
            }
        if code == 0:
            return _("%(column)s contains a NUL character.") % {"column": column}
        return _("%(column)s contains the control character U+%(code)04X.") % {
            "column": column,
            "code": code,
        }
    if max_length is not None and len(text.strip()) > max_length:
        return _("%(column)s is longer than %(limit)s characters.") % {
            "column": column,
            "limit": max_length,
        }
    return None


def whole_number(raw: Any, *, minimum: int = 0, maximum: int = INT32_MAX) -> int | None:
    """`raw` as an int from minimum to maximum (an int column's range by default), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        number = raw
    else:
        text = "" if raw is None else str(raw).strip()
        if not text.isdecimal() or len(text) > _MAX_DIGITS:
            return None
        number = int(text)
    return number if minimum <= number <= maximum else None


@dataclass
class CsvRow:
    """One record of a CSV file: its (last) line, its cells by column, and what is wrong with
    its shape or its text. A row with problems must not be used further."""

    line: int
    record: dict[str, str]
    problems: list[str] = field(default_factory=list)
    # Some bytes were not text in the file's encoding: the whole file may be in another one.
    undecodable: bool = False

    def clean(self, column: str) -> str:
        """The stripped cell, or "" when the column is absent."""
        return (self.record.get(column) or "").strip()


class CsvFile:
    """A CSV file with a header: checks the header, then yields every non-blank row.

    Each row's shape (as many cells as the header has columns) and text (`text_problem`, with the
    lengths given per column) is checked; a row the csv module cannot read (say a cell beyond
    `csv.field_size_limit()`) is a row with a problem, and reading goes on with the next one.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.encoding = getattr(stream, "encoding", None)
        self._reader = csv.reader(stream)
        self.header: list[str] = []
        self.header_problems: list[str] = []
        try:
            first = next(self._reader)
        except StopIteration:
            first = []
        except csv.Error as error:
            self.header_problems.append(self._unreadable(error))
            return
        self.header = [cell.strip() for cell in first]
        if not self.header:
            self.header_problems.append(_("The file is empty."))
            return
        seen: set[str] = set()
        for column in self.header:
            problem = text_problem(column, column=_("The header"), encoding=self.encoding)
            if problem:
                self.header_problems.append(problem)
                break
            if column in seen:
                self.header_problems.append(
                    _("Column %(column)s appears twice.") % {"column": column}
                )
            seen.add(column)

    def _unreadable(self, error: csv.Error) -> str:
        if "field larger than field limit" in str(error):
            return _("A cell is longer than %(limit)s characters, the most a file may hold.") % {
                "limit": csv.field_size_limit()
            }
        return _("The row cannot be read as CSV: %(error)s.") % {"error": error}

    def rows(self, *, max_lengths: Mapping[str, int | None] | None = None) -> Iterator[CsvRow]:
        max_lengths = max_lengths or {}
        columns = len(self.header)
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield CsvRow(self._reader.line_num, {}, [self._unreadable(error)])
                continue
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, as spreadsheets leave at the end
            row = CsvRow(self._reader.line_num, dict(zip(self.header, cells, strict=False)))
            if len(cells) != columns:
                row.problems.append(
                    _("The row has %(cells)s cells; the header has %(columns)s columns.")
                    % {"cells": len(cells), "columns": columns}
                )
            row.undecodable = any(0xD800 <= ord(c) <= 0xDFFF for c in "".join(cells))
            for column, cell in row.record.items():
                problem = text_problem(
                    cell, column=column, max_length=max_lengths.get(column), encoding=self.encoding
                )
                if problem:
                    row.problems.append(problem)
            yield row
