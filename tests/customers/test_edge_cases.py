"""Edge cases found in review: debts across a merge, a merged profile's figures, closed
profiles and unusable contact details on a paid order."""

from __future__ import annotations

import pytest

from commerce.models import OutboxEvent
from customers.errors import ProfileClosed
from customers.models import CustomerSpend, PointEntry, Purchase
from customers.segments import rfm_recompute
from customers.services import (
    address_create,
    address_update,
    customer_create,
    customer_erase,
    customer_find_or_create,
    customer_merge,
    points_adjust,
    points_redeem,
    purchase_record,
)
from tests.customers import factories


def test_a_debt_merged_in_is_paid_from_the_survivors_points(programme, alice, bob):
    spent = factories.buy(bob, 20_000)  # 200 points
    points_redeem(bob, points=200)
    factories.refund(spent, 20_000)  # takes the 200 back: bob owes 200
    factories.buy(alice, 50_000)  # 500 points

    customer_merge(survivor=alice, duplicate=bob)

    account = factories.account_of(alice)
    assert account.balance == 300
    left = sum(account.entries.values_list("remaining", flat=True))
    assert left == 300  # not 500: the debt came with bob (the autouse check also holds)


def test_the_merged_profile_keeps_no_purchase_figures(programme, alice, bob):
    factories.buy(bob, 8_000)

    customer_merge(survivor=alice, duplicate=bob)

    bob.refresh_from_db()
    assert (bob.order_count, bob.lifetime_value) == (0, 0)
    assert not CustomerSpend.objects.filter(customer=bob).exists()
    assert CustomerSpend.objects.get(customer=alice).total_spent == 8_000


def test_points_cannot_be_given_to_or_taken_from_an_erased_profile(programme, alice):
    factories.buy(alice, 10_000)
    customer_erase(alice)

    with pytest.raises(ProfileClosed):
        points_adjust(alice, points=50, reason="goodwill")
    with pytest.raises(ProfileClosed):
        points_redeem(alice, points=10)
    assert not PointEntry.objects.filter(kind__in=["adjust", "redeem"]).exists()


def test_a_paid_order_with_only_an_unusable_phone_counts_for_nobody(programme):
    purchase = purchase_record(
        order_id="ord-bad-phone",
        currency="JPY",
        total="5000",
        paid_at="2026-11-01T10:00:00+09:00",
        phone="not a phone",
    )

    assert purchase is None
    assert not Purchase.objects.exists()


def test_a_phone_number_without_country_code_is_read_as_one_of_the_channel_country(web_us, web_jp):
    american = customer_create(email="sam@example.com", phone="(415) 555-0123", channel=web_us)
    japanese = customer_create(email="yui@example.jp", phone="090-1234-5678", channel=web_jp)

    assert american.phone == "+14155550123"
    assert japanese.phone == "+819012345678"
    found, created = customer_find_or_create(phone="415-555-0123", channel=web_us)
    assert (found.pk, created) == (american.pk, False)


def test_japanese_names_are_shown_family_name_first(db):
    hanako = customer_create(first_name="花子", last_name="山田", language="ja")
    sam = customer_create(first_name="Sam", last_name="Smith", language="en")

    assert (hanako.full_name, sam.full_name) == ("山田 花子", "Sam Smith")


def test_erasure_scrubs_names_and_contacts_from_events_and_staff_reasons(programme, alice, bob):
    factories.buy(bob, 5_000)
    points_adjust(bob, points=10, reason="Sorry Bob Baba, parcel was late")
    customer_merge(survivor=alice, duplicate=bob)

    customer_erase(alice)

    ids = [str(alice.pk), str(bob.pk)]
    payloads = OutboxEvent.objects.filter(subject_type="customer", subject_id__in=ids)
    text = " ".join(str(e.payload) for e in payloads)
    assert "alice@example.com" not in text and "bob@example.com" not in text
    assert "Alice" not in text and "Bob" not in text
    assert payloads.filter(type="customer.erased").exists()
    assert not PointEntry.objects.filter(reason__icontains="Bob").exists()
    bob.refresh_from_db()
    assert (bob.email, bob.first_name, bob.erased_at is not None) == ("", "", True)


def test_recompute_takes_closed_profiles_out_of_every_rfm_segment(programme, alice, bob):
    factories.buy(bob, 5_000)
    rfm_recompute()
    customer_merge(survivor=alice, duplicate=bob)

    rfm_recompute()

    bob.refresh_from_db()
    assert (bob.rfm_segment, bob.rfm_recency, bob.churn_risk) == ("prospect", None, False)


def test_changing_only_an_addresss_phone_reads_it_in_the_addresss_country(db):
    person = customer_create(email="sam@example.com")
    address = address_create(person, line1="1 Market St", city="San Francisco", country="US")

    address = address_update(address, phone="(415) 555-0123")

    assert address.phone == "+14155550123"


def test_a_profile_made_by_registering_is_not_announced_as_a_guest(db):
    from customers import events as customer_events
    from customers.services import account_register

    account_register(email="new@example.com", password="Sencha-and-mochi-42")
    guest = customer_create(email="guest@example.com")

    payloads = {
        e.payload["email"]: e.payload["guest"]
        for e in factories.events_of(customer_events.CUSTOMER_CREATED)
    }
    assert payloads == {"new@example.com": False, "guest@example.com": True}
    assert guest.is_guest
