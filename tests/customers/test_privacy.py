"""Right of access (export) and right to be forgotten (erase), keeping what accounting keeps."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from knox.models import AuthToken

from automation.messages.services import messages_send_due
from customers import events as customer_events
from customers.errors import InvalidCredentials, ProfileClosed
from customers.models import (
    Address,
    Consent,
    ConsentChange,
    ConsentSource,
    Customer,
    ExternalIdentifier,
    HistoryEntry,
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
    customer_erase,
    customer_export,
    customer_merge,
    customer_set_tags,
    identifier_add,
    password_reset_request,
    points_redeem,
)
from tests.customers import factories
from tests.customers.factories import account_of, buy, events_of, last_event_id

PASSWORD = "Kyoto-in-autumn-2024"
User = get_user_model()


@pytest.fixture
def member(programme, web_jp) -> Customer:
    """A registered customer with everything a profile can hold."""
    customer = account_register(
        email="hanako@example.com",
        password=PASSWORD,
        channel=web_jp,
        first_name="Hanako",
        last_name="Yamada",
        marketing_consent={Medium.EMAIL: True},
        consent_text_version="v7",
    ).customer
    address_create(
        customer,
        first_name="Hanako",
        last_name="Yamada",
        line1="1-1 Marunouchi",
        city="Chiyoda",
        region="Tokyo",
        postal_code="100-0005",
        country="jp",
        phone="03-1234-5678",
    )
    identifier_add(customer, channel=web_jp, kind="member_card", value="CARD-0042")
    customer_set_tags(customer, ["vip"])
    buy(customer, "25000", order="ord-hanako-1", channel=web_jp.code)
    points_redeem(customer, points=50, reason="Coupon")
    segment = Segment.objects.create(name="Everyone", slug="everyone", rule=[])
    segment_recompute(segment)
    customer.refresh_from_db()
    return customer


def test_the_export_holds_everything_about_the_person(member):
    data = customer_export(member)

    json.dumps(data)  # ready to hand over as a file
    profile = data["profile"]
    assert (profile["email"], profile["first_name"], profile["last_name"]) == (
        "hanako@example.com",
        "Hanako",
        "Yamada",
    )
    assert (profile["has_login"], profile["language"], profile["acquired_channel"]) == (
        True,
        "ja",
        "web-jp",
    )
    assert profile["tags"] == ["vip"]
    [address] = data["addresses"]
    assert (address["line1"], address["country"], address["phone"]) == (
        "1-1 Marunouchi",
        "JP",
        "+81312345678",
    )
    assert (address["is_default_shipping"], address["is_default_billing"]) == (True, True)
    assert data["identifiers"] == [
        {"channel": "web-jp", "kind": "member_card", "value": "CARD-0042"}
    ]
    assert [
        (c["medium"], c["granted"], c["source"], c["text_version"]) for c in data["consents"]
    ] == [("email", True, "storefront", "v7")]
    [purchase] = data["purchases"]
    assert (purchase["order_number"], purchase["paid"], purchase["currency"]) == (
        "ord-hanako-1",
        "25000.0000",
        "JPY",
    )
    assert data["statistics"]["order_count"] == 1
    assert data["loyalty"]["balance"] == 200
    assert [(e["kind"], e["points"]) for e in data["loyalty"]["entries"]] == [
        ("earn", 250),
        ("redeem", -50),
    ]
    assert data["segments"] == ["Everyone"]
    assert {h["kind"] for h in data["history"]} >= {"created", "registered", "loyalty"}


def test_erasing_removes_the_person_and_keeps_the_accounts(member):
    user_id = member.user_id
    assert AuthToken.objects.filter(user_id=user_id).count() == 1  # signed in at registration
    entries_before = list(PointEntry.objects.values_list("pk", "points").order_by("pk"))
    before = last_event_id()

    customer_erase(member, actor="dpo", reason="Request #12")

    member.refresh_from_db()
    # Personal fields are gone.
    personal = [getattr(member, name) for name in factories.PERSONAL_FIELDS]
    assert personal == [""] * len(factories.PERSONAL_FIELDS)
    assert (member.state, member.user_id) == (Customer.State.ERASED, None)
    assert member.erased_at is not None
    assert not Address.objects.exists()
    assert not ExternalIdentifier.objects.exists()
    assert not member.tags.exists()
    assert not SegmentMembership.objects.exists()
    # Accounting keeps the purchases and the point ledger.
    purchase = Purchase.objects.get(order_id="ord-hanako-1")
    assert (purchase.customer_id, purchase.total) == (member.pk, Decimal("25000"))
    assert list(PointEntry.objects.values_list("pk", "points").order_by("pk")) == entries_before
    assert account_of(member).balance == 200
    # Consent is withdrawn, and the withdrawal recorded.
    assert not Consent.objects.filter(customer=member, granted=True).exists()
    last = ConsentChange.objects.filter(customer=member).order_by("-id").first()
    assert (last.medium, last.granted, last.source) == (Medium.EMAIL, False, ConsentSource.ERASURE)
    # Only the erasure itself is left in the history.
    assert list(member.history.values_list("kind", "actor", "data")) == [
        (HistoryEntry.Kind.ERASED, "dpo", {"reason": "Request #12"})
    ]
    [erased] = events_of(customer_events.CUSTOMER_ERASED, after_id=before)
    assert erased.payload == {"customer_id": member.pk}
    # The login can no longer sign in, by e-mail or at all, nor reset its password.
    user = User.objects.get(pk=user_id)
    assert (user.is_active, user.email, user.has_usable_password()) == (False, "", False)
    assert "hanako" not in user.username
    assert not AuthToken.objects.filter(user=user).exists()
    with pytest.raises(InvalidCredentials):
        account_authenticate(email="hanako@example.com", password=PASSWORD)


def test_an_erased_profile_cannot_be_erased_again_and_its_e_mail_is_free(member, mailoutbox):
    customer_erase(member)

    with pytest.raises(ProfileClosed):
        customer_erase(member)
    password_reset_request(email="hanako@example.com")
    messages_send_due()  # account mails go through the messages queue
    assert mailoutbox == []
    again = factories.customer(email="hanako@example.com")
    assert again.pk != member.pk


def test_erasing_also_erases_the_profiles_merged_into_it(programme):
    survivor = account_register(email="kept@example.com", password=PASSWORD).customer
    older = factories.customer(email="old@example.com", first_name="Old", phone="090-0000-1111")
    second = account_register(
        email="second@example.com", password=PASSWORD, first_name="Second"
    ).customer
    address_create(older, line1="Old street 1", country="JP")
    customer_merge(survivor=second, duplicate=older)  # a chain: older -> second -> survivor
    customer_merge(survivor=survivor, duplicate=second)
    second_user = User.objects.get(pk=second.user_id)

    customer_erase(survivor)

    for duplicate in (older, second):
        duplicate.refresh_from_db()
        assert duplicate.state == Customer.State.MERGED
        assert (duplicate.email, duplicate.first_name, duplicate.phone) == ("", "", "")
        assert not duplicate.history.exists()
    assert list(Merge.objects.values_list("snapshot", flat=True)) == [{}, {}]
    assert not Address.objects.exists()
    # The login retired by the merge held the person's e-mail too.
    second_user.refresh_from_db()
    assert (second_user.email, second_user.is_active) == ("", False)
    assert "second" not in second_user.username


def test_a_merged_profile_is_erased_through_its_survivor(alice, bob):
    customer_merge(survivor=alice, duplicate=bob)

    with pytest.raises(ProfileClosed):
        customer_erase(bob)
