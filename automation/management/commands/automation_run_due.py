from django.core.management.base import BaseCommand

from automation.rules import engine, triggers


class Command(BaseCommand):
    help = (
        "Run the automation ticks once, as beat does: publish cart.abandoned for idle carts, start "
        "the schedule and date rules that are due, and advance the waiting runs whose time has "
        "come. A wait is never ended early: only runs already due move."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--idle-minutes",
            type=int,
            help="Treat carts idle this long as abandoned (default AUTOMATION_CART_IDLE_MINUTES).",
        )

    def handle(self, *args, idle_minutes=None, **options):
        from django.conf import settings

        if idle_minutes is not None:
            if idle_minutes < 1:
                from django.core.management.base import CommandError

                raise CommandError("--idle-minutes must be at least 1.")
            settings.AUTOMATION_CART_IDLE_MINUTES = idle_minutes
        abandoned = triggers.carts_abandoned_sweep()
        self.stdout.write(f"Abandoned carts found: {abandoned}.")
        started = triggers.time_rules_tick()
        self.stdout.write(f"Schedule and date runs started: {started}.")
        # The cart.abandoned events are dispatched by the workers after commit; without a
        # worker (the demo's eager mode does it inline) the relay takes them.
        advanced = engine.runs_advance_due()
        self.stdout.write(f"Waiting runs advanced: {advanced}.")
