from django.core.management.base import BaseCommand, CommandError

from commerce.errors import DomainError
from customers.management.commands._lookup import customer_from_arg
from customers.services import customer_merge


class Command(BaseCommand):
    help = "Merge DUPLICATE into SURVIVOR (ids or e-mails): everything moves, the duplicate closes."

    def add_arguments(self, parser):
        parser.add_argument("survivor")
        parser.add_argument("duplicate")

    def handle(self, *args, survivor, duplicate, **options):
        kept, gone = customer_from_arg(survivor), customer_from_arg(duplicate)
        try:
            merge = customer_merge(survivor=kept, duplicate=gone, actor="manage.py")
        except DomainError as exc:
            raise CommandError(str(exc.detail)) from exc
        moved = ", ".join(f"{k} {v}" for k, v in merge.moved.items() if k != "filled")
        self.stdout.write(f"Merged #{gone.pk} into #{kept.pk}: {moved}.")
