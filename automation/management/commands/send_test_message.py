"""Send one message kind rendered over a real order to any address, now: to check a template,
a mail server or a LINE token from the command line."""

from django.core.management.base import BaseCommand, CommandError

from automation.messages.services import message_send, message_send_test
from automation.models import Message
from automation.models.messages import Medium
from orders.models import Order


class Command(BaseCommand):
    help = "Render KIND over an order (--order NUMBER) and send it to --to ADDRESS."

    def add_arguments(self, parser):
        parser.add_argument("kind", help="e.g. order_confirmation, shipped, pickup_ready")
        parser.add_argument("--order", default="", help="order number (default: sample data)")
        parser.add_argument("--to", required=True, help="e-mail, phone or LINE user id")
        parser.add_argument("--medium", default=Medium.EMAIL, choices=Medium.values)
        parser.add_argument("--language", default="", help="default: the order's")

    def handle(self, *args, kind, order, to, medium, language, **options):
        found = None
        if order:
            found = Order.objects.select_related("channel").filter(number=order).first()
            if found is None:
                raise CommandError(f"There is no order {order}.")
        message = message_send_test(
            kind=kind,
            to=to,
            medium=medium,
            order=found,
            language=language or (found.language if found else "en") or "en",
        )
        # Sent here rather than by a worker: the operator waits for the answer.
        status = message_send(message.pk)
        message = Message.objects.get(pk=message.pk)
        if status != Message.Status.SENT:
            raise CommandError(f"Message {message.pk} {status}: {message.reason}")
        self.stdout.write(
            f"Sent {kind} to {to} by {message.provider} (id {message.provider_id}); subject: {message.subject}"
        )
