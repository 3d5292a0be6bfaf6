import time

from django.core.management.base import BaseCommand

from customers.segments import rfm_recompute, segments_recompute_all


class Command(BaseCommand):
    help = "Recompute RFM scores, named segments, churn risk and merchant segments (also a nightly beat task)."

    def handle(self, *args, **options):
        started = time.perf_counter()
        rfm = rfm_recompute()
        self.stdout.write(
            f"RFM: {rfm.scored} customers scored ({rfm.changed} changed), "
            f"{rfm.prospects} without purchases "
            f"({time.perf_counter() - started:.1f} s)."
        )
        started = time.perf_counter()
        for slug, count in segments_recompute_all().items():
            self.stdout.write(f"Segment {slug}: {count} members.")
        self.stdout.write(f"Segments done in {time.perf_counter() - started:.1f} s.")
