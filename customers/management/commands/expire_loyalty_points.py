from django.core.management.base import BaseCommand

from customers.services import points_expire_due


class Command(BaseCommand):
    help = "Expire loyalty points past their date (also a nightly beat task). Safe to repeat."

    def handle(self, *args, **options):
        touched = points_expire_due()
        self.stdout.write(f"Expired points in {touched} accounts.")
