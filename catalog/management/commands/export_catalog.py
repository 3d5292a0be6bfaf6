import sys

from django.core.management.base import BaseCommand

from catalog.importing import catalog_export_numeric, catalog_export_rows
from commerce.csvsafe import csv_writer


class Command(BaseCommand):
    help = (
        "Export the catalogue as CSV (the import format), to a file or standard output. Text "
        "that a spreadsheet would run as a formula is escaped with an apostrophe, which "
        "import_catalog removes again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write; standard output when left out")

    def handle(self, *args, output, **options):
        if not output:
            csv_writer(sys.stdout, numeric=catalog_export_numeric).writerows(catalog_export_rows())
            return
        with open(output, "w", encoding="utf-8", newline="") as stream:
            csv_writer(stream, numeric=catalog_export_numeric).writerows(catalog_export_rows())
