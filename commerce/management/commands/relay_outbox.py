from django.core.management.base import BaseCommand

from commerce import events


class Command(BaseCommand):
    help = "Dispatch domain events that were not handed to the workers (what the beat task does)."

    def handle(self, *args, **options):
        done = events.relay()
        self.stdout.write(f"Dispatched {done} event(s).")
