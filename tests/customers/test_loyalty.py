"""The loyalty ledger: earning, reversing on refunds, redeeming, expiring, adjusting, tiers.

The conftest checks every account against its ledger after each test; the tests here check
the entries themselves, the lots' `remaining` and the events.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers import events as customer_events
from customers.errors import NotEnoughPoints, ValidationFailed
from customers.models import HistoryEntry, PointEntry
from customers.services import loyalty_join, points_adjust, points_expire_due, points_redeem
from tests.customers.factories import account_of, buy, events_of, last_event_id, ledger, refund

Kind = PointEntry.Kind


def lot(purchase) -> PointEntry:
    return PointEntry.objects.get(kind=Kind.EARN, reference=purchase.order_id)


# --- Earning ---------------------------------------------------------------------------------


def test_a_paid_order_enrols_the_buyer_and_earns_1_point_per_100_jpy(programme, alice):
    before = last_event_id()
    paid_at = timezone.now() - timedelta(days=3)

    purchase = buy(alice, "12345", paid_at=paid_at)

    account = account_of(alice)
    assert (account.balance, account.lifetime_points, account.tier) == (123, 123, programme.member)
    earned = lot(purchase)
    assert (earned.points, earned.remaining) == (123, 123)
    assert earned.expires_at == paid_at + timedelta(days=365)
    joined = events_of(customer_events.LOYALTY_JOINED, after_id=before)
    assert [e.payload["customer_id"] for e in joined] == [alice.pk]
    assert joined[0].payload["tier"] == "Member"
    # Joining puts the member in the entry tier: that is not a tier change.
    assert events_of(customer_events.LOYALTY_TIER_CHANGED, after_id=before) == []


def test_usd_earns_1_point_per_dollar_rounded_down(programme, alice):
    buy(alice, "19.99", currency="USD")
    buy(alice, "0.99", currency="USD")  # not a whole dollar: no points, no entry

    assert ledger(alice) == [(Kind.EARN, 19, alice.purchases.order_by("paid_at")[0].order_id)]
    assert account_of(alice).balance == 19


def test_a_currency_without_an_earn_rate_earns_nothing(programme, alice):
    buy(alice, "500", currency="EUR")

    assert ledger(alice) == []


def test_joining_twice_keeps_one_account(programme, alice):
    first, created = loyalty_join(alice)
    again, created_again = loyalty_join(alice)

    assert (created, created_again) == (True, False)
    assert first.pk == again.pk
    assert len(events_of(customer_events.LOYALTY_JOINED)) == 1


def test_tiers_follow_lifetime_points_and_gold_earns_double(programme, alice):
    before = last_event_id()

    buy(alice, "50000")  # 500: Silver
    assert account_of(alice).tier == programme.silver
    buy(alice, "150000")  # 1,500 more: 2,000 lifetime, Gold
    assert account_of(alice).tier == programme.gold
    gold_order = buy(alice, "10000")  # 100 points, doubled at Gold

    assert lot(gold_order).points == 200
    account = account_of(alice)
    assert (account.balance, account.lifetime_points) == (2200, 2200)
    changes = [
        (e.payload["from_tier"], e.payload["to_tier"], e.payload["lifetime_points"])
        for e in events_of(customer_events.LOYALTY_TIER_CHANGED, after_id=before)
    ]
    assert changes == [("Member", "Silver", 500), ("Silver", "Gold", 2000)]
    assert alice.history.filter(
        kind=HistoryEntry.Kind.LOYALTY, message__contains="Silver to Gold"
    ).exists()


# --- Refunds ---------------------------------------------------------------------------------


def test_refunds_reverse_the_refunded_share_from_cumulative_totals(programme, alice):
    purchase = buy(alice, "10000")  # 100 points

    refund(purchase, "2500")
    assert ledger(alice)[1:] == [(Kind.REVERSE, -25, purchase.order_id)]

    refund(purchase, "2500")  # the same refund delivered again: nothing more
    refund(purchase, "1000")  # an older total arriving late: nothing either
    assert len(ledger(alice)) == 2

    refund(purchase, "10000")  # refunded in full: the other 75
    assert ledger(alice)[1:] == [
        (Kind.REVERSE, -25, purchase.order_id),
        (Kind.REVERSE, -75, purchase.order_id),
    ]
    account = account_of(alice)
    assert (account.balance, account.lifetime_points) == (0, 0)
    assert lot(purchase).remaining == 0


def test_partial_refunds_round_so_that_a_full_refund_takes_exactly_what_was_earned(
    programme, alice
):
    purchase = buy(alice, "10050")  # 100 points

    refund(purchase, "3333")  # 33.16 % of 100: 33
    refund(purchase, "6666")  # 66.33 %: 66, so 33 more
    refund(purchase, "10050")

    reversed_points = [points for kind, points, _ref in ledger(alice) if kind == Kind.REVERSE]
    assert reversed_points == [-33, -33, -34]
    assert account_of(alice).balance == 0


def test_refunding_below_a_tier_threshold_drops_the_tier(programme, alice):
    purchase = buy(alice, "50000")
    assert account_of(alice).tier == programme.silver
    before = last_event_id()

    refund(purchase, "1000")  # 10 points back: 490 lifetime

    assert account_of(alice).tier == programme.member
    [change] = events_of(customer_events.LOYALTY_TIER_CHANGED, after_id=before)
    assert (change.payload["from_tier"], change.payload["to_tier"]) == ("Silver", "Member")


def test_a_refund_of_points_already_spent_leaves_a_debt_the_next_earning_pays(programme, alice):
    first = buy(alice, "10000")
    points_redeem(alice, points=100, reason="Coupon")
    refund(first, "10000")
    assert account_of(alice).balance == -100

    second = buy(alice, "30000")  # 300 points, 100 of them pay the debt

    assert account_of(alice).balance == 200
    assert lot(second).remaining == 200
    # When the lot expires, only what the member could still spend goes.
    points_expire_due(now=timezone.now() + timedelta(days=400))
    assert account_of(alice).balance == 0


# --- Redeeming -------------------------------------------------------------------------------


def test_redeeming_spends_the_lots_that_expire_first(programme, alice):
    now = timezone.now()
    recent = buy(alice, "10000", paid_at=now - timedelta(days=10))
    old = buy(alice, "5000", paid_at=now - timedelta(days=300))
    middle = buy(alice, "20000", paid_at=now - timedelta(days=100))

    entry = points_redeem(alice, points=80, reference="cart-1", reason="Discount")

    assert (entry.kind, entry.points, entry.reference) == (Kind.REDEEM, -80, "cart-1")
    assert [lot(p).remaining for p in (old, middle, recent)] == [0, 170, 100]
    account = account_of(alice)
    assert (account.balance, account.lifetime_points) == (270, 350)  # spending keeps the tier


def test_redeeming_more_than_the_balance_is_refused_and_writes_nothing(programme, alice):
    buy(alice, "10000")

    with pytest.raises(NotEnoughPoints):
        points_redeem(alice, points=101)
    with pytest.raises(ValidationFailed) as raised:
        points_redeem(alice, points=0)

    assert "points" in raised.value.errors
    assert [kind for kind, _p, _r in ledger(alice)] == [Kind.EARN]
    assert account_of(alice).balance == 100


def test_a_customer_without_an_account_cannot_redeem(programme, alice):
    with pytest.raises(NotEnoughPoints):
        points_redeem(alice, points=1)


# --- Expiry ----------------------------------------------------------------------------------


def test_expiry_takes_what_is_left_of_lots_past_their_date(programme, alice, bob):
    now = timezone.now()
    expired = buy(alice, "10000", paid_at=now - timedelta(days=400))
    fresh = buy(alice, "5000", paid_at=now - timedelta(days=5))
    buy(bob, "3000", paid_at=now - timedelta(days=10))
    points_adjust(alice, points=-30, reason="correction")  # from the older lot: 70 left of it

    assert points_expire_due(now=now) == 1

    assert ledger(alice)[-1] == (Kind.EXPIRE, -70, expired.order_id)
    assert (lot(expired).remaining, lot(fresh).remaining) == (0, 50)
    account = account_of(alice)
    assert (account.balance, account.lifetime_points) == (50, 120)  # expiry keeps the tier
    assert account_of(bob).balance == 30
    assert points_expire_due(now=now) == 0  # a second run finds nothing left to expire
    assert len(ledger(alice)) == 4


def test_points_past_their_date_cannot_be_redeemed_before_the_nightly_run(programme, alice):
    now = timezone.now()
    expired = buy(alice, "10000", paid_at=now - timedelta(days=400))
    fresh = buy(alice, "5000", paid_at=now - timedelta(days=5))

    with pytest.raises(NotEnoughPoints):
        points_redeem(alice, points=60)  # 150 on the books, but only 50 still valid
    points_redeem(alice, points=50)

    assert (lot(expired).remaining, lot(fresh).remaining) == (0, 0)
    assert [kind for kind, _points, _ref in ledger(alice)][-2:] == [Kind.EXPIRE, Kind.REDEEM]
    assert account_of(alice).balance == 0


def test_a_refund_after_expiry_does_not_take_the_expired_points_again(programme, alice):
    now = timezone.now()
    purchase = buy(alice, "10000", paid_at=now - timedelta(days=400))  # 100 points
    points_adjust(alice, points=-50, reason="spent at the till")
    points_expire_due(now=now)  # the other 50 expire

    refund(purchase, "10000")

    # 50 were spent and must be paid back; the 50 that expired are not taken twice.
    assert account_of(alice).balance == -50
    assert ledger(alice)[-1] == (Kind.REVERSE, -50, purchase.order_id)


def test_points_never_expire_when_the_programme_says_so(programme, alice):
    programme.programme.points_expire_after_days = None
    programme.programme.save()
    purchase = buy(alice, "10000", paid_at=timezone.now() - timedelta(days=4000))

    assert lot(purchase).expires_at is None
    assert points_expire_due() == 0
    assert account_of(alice).balance == 100


# --- Adjusting -------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_adjustment_needs_a_reason(programme, alice, reason):
    buy(alice, "10000")

    with pytest.raises(ValidationFailed) as raised:
        points_adjust(alice, points=50, reason=reason, actor="staff-1")

    assert set(raised.value.errors) == {"reason"}
    assert len(ledger(alice)) == 1


def test_an_adjustment_with_a_reason_is_recorded_with_who_and_why(programme, alice):
    buy(alice, "10000")

    points_adjust(alice, points=50, reason="  Late delivery  ", actor="staff-1")
    points_adjust(alice, points=-30, reason="Duplicate goodwill", actor="staff-2")

    entries = list(
        PointEntry.objects.filter(kind=Kind.ADJUST)
        .order_by("id")
        .values_list("points", "reason", "actor")
    )
    assert entries == [(50, "Late delivery", "staff-1"), (-30, "Duplicate goodwill", "staff-2")]
    account = account_of(alice)
    assert (account.balance, account.lifetime_points) == (120, 120)
    assert alice.history.filter(message__contains="Late delivery", actor="staff-1").exists()


def test_an_adjustment_cannot_take_the_balance_below_zero(programme, alice):
    buy(alice, "10000")

    with pytest.raises(NotEnoughPoints):
        points_adjust(alice, points=-101, reason="Correction")

    assert account_of(alice).balance == 100


def test_an_adjustment_enrols_a_customer_who_is_not_a_member_yet(programme, alice):
    points_adjust(alice, points=500, reason="Welcome gift")

    account = account_of(alice)
    assert (account.balance, account.tier) == (500, programme.silver)
