from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils.translation import gettext as _

from commerce.importing import open_text
from inventory.importing import stock_import
from inventory.models import StockMovement


class Command(BaseCommand):
    help = (
        "Import cycle counts from a CSV file with columns sku, location, quantity (absolute "
        "quantities on hand). Every row is checked first; corrections go to the stock ledger."
    )
    reason = StockMovement.Reason.COUNT_CORRECTION

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and report; write nothing"
        )
        parser.add_argument(
            "--skip-bad-rows", action="store_true", help="Apply the good rows, report the bad ones"
        )
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, file, dry_run, skip_bad_rows, format, **options):
        try:
            with open_text(file) as stream:
                report = stock_import(
                    stream=stream,
                    file_format=format,
                    reason=self.reason,
                    dry_run=dry_run,
                    skip_bad_rows=skip_bad_rows,
                    reference=f"{self.reason}:{file}"[:100],
                )
        except FileNotFoundError:
            raise CommandError(f"No such file: {file}") from None
        except (ValueError, RecursionError, UnicodeDecodeError) as error:
            raise CommandError(f"{file} cannot be read: {error}") from None
        except DatabaseError as error:  # one call of stock_set_levels: rolled back whole
            raise CommandError(
                _("The database refused the import, nothing was written: %(error)s")
                % {"error": (str(error).strip().splitlines() or [""])[0]}
            ) from None
        for line, message in report.errors:
            self.stderr.write(f"line {line}: {message}")
        self.stdout.write(report.summary())
        if report.errors and not report.written:
            raise CommandError(f"{len(report.errors)} bad row(s); nothing was written.")
