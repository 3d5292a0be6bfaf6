import json

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from customers.management.commands._lookup import customer_from_arg
from customers.services import customer_export


class Command(BaseCommand):
    help = "Print (or write) everything held about one customer as JSON, for an access request."

    def add_arguments(self, parser):
        parser.add_argument("customer", help="customer id or e-mail address")
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")

    def handle(self, *args, customer, output=None, **options):
        data = customer_export(customer_from_arg(customer))
        text = json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
            self.stderr.write(f"Wrote {output}")
        else:
            self.stdout.write(text)
