"""Start the whole product on the embedded runtime: web server, Celery worker and beat."""

import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from commerce.celery import app
from commerce.models import Channel
from demo.messaging import DEMO_WEBHOOK_SECRET
from demo.services import OPERATIONS_TOKEN, operations_token_refresh


class Command(BaseCommand):
    help = "Migrate, load demo data when the database is empty, and run web + worker + beat."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--products", type=int, default=500)
        parser.add_argument("--reseed", action="store_true", help="Load the demo data again")

    def handle(self, *args, port, host, products, reseed, **options):
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        if reseed or not Channel.objects.exists():
            self.stdout.write("Loading demo data…")
            call_command("seed_demo", products=products)
            # The seed dispatched its events itself; the hand-offs it also queued in the file
            # broker would only keep the worker busy with no-ops (and its heartbeat, so
            # /health/ready/, waiting) for the demo's first minutes. Nothing is lost: an event
            # the seed could not dispatch is still undispatched in the outbox, which the relay
            # sweeps every 15 s.
            purged = app.control.purge()
            self.stdout.write(f"Broker: {purged} queued hand-off(s) of dispatched events dropped.")
        # The fixed demo token expires like any staff token; each start renews it.
        operations_token_refresh()
        python = sys.executable
        processes = [
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "commerce",
                    "worker",
                    "--loglevel=INFO",
                    "--pool=threads",
                    "--concurrency=2",
                    "--hostname=demo@%h",
                ]
            ),
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "commerce",
                    "beat",
                    "--loglevel=INFO",
                    f"--pidfile={settings.VAR_DIR / 'beat.pid'}",
                ]
            ),
            subprocess.Popen(
                [python, "manage.py", "runserver", "--noreload", f"{host}:{port}"],
                cwd=settings.BASE_DIR,
            ),
        ]
        # The demo's webhook receiver: not one of the processes the demo needs, so a port
        # already taken only costs the receiver (the deliveries then wait and retry).
        receiver_url = urlsplit(settings.DEMO_WEBHOOK_URL)
        receiver = subprocess.Popen(
            [
                python,
                "-m",
                "demo.webhook_receiver",
                "--host",
                receiver_url.hostname or "127.0.0.1",
                "--port",
                str(receiver_url.port or 8001),
            ],
            cwd=settings.BASE_DIR,
            env={**os.environ, "DEMO_WEBHOOK_SECRET": DEMO_WEBHOOK_SECRET},
        )
        base = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS(
                "\nUnified Commerce demo is starting (web server, Celery worker and beat; SQLite, no servers needed).\n"
                f"  Back office:   {base}/admin/        login admin / admin (or catalogue / catalogue, "
                "operations / operations)\n"
                f"  API docs:      {base}/api/docs/\n"
                f"  Staff API:     {base}/api/v1/staff/fulfilments/  "
                f"Authorization: Token {OPERATIONS_TOKEN}\n"
                f"  Storefront:    {base}/api/v1/channels/web-jp/products/?q=tea&sort=price\n"
                f"  Channels:      {base}/api/v1/channels/\n"
                f"  Customer:      POST {base}/api/v1/customers/sign-in/  "
                "hanako@example.jp / demo-password-2026\n"
                f"  Messages:      {base}/admin/automation/message/  (new mails print in the worker's console)\n"
                f"  Webhooks:      {base}/admin/automation/webhookdelivery/  (the receiver on "
                f"{settings.DEMO_WEBHOOK_URL} prints each signed delivery)\n"
                "Press Ctrl-C to stop.\n"
            )
        )

        def stop(*_):
            for process in [*processes, receiver]:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in [*processes, receiver]:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
            failed = next(p for p in processes if p.poll() is not None)
            self.stderr.write(
                f"{' '.join(failed.args[:4])}… stopped (exit {failed.returncode}); stopping the rest."
            )
        except KeyboardInterrupt:
            pass
        finally:
            stop()
        os.environ.pop("RUN_MAIN", None)
