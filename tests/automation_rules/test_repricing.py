"""Competitor repricing stays inside its rails: never under the floor (cost + margin), at most
the step and the day's budget, and beyond the approval threshold nothing changes until staff
approve."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from automation.models import Approval, RuleRun
from automation.rules.engine import runs_advance_due
from automation.rules.services import approval_decide
from catalog.models import PriceChange, ProductVariant, VariantChannelListing
from catalog.services import competitor_price_record
from inventory.models import Supplier, SupplierItem

from .conftest import dispatch_all, make_rule

R = RuleRun.Status


@pytest.fixture
def lotion(omni) -> ProductVariant:
    variant = ProductVariant.objects.get(sku="SKN-LOT-150")
    supplier = Supplier.objects.create(code="kome", name="Kome Cosmetics")
    SupplierItem.objects.create(supplier=supplier, variant=variant, cost=Decimal(2000))
    return variant


def price(variant, channel) -> Decimal:
    return VariantChannelListing.objects.get(variant=variant, channel=channel).price


def competitor(variant, channel, amount: str) -> None:
    competitor_price_record(variant=variant, channel=channel, competitor="rival", price=amount)
    dispatch_all()


def repricing_rule(**params):
    arguments = " ".join(f"{k}={v}" for k, v in params.items())
    return make_rule(
        "Reprice",
        "price.competitor_changed",
        f"adjust_price {arguments}",
        conditions="event.competitor_price < event.our_price",
        extra={"subject": "variant"},
    )


def test_prices_follow_the_competitor_within_floor_step_and_daily_budget(omni, lotion):
    web_jp = omni.yamato.channel
    assert price(lotion, web_jp) == Decimal(3850)
    repricing_rule(floor_margin=20, undercut=10, max_step=5, max_day=10)
    competitor(lotion, web_jp, "3700")
    assert price(lotion, web_jp) == Decimal(3690)
    competitor(lotion, web_jp, "3000")  # the step allows 5 % of 3690
    assert price(lotion, web_jp) == Decimal(3506)  # 3690 - 184.5, to the yen
    competitor(lotion, web_jp, "2000")  # under the floor, and the day allows only 10 % of 3850
    assert price(lotion, web_jp) == Decimal(3465)
    competitor(lotion, web_jp, "1900")  # the day's budget is spent
    assert price(lotion, web_jp) == Decimal(3465)
    changes = PriceChange.objects.filter(variant=lotion, source="automation")
    assert changes.count() == 3
    assert all(change.price >= Decimal(2400) for change in changes)  # 2000 + 20 %
    assert all(change.price >= Decimal(3465) for change in changes)
    assert all(change.reference.startswith("automation run ") for change in changes)
    last = RuleRun.objects.filter(rule__name="Reprice").order_by("-id").first()
    assert last.status == R.SUCCEEDED and "No change" in str(last.steps.get(kind="action").detail)


def test_a_cooldown_refuses_a_second_change(omni, lotion):
    web_jp = omni.yamato.channel
    repricing_rule(floor_margin=20, undercut=10, cooldown_hours=6)
    competitor(lotion, web_jp, "3700")
    competitor(lotion, web_jp, "3600")
    assert price(lotion, web_jp) == Decimal(3690)
    assert PriceChange.objects.filter(variant=lotion, source="automation").count() == 1


def test_a_change_beyond_the_threshold_waits_for_approval_and_changes_nothing_before(omni, lotion):
    web_jp = omni.yamato.channel
    repricing_rule(floor_margin=20, undercut=0, approval_above=3)
    competitor(lotion, web_jp, "3500")  # -9 %: above 3 %
    assert price(lotion, web_jp) == Decimal(3850)
    run = RuleRun.objects.get(rule__name="Reprice")
    assert run.status == R.HELD
    approval = Approval.objects.get(run=run)
    assert approval.status == Approval.Status.PENDING and approval.proposal["new_price"] == "3500"
    assert runs_advance_due(now=timezone.now()) == 0  # held, not due
    assert price(lotion, web_jp) == Decimal(3850)
    approval_decide(approval=approval, approve=True)
    runs_advance_due(now=timezone.now())
    assert price(lotion, web_jp) == Decimal(3500)
    run.refresh_from_db()
    assert run.status == R.SUCCEEDED
    assert (
        PriceChange.objects.get(variant=lotion, source="automation").reference
        == f"automation run {run.pk}"
    )


def test_a_rejected_change_cancels_the_run(omni, lotion):
    web_jp = omni.yamato.channel
    repricing_rule(floor_margin=20, approval_above=3)
    competitor(lotion, web_jp, "3500")
    approval_decide(approval=Approval.objects.get(), approve=False)
    runs_advance_due(now=timezone.now())
    assert price(lotion, web_jp) == Decimal(3850)
    assert RuleRun.objects.get(rule__name="Reprice").status == R.CANCELLED
