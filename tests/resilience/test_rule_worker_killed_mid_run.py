"""A worker SIGKILLed in the middle of a rule run, then a new worker: each effect happened once
(issue #15). The run's actions and their claims are written in the dispatch transaction, so the
kill rolls all of them back and the next delivery does them again, once.

Real processes: a `celery worker` subprocess dispatches the order's event, runs the rule (award
points, then a slow tag that waits inside the transaction) and is killed while it waits; a
second worker dispatches the event again."""

from __future__ import annotations

import os
import signal
import time

import pytest

from automation.models import ActionExecution, RuleRun
from commerce.celery import app as celery_app
from commerce.models import OutboxEvent
from customers.models import Customer, LoyaltyProgramme, PointEntry
from tests.automation_rules.conftest import make_rule
from tests.commerce.conftest import RedisServer
from tests.fulfilment.conftest import omni, web_order  # noqa: F401 (the fixture)
from tests.resilience import tasks  # noqa: F401 (registers the slow action here too)
from tests.resilience.conftest import celery_worker, database_url, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rule_run_killed_mid_step_has_each_effect_once_after_the_restart(
    own_broker: RedisServer,
    omni,  # noqa: F811 (the fixture)
    tmp_path,
):
    LoyaltyProgramme.objects.create(name="Friends")
    customer = Customer.objects.create(email="hanako@example.jp")
    make_rule("Reward", "order.placed", "award_points points=5 reason=kill-test\nslow_tag tag=vip")
    order = web_order(omni, [("TEE-RED-M", 1)])
    from orders.models import Order

    Order.objects.filter(pk=order.pk).update(customer=customer)
    placed = OutboxEvent.objects.get(type="order.placed", subject_id=str(order.pk))
    OutboxEvent.objects.filter(pk=placed.pk).update(
        payload={**placed.payload, "customer_id": customer.pk}
    )
    started = tmp_path / "started"
    env = {"TEST_ACTION_STARTED": str(started), "TEST_ACTION_DELAY": "120"}
    first_log, second_log = tmp_path / "first", tmp_path / "second"
    first_log.mkdir(), second_log.mkdir()
    with celery_worker(
        broker_url=own_broker.url, log_dir=first_log, database=database_url(), extra_env=env
    ) as worker:
        celery_app.send_task("commerce.dispatch_event", args=[placed.pk])
        assert wait_until(started.exists, timeout=30), worker.tail()
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
    # Everything the killed run wrote went with its transaction.
    assert not RuleRun.objects.exists() and not ActionExecution.objects.exists()
    assert not PointEntry.objects.filter(reason="kill-test").exists()
    assert not customer.tags.exists()

    with celery_worker(
        broker_url=own_broker.url,
        log_dir=second_log,
        database=database_url(),
        extra_env={**env, "TEST_ACTION_DELAY": "0"},
    ) as worker:
        celery_app.send_task("commerce.dispatch_event", args=[placed.pk])
        done = wait_until(
            lambda: RuleRun.objects.filter(status=RuleRun.Status.SUCCEEDED).exists(), timeout=30
        )
        assert done, worker.tail()
        celery_app.send_task("commerce.dispatch_event", args=[placed.pk])  # a late redelivery
        celery_app.send_task("commerce.relay_outbox")
        time.sleep(2)
    assert PointEntry.objects.filter(reason="kill-test").count() == 1
    assert list(customer.tags.values_list("name", flat=True)) == ["vip"]
    assert ActionExecution.objects.count() == 2 and RuleRun.objects.count() == 1
