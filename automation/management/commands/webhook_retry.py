from django.core.management.base import BaseCommand, CommandError

from automation.models import WebhookEndpoint
from automation.webhooks import selectors, services


class Command(BaseCommand):
    help = (
        "Give dead-letter and refused webhook deliveries a fresh round of attempts: the given "
        "deliveries, or all of an endpoint's, or (--all-dead) every dead letter."
    )

    def add_arguments(self, parser):
        parser.add_argument("--endpoint", type=int, help="Retry this endpoint's deliveries.")
        parser.add_argument(
            "--delivery", type=int, action="append", default=[], help="A delivery id (repeat)."
        )
        parser.add_argument(
            "--all-dead", action="store_true", help="Every dead letter and refused delivery."
        )

    def handle(self, *args, endpoint=None, delivery=(), all_dead=False, **options):
        if not (endpoint or delivery or all_dead):
            raise CommandError("Give --delivery, --endpoint or --all-dead.")
        ids = list(delivery)
        if endpoint is not None:
            found = WebhookEndpoint.objects.filter(pk=endpoint).first()
            if found is None:
                raise CommandError(f"There is no webhook endpoint {endpoint}.")
            ids += selectors.retryable_delivery_ids(endpoint=found)
        if all_dead:
            ids += selectors.retryable_delivery_ids()
        result = services.deliveries_retry(delivery_ids=ids)
        for delivery_id in result.retried:
            self.stdout.write(f"Retrying delivery {delivery_id}.")
        if result.skipped:
            skipped = ", ".join(map(str, result.skipped))
            self.stdout.write(f"Not dead letters or refused, left as they are: {skipped}.")
        self.stdout.write(f"Retried {len(result.retried)} delivery(ies).")
