"""Merging two profiles of one person: everything moves, nothing is lost, the ledger adds up."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from knox.models import AuthToken

from commerce.events import dispatch
from customers import events as customer_events
from customers.errors import InvalidCredentials, MergeRefused
from customers.models import (
    Address,
    Consent,
    ConsentChange,
    ConsentSource,
    Customer,
    LoyaltyAccount,
    Medium,
    Merge,
    PointEntry,
    Purchase,
    Segment,
    SegmentMembership,
)
from customers.segments import segment_recompute
from customers.services import (
    account_authenticate,
    account_register,
    address_create,
    consent_set,
    customer_find_by_identifier,
    customer_merge,
    customer_set_tags,
    identifier_add,
    points_redeem,
)
from tests.customers import factories
from tests.customers.factories import (
    account_of,
    buy,
    events_of,
    last_event_id,
    ledger_sum,
    order_id,
    publish_order_paid,
)
from tests.factories import token_owner

PASSWORD = "Uji-matcha-since-1738"


def consent_at(customer, medium, granted, when, source=ConsentSource.STOREFRONT, version="v1"):
    """An answer given at `when` (consent_set stamps "now"; the merge compares the times)."""
    consent = consent_set(
        customer, medium=medium, granted=granted, source=source, text_version=version
    )
    Consent.objects.filter(pk=consent.pk).update(changed_at=when)
    ConsentChange.objects.filter(customer=customer, medium=medium, granted=granted).update(
        occurred_at=when
    )
    return consent


@pytest.fixture
def pair(programme, web_jp):
    """Alice's shop profile (a guest) and the account she opened later with her work e-mail."""
    now = timezone.now()
    survivor = factories.customer(
        email="alice@example.com", first_name="Alice", last_name="Abe", channel=web_jp
    )
    address_create(survivor, line1="1-2-3 Jingumae", city="Shibuya", country="JP")
    consent_at(survivor, Medium.EMAIL, True, now - timedelta(days=30))
    customer_set_tags(survivor, ["vip"])
    buy(survivor, "40000", paid_at=now - timedelta(days=60))  # 400 points

    signed_up = account_register(
        email="alice.work@example.com", password=PASSWORD, phone="09011112222"
    )
    duplicate = signed_up.customer
    address_create(duplicate, line1="4-5-6 Umeda", city="Osaka", country="JP")
    address_create(duplicate, line1="7-8 Namba", city="Osaka", country="JP")
    identifier_add(duplicate, channel=web_jp, kind="marketplace_buyer", value="RAK-991")
    consent_at(duplicate, Medium.EMAIL, True, now - timedelta(days=20), version="v1")
    consent_at(duplicate, Medium.EMAIL, False, now - timedelta(days=2))  # the latest answer
    consent_at(duplicate, Medium.SMS, True, now - timedelta(days=5), version="sms-v2")
    customer_set_tags(duplicate, ["matcha", "vip"])
    buy(duplicate, "15000", paid_at=now - timedelta(days=10))  # 150 points
    buy(duplicate, "5000", paid_at=now - timedelta(days=3))  # 50 points
    points_redeem(duplicate, points=20, reason="Coupon")
    return survivor, duplicate, signed_up.token


def test_merging_moves_everything_to_the_survivor(pair):
    survivor, duplicate, token = pair
    duplicate_user = duplicate.user
    duplicate_history = list(
        ConsentChange.objects.filter(customer=duplicate).values_list("pk", flat=True)
    )
    before = last_event_id()

    merge = customer_merge(survivor=survivor, duplicate=duplicate, actor="staff-1")

    survivor.refresh_from_db()
    duplicate.refresh_from_db()
    # The duplicate is closed and points at the survivor.
    assert (duplicate.state, duplicate.merged_into_id, duplicate.user_id) == (
        Customer.State.MERGED,
        survivor.pk,
        None,
    )
    # Addresses: all three, with the survivor's defaults kept and only one of each.
    assert sorted(survivor.addresses.values_list("line1", flat=True)) == [
        "1-2-3 Jingumae",
        "4-5-6 Umeda",
        "7-8 Namba",
    ]
    assert list(
        survivor.addresses.filter(is_default_shipping=True).values_list("line1", flat=True)
    ) == ["1-2-3 Jingumae"]
    assert list(
        survivor.addresses.filter(is_default_billing=True).values_list("line1", flat=True)
    ) == ["1-2-3 Jingumae"]
    assert not Address.objects.filter(customer=duplicate).exists()
    # Identifiers.
    web_jp = survivor.acquired_channel
    assert (
        customer_find_by_identifier(channel=web_jp, kind="marketplace_buyer", value="RAK-991")
        == survivor
    )
    # Consents: the latest answer per medium stands; the whole history comes along.
    consents = {c.medium: (c.granted, c.text_version) for c in survivor.consents.all()}
    assert consents == {Medium.EMAIL: (False, "v1"), Medium.SMS: (True, "sms-v2")}
    assert not Consent.objects.filter(customer=duplicate).exists()
    assert set(duplicate_history) <= set(survivor.consent_changes.values_list("pk", flat=True))
    assert survivor.consent_changes.count() == 1 + 3
    # Purchases and the statistics derived from them.
    assert Purchase.objects.filter(customer=survivor).count() == 3
    assert not Purchase.objects.filter(customer=duplicate).exists()
    assert survivor.order_count == 3
    assert survivor.lifetime_value == Decimal("60000")
    # Points: one account whose balance is its ledger's sum.
    assert not LoyaltyAccount.objects.filter(customer=duplicate).exists()
    account = account_of(survivor)
    assert account.balance == ledger_sum(account) == 400 + 150 + 50 - 20
    assert account.lifetime_points == 600
    assert account.entries.count() == 4
    assert PointEntry.objects.count() == 4
    # Tags, without duplicates.
    assert sorted(survivor.tags.values_list("name", flat=True)) == ["matcha", "vip"]
    # The login: the survivor had none, so it takes the duplicate's, still signed in.
    assert survivor.user_id == duplicate_user.pk
    assert token_owner(token) == duplicate_user
    signed_in = account_authenticate(email="alice@example.com", password=PASSWORD)
    assert signed_in.customer == survivor
    # Blanks filled from the duplicate, nothing overwritten.
    assert (survivor.email, survivor.first_name, survivor.phone) == (
        "alice@example.com",
        "Alice",
        "+819011112222",
    )
    # The record of it.
    assert merge.snapshot["email"] == "alice.work@example.com"
    assert (merge.moved["addresses"], merge.moved["identifiers"], merge.moved["purchases"]) == (
        2,
        1,
        2,
    )
    assert (merge.moved["points"], merge.moved["login"], merge.actor) == (180, True, "staff-1")
    [merged] = events_of(customer_events.CUSTOMER_MERGED, after_id=before)
    assert merged.payload == {"survivor_id": survivor.pk, "duplicate_id": duplicate.pk}


def test_the_survivor_takes_the_duplicates_default_addresses_when_it_has_none(
    programme, alice, bob
):
    address_create(bob, line1="Shipping street 1", country="JP", is_default_billing=False)
    address_create(bob, line1="Billing street 2", country="JP", is_default_billing=True)

    customer_merge(survivor=alice, duplicate=bob)

    defaults = {
        a.line1: (a.is_default_shipping, a.is_default_billing) for a in alice.addresses.all()
    }
    assert defaults == {"Shipping street 1": (True, False), "Billing street 2": (False, True)}


def test_merging_two_members_combines_the_ledgers_and_re_tiers(programme, alice, bob):
    buy(alice, "30000")  # 300
    buy(bob, "25000")  # 250
    assert account_of(alice).tier == account_of(bob).tier == programme.member
    bob_account_id = account_of(bob).pk
    before = last_event_id()

    merge = customer_merge(survivor=alice, duplicate=bob)

    account = account_of(alice)
    assert account.balance == ledger_sum(account) == 550
    assert account.lifetime_points == 550
    assert account.tier == programme.silver
    assert not LoyaltyAccount.objects.filter(pk=bob_account_id).exists()
    assert merge.moved["points"] == 250
    [change] = events_of(customer_events.LOYALTY_TIER_CHANGED, after_id=before)
    assert (change.payload["from_tier"], change.payload["to_tier"]) == ("Member", "Silver")


def test_when_both_have_a_login_the_duplicates_stops_working(programme):
    kept = account_register(email="kept@example.com", password=PASSWORD)
    other = account_register(email="other@example.com", password=PASSWORD + "x")

    merge = customer_merge(survivor=kept.customer, duplicate=other.customer)

    other_user = get_user_model().objects.get(pk=other.customer.user_id)
    assert other_user.is_active is False
    assert token_owner(other.token) is None
    assert not AuthToken.objects.filter(user=other_user).exists()
    assert token_owner(kept.token) == kept.customer.user
    assert merge.moved["login"] is False
    with pytest.raises(InvalidCredentials):
        account_authenticate(email="other@example.com", password=PASSWORD + "x")
    assert (
        account_authenticate(email="kept@example.com", password=PASSWORD).customer == kept.customer
    )


def test_an_order_of_the_merged_profile_is_credited_to_the_survivor(programme, alice, bob):
    customer_merge(survivor=alice, duplicate=bob)
    order = order_id()

    assert dispatch(publish_order_paid(order, "7000", customer_id=bob.pk).pk) is True

    assert Purchase.objects.get(order_id=order).customer == alice
    assert account_of(alice).balance == 70
    assert not LoyaltyAccount.objects.filter(customer=bob).exists()


def test_the_duplicate_leaves_its_segments(programme, alice, bob):
    segment = Segment.objects.create(name="Everyone", slug="everyone", rule=[])
    assert segment_recompute(segment) == 2

    customer_merge(survivor=alice, duplicate=bob)

    assert list(SegmentMembership.objects.values_list("customer_id", flat=True)) == [alice.pk]
    assert segment_recompute(segment) == 1


def test_a_profile_cannot_be_merged_with_itself_or_twice(programme, alice, bob, db):
    carol = factories.customer()
    with pytest.raises(MergeRefused):
        customer_merge(survivor=alice, duplicate=alice)
    customer_merge(survivor=alice, duplicate=bob)

    with pytest.raises(MergeRefused):
        customer_merge(survivor=carol, duplicate=bob)
    with pytest.raises(MergeRefused):
        customer_merge(survivor=bob, duplicate=carol)

    assert Merge.objects.count() == 1
    carol.refresh_from_db()
    assert carol.state == Customer.State.ACTIVE
