"""RFM scores and named segments, and merchant segments by rule, on crafted populations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.errors import ValidationFailed
from customers.models import ConsentSource, Customer, Medium, Segment, SegmentMembership
from customers.segments import (
    rfm_recompute,
    rule_compile,
    segment_preview,
    segment_queryset,
    segment_recompute,
    segments_recompute_all,
)
from customers.services import (
    account_register,
    consent_set,
    customer_erase,
    customer_merge,
    customer_set_tags,
)
from tests.customers import factories
from tests.customers.factories import buy, refund

Band = Customer.RfmSegment


def bought(total: str, *days_ago: int, currency: str = "JPY", **fields) -> Customer:
    """A customer with one order of `total` per entry in `days_ago`."""
    customer = factories.customer(**fields)
    now = timezone.now()
    for days in days_ago:
        buy(customer, total, currency=currency, paid_at=now - timedelta(days=days))
    customer.refresh_from_db()
    return customer


def scores(customer: Customer) -> tuple:
    customer.refresh_from_db()
    return (
        customer.rfm_recency,
        customer.rfm_frequency,
        customer.rfm_monetary,
        customer.rfm_segment,
        customer.churn_risk,
    )


# --- RFM -------------------------------------------------------------------------------------


def test_rfm_scores_and_names_a_crafted_population(programme):
    lost = bought("1000", 400)
    at_risk = bought("2500", 210, 300)  # 5,000 in two orders, quiet for 210 days
    loyal = bought("2666", 100, 130, 160)  # ~8,000 in three orders
    champion = bought("10000", *range(2, 30, 3))  # 10 orders, 100,000, bought 2 days ago
    new = bought("3000", 1)
    prospect = factories.customer()
    # Left over from an earlier run: a profile without purchases must be reset to prospect.
    Customer.objects.filter(pk=prospect.pk).update(
        rfm_recency=1, rfm_frequency=1, rfm_monetary=1, rfm_segment=Band.LOST, churn_risk=True
    )
    gone = bought("999999", 1)  # closed profiles are not scored, nor ranked against
    customer_erase(gone)

    result = rfm_recompute()

    assert (result.scored, result.prospects) == (5, 1)
    # r by last order, f by order count (ties share the lower band), m by lifetime value.
    assert scores(lost) == (1, 1, 1, Band.LOST, True)
    assert scores(at_risk) == (2, 3, 3, Band.AT_RISK, True)  # 210 days: over 2 x 90
    assert scores(loyal) == (3, 4, 4, Band.LOYAL, True)  # 100 days: over 2 x 30
    assert scores(champion) == (4, 5, 5, Band.CHAMPIONS, False)
    assert scores(new) == (5, 1, 2, Band.NEW, False)
    assert scores(prospect) == (None, None, None, Band.PROSPECT, False)
    gone.refresh_from_db()
    assert gone.rfm_segment == Band.PROSPECT and gone.scores_computed_at is None


def test_monetary_value_is_ranked_within_each_currency(programme):
    small_yen = bought("1000", 10)
    big_yen = bought("50000", 10)
    dollars = bought("10", 10, currency="USD")

    rfm_recompute()

    monetary = {c: scores(c)[2] for c in (small_yen, big_yen, dollars)}
    assert monetary == {small_yen: 1, big_yen: 5, dollars: 1}


def test_churn_risk_is_set_from_churn_risk_from(programme):
    weekly = bought("3000", 10, 17, 24, 31)  # every 7 days: risk 30 days (the floor) after
    once = bought("3000", 20)  # one order: risk 180 days after
    now = timezone.now()

    rfm_recompute(now=now)
    assert (scores(weekly)[4], scores(once)[4]) == (False, False)

    rfm_recompute(now=now + timedelta(days=21))  # weekly's last order was 31 days ago
    assert (scores(weekly)[4], scores(once)[4]) == (True, False)

    rfm_recompute(now=once.churn_risk_from)
    assert scores(once)[4] is True


# --- Rules -----------------------------------------------------------------------------------


def test_rule_errors_name_the_condition(db):
    rule = [
        {"field": "spent", "currency": "JPY", "op": "gt", "value": 1000},
        {"field": "shoe_size", "value": 27},
        {"field": "orders", "op": "between", "value": 1},
        {"field": "consent", "medium": "pigeon"},
        {"field": "spent", "currency": "JPY", "value": "lots"},
        {"field": "rfm_segment", "in": ["champions", "heroes"]},
        {"field": "spent", "currency": "JPY", "value": 1, "days": -5},
    ]

    with pytest.raises(ValidationFailed) as raised:
        rule_compile(rule)

    messages = raised.value.errors["rule"]
    assert [m.split(":")[0] for m in messages] == [
        "Condition 2",
        "Condition 3",
        "Condition 4",
        "Condition 5",
        "Condition 6",
        "Condition 7",
    ]
    assert "heroes" in messages[4]
    with pytest.raises(ValidationFailed) as not_a_list:
        rule_compile({"field": "orders"})
    assert set(not_a_list.value.errors) == {"rule"}


def test_big_recent_spenders_opted_in_to_e_mail(programme):
    """The issue's example: spent over 50,000 JPY in the last 180 days and opted in to e-mail."""
    rule = [
        {"field": "spent", "currency": "JPY", "days": 180, "op": "gt", "value": 50000},
        {"field": "consent", "medium": "email"},
    ]
    yes = [
        bought("60000", 30),
        bought("30000", 10, 170),  # two orders that add up inside the window
    ]
    no = [
        bought("100000", 200),  # big, but too long ago
        bought("50000", 5),  # not over
        bought("600", 5, currency="USD"),  # dollars are not yen
        bought("80000", 5),  # never opted in
        bought("80000", 5),  # opts out below
    ]
    refunded = bought("60000", 5)  # 20,000 refunded: 40,000 net
    refund(refunded.purchases.get(), "20000")
    no.append(refunded)
    old_and_new = bought("100000", 200)
    buy(old_and_new, "10000", paid_at=timezone.now() - timedelta(days=3))
    no.append(old_and_new)
    for customer in [*yes, *no[:3], no[4], *no[5:]]:
        consent_set(customer, medium=Medium.EMAIL, granted=True, source=ConsentSource.CHECKOUT)
    consent_set(no[4], medium=Medium.EMAIL, granted=False, source=ConsentSource.STOREFRONT)
    segment = Segment.objects.create(name="Big spenders", slug="big-spenders", rule=rule)

    assert segment_recompute(segment) == 2

    assert set(segment.members.all()) == set(yes)
    segment.refresh_from_db()
    assert segment.member_count == 2
    assert segment.computed_at is not None
    count, sample = segment_preview(rule)
    assert (count, set(sample)) == (2, set(yes))


def test_recomputing_adds_and_removes_members(programme):
    regular = bought("1000", 10, 20)
    once = bought("1000", 10)
    segment = Segment.objects.create(
        name="Repeat buyers", slug="repeat", rule=[{"field": "orders", "op": "gte", "value": 2}]
    )
    assert segment_recompute(segment) == 1
    since = SegmentMembership.objects.get(segment=segment, customer=regular).since

    buy(once, "1000")
    assert segment_recompute(segment) == 2
    # A member who stays keeps the date they joined.
    assert SegmentMembership.objects.get(segment=segment, customer=regular).since == since

    customer_merge(survivor=factories.customer(), duplicate=regular)  # 2 orders move along
    segment.rule = [{"field": "orders", "op": "gte", "value": 2}, {"field": "tag", "in": ["vip"]}]
    segment.save()
    customer_set_tags(once, ["vip", "gold"])
    assert segment_recompute(segment) == 1
    assert list(segment.members.all()) == [once]
    segment.refresh_from_db()
    assert segment.member_count == 1

    customer_set_tags(once, [])
    assert segment_recompute(segment) == 0
    assert not SegmentMembership.objects.filter(segment=segment).exists()


def test_a_tag_rule_counts_a_customer_with_several_matching_tags_once(alice):
    customer_set_tags(alice, ["vip", "wholesale"])

    members = segment_queryset([{"field": "tag", "in": ["vip", "wholesale"]}])

    assert list(members) == [alice]


def test_recency_account_tier_and_churn_conditions(programme):
    quiet = bought("100000", 120)  # Silver (1,000 points)
    recent = bought("1000", 5)
    member = account_register(email="member@example.com", password="Hojicha-roasted-9").customer
    buy(member, "2000", paid_at=timezone.now() - timedelta(days=100))
    rfm_recompute(now=timezone.now() + timedelta(days=200))  # everyone is at risk by then

    def matching(*conditions) -> set[Customer]:
        return set(segment_queryset(list(conditions)))

    assert matching({"field": "days_since_last_order", "op": "gt", "value": 90}) == {quiet, member}
    assert matching({"field": "days_since_last_order", "op": "lte", "value": 90}) == {recent}
    assert matching({"field": "tier", "in": ["Silver"]}) == {quiet}
    assert matching({"field": "has_account", "value": True}) == {member}
    assert matching({"field": "has_account", "value": False}) == {quiet, recent}
    assert matching({"field": "churn_risk", "value": True}) == {quiet, recent, member}
    assert matching({"field": "rfm_segment", "in": ["prospect"]}) == set()


def test_every_active_segment_is_recomputed(alice, bob):
    customer_set_tags(alice, ["vip"])
    Segment.objects.create(name="VIP", slug="vip", rule=[{"field": "tag", "in": ["vip"]}])
    Segment.objects.create(name="All", slug="all", rule=[])
    Segment.objects.create(name="Off", slug="off", rule=[], is_active=False)

    assert segments_recompute_all() == {"vip": 1, "all": 2}
    assert Segment.objects.get(slug="off").member_count == 0
