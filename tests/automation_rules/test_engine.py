"""The engine's guarantees: one run per trigger, one effect per step, reasons for every skip,
versions pinned, shadow mode, global pause, loop guard."""

from __future__ import annotations

import pytest

from automation.models import ActionExecution, Rule, RuleRun, RunStep, StaffAlert
from automation.rules.services import automation_pause, rule_publish, rule_save
from commerce import events
from commerce.models import OutboxEvent
from orders.models import Order

from .conftest import dispatch_all, make_rule, web_order

R = RuleRun.Status


def test_a_matching_order_is_flagged_once_even_when_its_event_is_delivered_twice(omni):
    rule = make_rule(
        "Big orders",
        "order.placed",
        'flag_order reason="Big order"',
        conditions="order.total >= 1000",
    )
    order = web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    order.refresh_from_db()
    assert order.flagged and "Big order" in order.flag_reason
    run = RuleRun.objects.get(rule=rule)
    assert run.status == R.SUCCEEDED and run.order_id == order.pk
    placed = OutboxEvent.objects.get(type="order.placed", subject_id=str(order.pk))
    # A redelivery of the same event (the consumer's receipt bypassed) makes no second run.
    from automation.rules.engine import on_event

    on_event(placed)
    assert RuleRun.objects.filter(rule=rule).count() == 1
    assert ActionExecution.objects.filter(run=run).count() == 1


def test_a_false_condition_is_logged_with_its_left_value_operator_and_right_value(omni):
    rule = make_rule(
        "Huge orders", "order.placed", "flag_order", conditions="order.total >= 999999"
    )
    order = web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    run = RuleRun.objects.get(rule=rule)
    assert run.status == R.SKIPPED
    assert "order.total" in run.reason and "gte" in run.reason and "999999" in run.reason
    order.refresh_from_db()
    assert not order.flagged
    trace = run.conditions[0]
    assert trace["op"] == "gte" and trace["result"] is False and trace["value"] == str(order.total)


def test_shadow_mode_logs_what_it_would_do_and_does_nothing(omni):
    rule = make_rule("Shadow", "order.placed", "flag_order", status=Rule.Status.SHADOW)
    order = web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    order.refresh_from_db()
    assert not order.flagged
    run = RuleRun.objects.get(rule=rule)
    assert run.shadow and run.status == R.SUCCEEDED
    assert RunStep.objects.get(run=run, kind="action").status == RunStep.Status.WOULD
    assert not ActionExecution.objects.exists()


def test_the_global_pause_records_a_skip_and_acts_on_nothing(omni):
    rule = make_rule("Paused", "order.placed", "flag_order")
    automation_pause(paused=True)
    order = web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    run = RuleRun.objects.get(rule=rule)
    assert run.status == R.SKIPPED and "paused" in run.reason
    order.refresh_from_db()
    assert not order.flagged


def test_runs_keep_the_version_they_started_with(omni):
    rule = make_rule("Versioned", "order.placed", "wait 1h\nflag_order reason=v1")
    web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    run = RuleRun.objects.get(rule=rule)
    assert run.status == R.WAITING
    rule_save(rule=rule, steps_text="wait 1h\nflag_order reason=v2")
    rule_publish(rule=rule)
    from datetime import timedelta

    from django.utils import timezone

    from automation.rules.engine import runs_advance_due

    runs_advance_due(now=timezone.now() + timedelta(hours=1, minutes=1))
    run.refresh_from_db()
    order = Order.objects.get(pk=run.order_id)
    assert run.status == R.SUCCEEDED and run.version.number == 1
    assert "v1" in order.flag_reason


def test_a_waiting_step_never_fires_before_its_due_time(omni):
    from datetime import timedelta

    from django.utils import timezone

    from automation.rules.engine import runs_advance_due

    rule = make_rule("Later", "order.placed", "wait 2h\nflag_order reason=later")
    order = web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    run = RuleRun.objects.get(rule=rule)
    due = run.due_at
    assert runs_advance_due(now=due - timedelta(seconds=1)) == 0
    order.refresh_from_db()
    assert not order.flagged
    assert runs_advance_due(now=due) == 1
    order.refresh_from_db()
    assert order.flagged
    assert due - run.started_at == timedelta(hours=2)
    assert timezone.now() < due


@pytest.fixture
def programme(db):
    from customers.models import LoyaltyProgramme

    return LoyaltyProgramme.objects.create(name="Friends", points_expire_after_days=365)


def test_two_rules_that_trigger_each_other_stop_at_depth_three_with_an_alert(programme):
    from customers.models import Customer
    from customers.services import points_adjust

    ping = make_rule("Ping", "loyalty.points_changed", "award_points points=1 reason=ping")
    pong = make_rule("Pong", "loyalty.points_changed", "award_points points=1 reason=pong")
    customer = Customer.objects.create(email="loop@example.com")
    points_adjust(customer, points=10, reason="goodwill")
    for _round in range(10):
        if not dispatch_all():
            break
    acted = RuleRun.objects.filter(status=R.SUCCEEDED).order_by("depth")
    assert [run.depth for run in acted] == [1, 1, 2, 2, 3, 3][: acted.count()]
    assert max(run.depth for run in acted) == 3
    refused = RuleRun.objects.filter(status=R.SKIPPED, reason__startswith="Loop guard: causation")
    assert refused.exists() and all(run.depth == 4 for run in refused)
    assert StaffAlert.objects.filter(rule__in=[ping, pong], title__startswith="Loop guard").exists()
    # Each award is one point entry per acting run: nothing ran past the guard.
    from customers.models import PointEntry

    assert PointEntry.objects.filter(reason__in=["ping", "pong"]).count() == acted.count()
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    assert events  # the kernel module is what carries the causation
