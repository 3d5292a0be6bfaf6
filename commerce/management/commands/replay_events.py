"""Offer past events to one consumer again: a webhook endpoint or a message consumer that was
added (or fixed) after the events happened. Receipts keep every effect once."""

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from commerce import events
from commerce.models import OutboxEvent


def _moment(text: str):
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(
                f"--since {text!r} is not a date or time (e.g. 2026-12-01 or 2026-12-01T09:00+09:00)."
            )
        moment = timezone.make_aware(datetime.combine(day, time.min))
    return moment


class Command(BaseCommand):
    help = "Re-dispatch events of a type since a time to one consumer; events it handled stay handled once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--type", required=True, dest="event_type", help="e.g. order.paid, or * for all"
        )
        parser.add_argument("--since", required=True, help="date or ISO time")
        parser.add_argument("--consumer", required=True, help="consumer name (see --list)")
        parser.add_argument("--until", default="", help="date or ISO time (default: now)")

    def handle(self, *args, event_type, since, consumer, until, **options):
        names = events.consumer_names()
        if consumer not in names:
            raise CommandError(f"Unknown consumer {consumer!r}; known: {', '.join(names)}.")
        queryset = OutboxEvent.objects.filter(occurred_at__gte=_moment(since)).order_by("id")
        if event_type != "*":
            queryset = queryset.filter(type=event_type)
        if until:
            queryset = queryset.filter(occurred_at__lt=_moment(until))
        ids = list(queryset.values_list("id", flat=True))
        ran = handled_before = failed = 0
        for number, event_id in enumerate(ids, 1):
            try:
                if events.redeliver(event_id, consumer_name=consumer):
                    ran += 1
                else:
                    handled_before += 1
            except Exception as exc:  # reported per event; the rest still run
                failed += 1
                self.stderr.write(f"event {event_id}: {exc}")
            if number % 500 == 0:
                self.stdout.write(f"{number}/{len(ids)} events…")
        self.stdout.write(
            f"{len(ids)} event(s): {ran} handled now, {handled_before} handled before, {failed} failed."
        )
        if failed:
            raise CommandError(f"{failed} event(s) failed; see above.")
