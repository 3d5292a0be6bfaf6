import os

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from commerce.errors import DomainError, ValidationFailed
from commerce.importing import open_text
from orders.channels.marketplace import marketplace_file_import


class Command(BaseCommand):
    help = (
        "Import a marketplace's orders from a CSV file (one row per order line) or a JSON file "
        "(a list of orders) into a marketplace channel. Orders already imported (same "
        "marketplace order id) are skipped; each bad order is reported with its rows and not "
        "imported, the others are. See docs/marketplace-import.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV or JSON file (UTF-8)")
        parser.add_argument("--channel", required=True, help="Code of the marketplace channel")
        parser.add_argument(
            "--format", choices=["csv", "json"], help="Default: from the file's extension"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Place each order and roll it back: report what would happen, write nothing",
        )
        parser.add_argument(
            "--encoding", default="utf-8-sig", help="File encoding, e.g. cp932 for Shift_JIS"
        )

    def handle(self, *args, file, channel, format, dry_run, encoding, **options):
        file_format = format or os.path.splitext(file)[1].lower().lstrip(".")
        if file_format not in ("csv", "json"):
            raise CommandError(
                _("Cannot tell the format of %(file)s; give --format csv or json.") % {"file": file}
            )
        try:
            with open_text(file, encoding=encoding) as stream:
                report = marketplace_file_import(
                    channel, stream, file_format=file_format, dry_run=dry_run
                )
        except FileNotFoundError:
            raise CommandError(_("No such file: %(file)s") % {"file": file}) from None
        except LookupError:
            raise CommandError(
                _("Unknown encoding %(encoding)s.") % {"encoding": encoding}
            ) from None
        except UnicodeDecodeError as error:
            raise CommandError(
                _("%(file)s is not %(encoding)s text (%(error)s); try --encoding.")
                % {"file": file, "encoding": encoding, "error": error}
            ) from None
        except DomainError as error:  # the channel is not a marketplace's
            if isinstance(error, ValidationFailed) and error.errors:
                raise CommandError(
                    " ".join(str(m) for ms in error.errors.values() for m in ms)
                ) from None
            raise CommandError(str(error.detail)) from None
        for external_id, number in report.created:
            if number:
                self.stdout.write(
                    _("created: %(id)s as order %(number)s") % {"id": external_id, "number": number}
                )
            else:
                self.stdout.write(_("would create: %(id)s") % {"id": external_id})
        for external_id, number in report.skipped:
            self.stdout.write(
                _("skipped: %(id)s, already imported as order %(number)s")
                % {"id": external_id, "number": number}
            )
        for error in report.errors:
            self.stderr.write(_("error: %(error)s") % {"error": error})
        self.stdout.write(report.summary())
        if report.errors:
            raise CommandError(
                _("%(count)s error(s); the orders named were not imported.")
                % {"count": len(report.errors)}
            )
