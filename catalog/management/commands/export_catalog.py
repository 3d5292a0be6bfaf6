import csv
import sys

from django.core.management.base import BaseCommand

from catalog.importing import catalog_export_rows


class Command(BaseCommand):
    help = "Export the catalogue as CSV (the import format), to a file or standard output."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write; standard output when left out")

    def handle(self, *args, output, **options):
        if not output:
            csv.writer(sys.stdout).writerows(catalog_export_rows())
            return
        with open(output, "w", encoding="utf-8", newline="") as stream:
            csv.writer(stream).writerows(catalog_export_rows())
