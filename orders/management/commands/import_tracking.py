"""Carrier status updates from a file: one `tracking_record` per row.

Each row is its own update, recorded on its own: a carrier's reports are independent facts, so a
bad row (an unknown tracking number, a status we do not know) is reported by its line and the
others are recorded. Running the same file again is safe: a report already recorded is counted
as a duplicate, never stored twice, and a parcel is delivered once.
"""

import contextlib
import json
import os
import zoneinfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from commerce.errors import DomainError, ValidationFailed
from commerce.importing import CsvFile, open_text, shown, text_problem
from orders.models import Carrier, Fulfilment, TrackingEvent
from orders.services import TrackingUpdate, tracking_record

COLUMNS = ("tracking_number", "carrier", "status", "occurred_at", "description", "place")
REQUIRED = ("tracking_number", "status", "occurred_at")
# What the columns hold: a longer value is a row error, not cut short or refused by the database.
MAX_LENGTHS = {
    "tracking_number": Fulfilment._meta.get_field("tracking_number").max_length,
    "carrier": Carrier._meta.get_field("code").max_length,
    "status": TrackingEvent._meta.get_field("status").max_length,
    "occurred_at": None,
    "description": TrackingEvent._meta.get_field("description").max_length,
    "place": TrackingEvent._meta.get_field("place").max_length,
}


class _DryRun(Exception):
    pass


class Command(BaseCommand):
    help = (
        "Record carriers' tracking updates from a CSV or JSON file (tracking_number, carrier, "
        "status, occurred_at, description, place); `delivered` delivers the parcel. Each row "
        "is recorded on its own; bad rows are reported by line. See docs/marketplace-import.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV or JSON file (UTF-8)")
        parser.add_argument(
            "--source", default="", help="Who reported the updates (default: file:<name>)"
        )
        parser.add_argument(
            "--format", choices=["csv", "json"], help="Default: from the file's extension"
        )
        parser.add_argument(
            "--time-zone",
            default=settings.TIME_ZONE,
            help="Time zone of occurred_at values without an offset (default: TIME_ZONE)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row and roll back; write nothing"
        )
        parser.add_argument("--encoding", default="utf-8-sig", help="File encoding")

    def handle(self, *args, file, source, format, time_zone, dry_run, encoding, **options):
        file_format = format or os.path.splitext(file)[1].lower().lstrip(".")
        if file_format not in ("csv", "json"):
            raise CommandError(
                _("Cannot tell the format of %(file)s; give --format csv or json.") % {"file": file}
            )
        try:
            zone = zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CommandError(_("Unknown time zone %(zone)s.") % {"zone": time_zone}) from None
        source = (source or f"file:{os.path.basename(file)}")[:100]
        try:
            with open_text(file, encoding=encoding) as stream:
                rows = list(_rows(stream, file_format))
        except FileNotFoundError:
            raise CommandError(_("No such file: %(file)s") % {"file": file}) from None
        except LookupError:
            raise CommandError(
                _("Unknown encoding %(encoding)s.") % {"encoding": encoding}
            ) from None
        except (ValueError, RecursionError, UnicodeDecodeError) as error:
            raise CommandError(
                _("%(file)s cannot be read: %(error)s") % {"file": file, "error": error}
            ) from None

        recorded = duplicates = 0
        errors: list[str] = []
        # A dry run records row after row in one transaction (so a repeated row shows as a
        # duplicate) and rolls it all back at the end; a real run commits row by row.
        try:
            with transaction.atomic() if dry_run else contextlib.nullcontext():
                for where, record in rows:
                    try:
                        update = _update(record, zone)
                        with transaction.atomic():
                            _event, created = tracking_record(update, source=source)
                    except DomainError as error:
                        errors.append(f"{where}: {_describe(error)}")
                        continue
                    except DatabaseError as error:  # the row's own transaction rolled back
                        first = (str(error).strip().splitlines() or [""])[0]
                        errors.append(
                            f"{where}: "
                            + _("The database refused the row: %(error)s") % {"error": first}
                        )
                        continue
                    recorded += created
                    duplicates += not created
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        for message in errors:
            self.stderr.write(_("error: %(message)s") % {"message": message})
        summary = _(
            "%(rows)s rows read: %(recorded)s recorded, %(duplicates)s already recorded "
            "(duplicates), %(errors)s with errors."
        ) % {
            "rows": len(rows),
            "recorded": recorded,
            "duplicates": duplicates,
            "errors": len(errors),
        }
        if dry_run:
            summary += " " + _("Dry run: nothing was written.")
        self.stdout.write(summary)
        if errors:
            raise CommandError(_("%(count)s bad row(s); see above.") % {"count": len(errors)})


def _rows(stream, file_format: str):
    """(where, record) pairs; `where` names the row for the report."""
    if file_format == "json":
        data = json.load(stream)
        items = data.get("updates") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError(_('a JSON file is a list of updates (or {"updates": [...]})'))
        for index, item in enumerate(items, start=1):
            yield _("update %(n)s") % {"n": index}, item if isinstance(item, dict) else None
        return
    reader = CsvFile(stream)
    header = reader.header
    if reader.header_problems:
        raise ValueError(" ".join(reader.header_problems))
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        raise ValueError(
            "; ".join(
                [_("missing column %(column)s") % {"column": c} for c in missing]
                + [_("unknown column %(column)s") % {"column": c} for c in unknown]
            )
        )
    for row in reader.rows(max_lengths=MAX_LENGTHS):
        where = _("line %(line)s") % {"line": row.line}
        # A row the file garbled (short, long, unreadable) is reported, never half-read.
        yield where, ValidationFailed({"row": row.problems}) if row.problems else row.record


def _text(record: dict, name: str) -> str:
    value = record.get(name)
    return "" if value is None else str(value).strip()


def _update(record: dict | ValidationFailed | None, zone: zoneinfo.ZoneInfo) -> TrackingUpdate:
    if isinstance(record, ValidationFailed):
        raise record
    if record is None:
        raise ValidationFailed({"update": [_("An update is an object.")]})
    unknown = [key for key in record if key not in COLUMNS]
    if unknown:
        raise ValidationFailed({shown(key): [_("Unknown field.")] for key in unknown})
    # Before anything is looked up with them: the database refuses NUL, cuts nothing short.
    problems = [
        problem
        for name in COLUMNS
        if (problem := text_problem(record.get(name), column=name, max_length=MAX_LENGTHS[name]))
    ]
    if problems:
        raise ValidationFailed({"row": problems})
    raw = _text(record, "occurred_at")
    try:
        occurred_at = parse_datetime(raw) if raw else None
    except ValueError:
        occurred_at = None
    if occurred_at is None:
        raise ValidationFailed(
            {
                "occurred_at": [
                    _("%(value)s is not a date and time; use ISO 8601, e.g. %(example)s.")
                    % {"value": shown(raw) or '""', "example": "2025-05-02T14:30:00+09:00"}
                ]
            }
        )
    if timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at, zone)
    return TrackingUpdate(
        tracking_number=_text(record, "tracking_number"),
        # "Out for delivery" and "out-for-delivery" mean out_for_delivery.
        status=_text(record, "status").lower().replace("-", "_").replace(" ", "_"),
        occurred_at=occurred_at,
        carrier=_text(record, "carrier"),
        description=_text(record, "description"),
        place=_text(record, "place"),
    )


def _describe(error: DomainError) -> str:
    if isinstance(error, ValidationFailed) and error.errors:
        return "; ".join(
            # A row's own problems already name their column.
            message if field == "row" else f"{field}: {message}"
            for field, messages in error.errors.items()
            for message in messages
        )
    return str(error.detail)
