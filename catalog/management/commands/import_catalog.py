from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils.translation import gettext as _

from catalog.importing import catalog_import, open_text


class Command(BaseCommand):
    help = (
        "Import products and variants from a CSV file (one row per variant). Every row is checked "
        "first; with any bad row nothing is imported unless --skip-bad-rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file (UTF-8; see docs/catalog-csv.md)")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; write nothing"
        )
        parser.add_argument(
            "--skip-bad-rows", action="store_true", help="Import the good rows, report the bad ones"
        )
        parser.add_argument(
            "--encoding", default="utf-8-sig", help="File encoding, e.g. cp932 for Excel in Japan"
        )

    def handle(self, *args, file, dry_run, skip_bad_rows, encoding, **options):
        try:
            report = catalog_import(
                open_stream=open_text(file, encoding=encoding),
                dry_run=dry_run,
                skip_bad_rows=skip_bad_rows,
                source=file,
            )
        except FileNotFoundError:
            raise CommandError(f"No such file: {file}") from None
        except LookupError:
            raise CommandError(
                _("Unknown encoding %(encoding)s.") % {"encoding": encoding}
            ) from None
        except UnicodeDecodeError as error:
            raise CommandError(
                f"{file} is not {encoding} text ({error}); try --encoding."
            ) from None
        except DatabaseError as error:
            # A rule the checks do not know (say a constraint another application added): the
            # import's one transaction rolled back whole.
            raise CommandError(
                _("The database refused the import, nothing was written: %(error)s")
                % {"error": (str(error).strip().splitlines() or [""])[0]}
            ) from None
        for error in report.errors:
            self.stderr.write(str(error))
        self.stdout.write(report.summary())
        if report.errors and not report.written:
            raise CommandError(f"{len(report.errors)} bad row(s); nothing was imported.")
