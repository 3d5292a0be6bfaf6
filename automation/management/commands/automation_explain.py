from django.core.management.base import BaseCommand, CommandError

from automation.rules.selectors import explain_order
from orders.models import Order


class Command(BaseCommand):
    help = "Why did (or didn't) each automation rule fire for an order? Reads the run log."

    def add_arguments(self, parser):
        parser.add_argument("--order", required=True, help="The order number.")

    def handle(self, *args, order, **options):
        found = Order.objects.filter(number=order).first()
        if found is None:
            raise CommandError(f"There is no order {order}.")
        lines = explain_order(found)
        if not lines:
            self.stdout.write("No rule is active, in shadow or paused.")
        for line in lines:
            self.stdout.write(f"{line.rule} | {line.event} | {line.status} | {line.reason}")
