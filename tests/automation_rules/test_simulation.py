"""What-if over stored history: the report counts what would happen, and nothing else changes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.core.management import call_command
from django.utils import timezone

from automation.models import ActionExecution, Message, Rule, RuleRun, SimulationReport
from automation.rules.services import rule_save
from automation.rules.simulation import simulate
from catalog.models import VariantChannelListing
from orders.models import Discount, DiscountCode, Order

from .conftest import dispatch_all, make_rule, web_order


def counts() -> dict[str, int]:
    return {
        "messages": Message.objects.count(),
        "codes": DiscountCode.objects.count(),
        "prices": sum(VariantChannelListing.objects.values_list("price", flat=True), Decimal(0)),
        "orders": Order.objects.count(),
        "flagged": Order.objects.filter(flagged=True).count(),
        "runs": RuleRun.objects.count(),
        "executions": ActionExecution.objects.count(),
    }


def test_a_draft_rule_replayed_over_history_reports_and_changes_nothing(omni):
    Discount.objects.create(name="Thanks", kind=Discount.Kind.PERCENTAGE, value=Decimal(5))
    for quantity in (1, 2, 3):
        web_order(omni, [("TEE-RED-M", quantity)])
    dispatch_all()
    rule = rule_save(
        name="Thank big buyers",
        trigger="order.placed",
        conditions_text="order.units >= 2",
        steps_text='issue_code discount=Thanks\nwait 2d\nsend_message kind=campaign text="Thanks"\nflag_order',
        extra={"subject": "order"},
    )
    assert rule.status == Rule.Status.DRAFT
    before = counts()
    report = simulate(
        rule, since=timezone.now() - timedelta(days=1), until=timezone.now() + timedelta(days=3)
    )
    assert counts() == before
    assert report["runs_started"] == 2 and report["skipped"] == {"condition false": 1}
    assert report["actions"] == {"issue_code": 2, "send_message": 2, "flag_order": 2}
    assert report["outcomes"] == {"succeeded": 2}
    assert report["recipients"] == 1 and report["messages_per_customer"] == {"2": 1}
    assert "order" in report["evaluated_on_current_data"]
    assert len(report["samples"]) == 3


def test_the_command_prints_the_report_and_keeps_it_when_asked(omni, capsys):
    web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    rule = make_rule("Flag all", "order.placed", "flag_order", status=Rule.Status.DRAFT)
    before = counts()
    call_command("automation_simulate", rule=rule.pk, since="1d", save=True)
    out = capsys.readouterr().out
    assert "runs that would start: 1" in out and "flag_order" in out
    assert SimulationReport.objects.get(rule=rule).report["runs_started"] == 1
    assert counts() == before


def test_the_difference_against_the_published_version_is_reported(omni):
    for quantity in (1, 3):
        web_order(omni, [("TEE-RED-M", quantity)])
    dispatch_all()
    rule = make_rule(
        "Units",
        "order.placed",
        "flag_order",
        conditions="order.units >= 3",
        status=Rule.Status.DRAFT,
    )
    rule_save(rule=rule, conditions_text="order.units >= 1")
    report = simulate(rule, since=timezone.now() - timedelta(days=1))
    assert report["runs_started"] == 2
    assert report["against_published"]["runs_started"] == 1
    assert report["against_published"]["actions"] == {"flag_order": 1}
