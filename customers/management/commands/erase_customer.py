from django.core.management.base import BaseCommand, CommandError

from commerce.errors import DomainError
from customers.management.commands._lookup import customer_from_arg
from customers.services import customer_erase


class Command(BaseCommand):
    help = (
        "Erase a customer's personal data (right to be forgotten). Purchases and the point "
        "ledger stay for accounting; `customer.erased` tells the other apps."
    )

    def add_arguments(self, parser):
        parser.add_argument("customer", help="customer id or e-mail address")
        parser.add_argument("--reason", default="", help="kept in the profile's history")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, customer, reason, yes, **options):
        target = customer_from_arg(customer)
        if not yes:
            answer = input(f"Erase the personal data of #{target.pk} {target}? [y/N] ")
            if answer.strip().lower() not in {"y", "yes"}:
                raise CommandError("Nothing erased.")
        try:
            customer_erase(target, actor="manage.py", reason=reason)
        except DomainError as exc:
            raise CommandError(str(exc.detail)) from exc
        self.stdout.write(f"Erased customer #{target.pk}.")
