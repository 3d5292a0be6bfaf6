"""Exit 0 when a background process reported recently, 1 otherwise: a container healthcheck."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from health_check.exceptions import HealthCheckException

from commerce.health import HeartbeatCheck
from commerce.models import ProcessHeartbeat


class Command(BaseCommand):
    help = (
        "Check that the Celery worker or beat recorded a heartbeat within "
        "HEALTH_HEARTBEAT_MAX_AGE_SECONDS (exit status 1 if not)."
    )

    def add_arguments(self, parser):
        parser.add_argument("process", choices=ProcessHeartbeat.Process.values)

    def handle(self, *args, process, **options):
        check = HeartbeatCheck(process=process)
        try:
            check.check()
        except HealthCheckException as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{process}: last reported {check.info['age_seconds']} s ago "
            f"(allowed: {settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS} s)"
        )
