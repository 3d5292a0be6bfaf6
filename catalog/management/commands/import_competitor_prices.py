from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils.translation import gettext as _

from catalog.competitor_feed import competitor_prices_import_csv
from catalog.errors import CompetitorPricesInvalid
from commerce.importing import open_text
from commerce.selectors import channel_by_code


class Command(BaseCommand):
    help = (
        "Record competitor prices from a CSV file (sku, competitor, price, optional observed_at) "
        "in one channel. Every row is checked first; with any bad row nothing is recorded."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file (UTF-8; see docs/catalog-csv.md)")
        parser.add_argument(
            "--channel", required=True, help="Code of the channel the prices are for, e.g. web-jp"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; record nothing"
        )
        parser.add_argument(
            "--encoding", default="utf-8-sig", help="File encoding, e.g. cp932 for Excel in Japan"
        )

    def handle(self, *args, file, channel, dry_run, encoding, **options):
        found = channel_by_code(channel)
        if found is None:
            raise CommandError(_("There is no channel %(code)s.") % {"code": channel})
        try:
            with open_text(file, encoding=encoding) as stream:
                result = competitor_prices_import_csv(stream=stream, channel=found, dry_run=dry_run)
        except FileNotFoundError:
            raise CommandError(_("No such file: %(file)s") % {"file": file}) from None
        except LookupError:
            raise CommandError(
                _("Unknown encoding %(encoding)s.") % {"encoding": encoding}
            ) from None
        except CompetitorPricesInvalid as error:
            lines = [str(e) for e in error.row_errors]
            raise CommandError("\n".join([*lines, str(error.detail)])) from None
        except DatabaseError as error:
            raise CommandError(
                _("The database refused the import, nothing was written: %(error)s")
                % {"error": (str(error).strip().splitlines() or [""])[0]}
            ) from None
        self.stdout.write(result.summary())
