"""A worker killed after claiming a message and before the mail server took it, then a new
worker: the customer gets the message once, not zero times and not twice (issue #14).

Real processes: the order is committed on PostgreSQL, a `celery worker` subprocess on a Redis of
the test's own claims the message and is killed (SIGKILL, its whole process group) while its
e-mail backend is still waiting; a second worker's sweeper claims it again once the claim is
stale. The file e-mail backend leaves one file per message sent, which the test counts.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from automation.models import Message
from commerce import events
from commerce.celery import app as celery_app
from commerce.models import OutboxEvent
from tests.commerce.conftest import RedisServer
from tests.fulfilment.conftest import omni, web_order  # noqa: F401 (the fixture)
from tests.resilience.conftest import celery_worker, database_url, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CLAIM_TIMEOUT = 3


def sent_files(folder) -> list:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def test_a_message_claimed_by_a_killed_worker_is_sent_once_by_the_next(
    own_broker: RedisServer,
    omni,  # noqa: F811 (the fixture)
    tmp_path,
    settings,
):
    order = web_order(omni, [("TEE-RED-M", 1)])
    for event_id in OutboxEvent.objects.filter(dispatched_at__isnull=True).values_list(
        "id", flat=True
    ):
        events.dispatch(event_id)
    message = Message.objects.get(kind="order_confirmation", order=order)
    mail_dir = tmp_path / "mail"
    env = {
        "EMAIL_BACKEND": "tests.resilience.mail.SlowFileBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "MESSAGES_CLAIM_TIMEOUT": str(CLAIM_TIMEOUT),
        "TEST_MAIL_DELAY": "120",
    }
    first_log, second_log = tmp_path / "first", tmp_path / "second"
    first_log.mkdir(), second_log.mkdir()
    with celery_worker(
        broker_url=own_broker.url, log_dir=first_log, database=database_url(), extra_env=env
    ) as worker:
        celery_app.send_task("automation.send_message", args=[message.pk], queue="messages")
        claimed = wait_until(
            lambda: Message.objects.get(pk=message.pk).status == Message.Status.SENDING, timeout=30
        )
        assert claimed, worker.tail()
        time.sleep(0.5)  # inside the backend's wait now
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
    assert sent_files(mail_dir) == []
    message.refresh_from_db()
    assert message.status == Message.Status.SENDING and message.attempts == 1

    time.sleep(CLAIM_TIMEOUT + 0.5)  # the claim goes stale
    with celery_worker(
        broker_url=own_broker.url,
        log_dir=second_log,
        database=database_url(),
        extra_env={**env, "TEST_MAIL_DELAY": "0"},
    ) as worker:
        celery_app.send_task("automation.send_due_messages", queue="messages")
        sent = wait_until(
            lambda: Message.objects.get(pk=message.pk).status == Message.Status.SENT, timeout=30
        )
        assert sent, worker.tail()
        # A late copy of the first hand-off, and the sweeper again: neither sends a second time.
        celery_app.send_task("automation.send_message", args=[message.pk], queue="messages")
        celery_app.send_task("automation.send_due_messages", queue="messages")
        time.sleep(2)
    [sent_mail] = sent_files(mail_dir)
    assert order.number in sent_mail.read_text()
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SENT, 2)
