"""Profiles: normalised contact details, one active profile per e-mail, identifiers, addresses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers import events as customer_events
from customers.errors import ProfileClosed, ValidationFailed
from customers.models import Address, Customer, HistoryEntry
from customers.services import (
    account_register,
    address_create,
    address_delete,
    address_update,
    customer_create,
    customer_erase,
    customer_find,
    customer_find_by_identifier,
    customer_find_or_create,
    customer_merge,
    customer_resolve,
    customer_set_tags,
    customer_update,
    identifier_add,
)
from tests.customers import factories
from tests.customers.factories import buy, events_of, run_concurrently

# --- Creating and changing -------------------------------------------------------------------


def test_a_new_profile_has_a_normalised_e_mail_and_an_e164_phone(web_jp):
    customer = customer_create(
        email="  Taro.Suzuki@Example.JP ",
        phone="090-1234-5678",
        first_name="Taro",
        channel=web_jp,
        actor="staff-1",
        tags=["vip", " vip ", ""],
    )

    customer.refresh_from_db()
    assert (customer.email, customer.phone) == ("taro.suzuki@example.jp", "+819012345678")
    assert (customer.language, customer.acquired_channel) == ("ja", web_jp)
    assert customer.is_guest and customer.is_active
    assert list(customer.tags.values_list("name", flat=True)) == ["vip"]
    assert list(customer.history.values_list("kind", "actor")) == [
        (HistoryEntry.Kind.CREATED, "staff-1")
    ]
    [created] = events_of(customer_events.CUSTOMER_CREATED)
    assert created.payload["email"] == "taro.suzuki@example.jp"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("03 1234 5678", "+81312345678"),  # a Japanese landline, no country code
        ("+81 90 1234 5678", "+819012345678"),
        ("+1 (212) 555-0100", "+12125550100"),
        ("", ""),
    ],
)
def test_phone_numbers_are_stored_in_e164(db, typed, expected):
    assert factories.customer(phone=typed).phone == expected


def test_invalid_contact_details_are_refused_by_field(db):
    with pytest.raises(ValidationFailed) as raised:
        customer_create(email="not an address", phone="12")

    assert set(raised.value.errors) == {"email", "phone"}
    assert not Customer.objects.exists()


def test_unknown_fields_are_a_programming_error(db):
    with pytest.raises(TypeError):
        customer_create(email="x@example.com", favourite_colour="red")


def test_an_e_mail_belongs_to_one_active_profile(alice):
    with pytest.raises(ValidationFailed) as raised:
        factories.customer(email=" ALICE@example.com")
    assert set(raised.value.errors) == {"email"}

    bob = factories.customer(email="bob@example.com")
    with pytest.raises(ValidationFailed):
        customer_update(bob, email="Alice@Example.com")
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"
    assert Customer.objects.filter(email="alice@example.com").count() == 1


def test_the_database_backs_the_unique_e_mail_rule(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(email="alice@example.com")
    # Closed profiles do not count; profiles without an e-mail do not either.
    Customer.objects.create(email="alice@example.com", state=Customer.State.ERASED)
    Customer.objects.create(email="")
    Customer.objects.create(email="")


def test_a_merged_or_erased_profiles_e_mail_is_free_again(alice, bob):
    customer_merge(survivor=bob, duplicate=alice)  # bob keeps his own address

    assert factories.customer(email="alice@example.com").pk not in (alice.pk, bob.pk)


def test_changing_a_profile_records_what_changed(alice):
    customer_update(alice, phone="080 9999 0000", first_name="Alice", actor="staff-2")

    alice.refresh_from_db()
    assert alice.phone == "+818099990000"
    update = alice.history.get(kind=HistoryEntry.Kind.UPDATED)
    assert (update.data, update.actor) == ({"fields": ["phone"]}, "staff-2")
    [updated] = events_of(customer_events.CUSTOMER_UPDATED)
    assert updated.payload == {"customer_id": alice.pk, "fields": ["phone"]}
    # Nothing new: nothing recorded.
    customer_update(alice, phone="+818099990000")
    assert alice.history.filter(kind=HistoryEntry.Kind.UPDATED).count() == 1


def test_the_login_follows_a_changed_e_mail(db):
    customer = account_register(email="old@example.com", password="Green-tea-latte-77").customer

    customer_update(customer, email="New@Example.com")

    customer.user.refresh_from_db()
    assert customer.user.email == "new@example.com"


def test_a_closed_profile_cannot_be_changed(alice, bob):
    customer_merge(survivor=alice, duplicate=bob)

    with pytest.raises(ProfileClosed):
        customer_update(bob, first_name="Robert")
    with pytest.raises(ProfileClosed):
        address_create(bob, line1="1 Street", country="JP")


def test_tags_are_replaced_trimmed_and_shared(alice, bob):
    customer_set_tags(alice, ["vip", " wholesale "])
    customer_set_tags(bob, ["vip"])
    customer_set_tags(alice, ["wholesale"])

    assert list(alice.tags.values_list("name", flat=True)) == ["wholesale"]
    assert list(bob.tags.values_list("name", flat=True)) == ["vip"]


# --- Finding ---------------------------------------------------------------------------------


def test_find_by_e_mail_ignores_case_and_closed_profiles(alice, bob):
    assert customer_find(email=" ALICE@EXAMPLE.COM ") == alice
    customer_erase(alice)
    assert customer_find(email="alice@example.com") is None


def test_find_by_phone_prefers_the_most_recent_buyer(programme):
    now = timezone.now()
    old = factories.customer(phone="090-1111-2222")
    recent = factories.customer(phone="+81 90 1111 2222")
    never = factories.customer(phone="09011112222")
    buy(old, "1000", paid_at=now - timedelta(days=100))
    buy(recent, "1000", paid_at=now - timedelta(days=1))

    assert customer_find(phone="090 1111 2222") == recent
    assert never.phone == recent.phone
    assert customer_find(phone="090-0000-0000") is None


def test_find_or_create_finds_by_e_mail_and_fills_blanks_only(alice):
    found, created = customer_find_or_create(
        email="Alice@Example.com", phone="090-5555-6666", first_name="Arisu", last_name="Abe"
    )

    assert (found.pk, created) == (alice.pk, False)
    found.refresh_from_db()
    assert (found.first_name, found.phone) == ("Alice", "+819055556666")


def test_find_or_create_keeps_the_sale_going_with_an_unusable_phone(alice):
    found, created = customer_find_or_create(email="alice@example.com", phone="12")

    assert (found.pk, created) == (alice.pk, False)
    assert found.phone == ""


def test_find_or_create_makes_a_guest_without_an_unusable_phone(db):
    customer, created = customer_find_or_create(email="fresh@example.com", phone="12")

    assert created is True
    assert (customer.email, customer.phone) == ("fresh@example.com", "")


def test_find_or_create_makes_a_guest_when_nobody_matches(web_jp):
    customer, created = customer_find_or_create(
        email="new@example.com", channel=web_jp, first_name="Niina"
    )

    assert created is True
    assert (customer.email, customer.first_name, customer.is_guest) == (
        "new@example.com",
        "Niina",
        True,
    )
    again, created_again = customer_find_or_create(email="NEW@example.com")
    assert (again.pk, created_again) == (customer.pk, False)


def test_find_or_create_needs_an_e_mail_or_a_phone(db):
    with pytest.raises(ValidationFailed):
        customer_find_or_create(first_name="Nobody")


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_with_one_e_mail_make_one_profile():
    """Eight checkouts race for a new e-mail on real connections: the losers find the winner."""
    results = run_concurrently(
        [
            lambda i=i: customer_find_or_create(email="Race@Example.com", first_name=f"Racer{i}")
            for i in range(8)
        ]
    )

    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert len({customer.pk for customer, _created in results}) == 1
    assert [created for _customer, created in results].count(True) == 1
    assert Customer.objects.filter(email="race@example.com").count() == 1


def test_resolve_follows_a_chain_of_merges(alice, bob):
    carol = factories.customer()
    customer_merge(survivor=bob, duplicate=alice)
    customer_merge(survivor=carol, duplicate=bob)

    assert customer_resolve(Customer.objects.get(pk=alice.pk)) == carol
    assert customer_resolve(carol) == carol


# --- External identifiers --------------------------------------------------------------------


def test_an_identifier_finds_its_customer(alice, web_jp, web_us):
    identifier = identifier_add(alice, channel=web_jp, kind="line_user", value=" U123 ")

    assert identifier.value == "U123"
    assert identifier_add(alice, channel=web_jp, kind="line_user", value="U123") == identifier
    assert customer_find_by_identifier(channel=web_jp, kind="line_user", value="U123 ") == alice
    # The same value elsewhere is somebody else's business.
    assert customer_find_by_identifier(channel=web_us, kind="line_user", value="U123") is None
    assert customer_find_by_identifier(channel=web_jp, kind="member_card", value="U123") is None


def test_an_identifier_belongs_to_one_customer(alice, bob, web_jp):
    identifier_add(alice, channel=web_jp, kind="member_card", value="C-1")

    with pytest.raises(ValidationFailed) as raised:
        identifier_add(bob, channel=web_jp, kind="member_card", value="C-1")
    assert str(alice.pk) in raised.value.errors["value"][0]

    with pytest.raises(ValidationFailed):
        identifier_add(bob, channel=web_jp, kind="shoe_size", value="27")
    with pytest.raises(ValidationFailed):
        identifier_add(bob, channel=web_jp, kind="member_card", value="  ")
    assert bob.identifiers.count() == 0


# --- Addresses -------------------------------------------------------------------------------


def defaults(customer) -> tuple[list[str], list[str]]:
    addresses = Address.objects.filter(customer=customer)
    return (
        list(addresses.filter(is_default_shipping=True).values_list("line1", flat=True)),
        list(addresses.filter(is_default_billing=True).values_list("line1", flat=True)),
    )


def test_the_first_address_is_the_default_for_both(alice):
    address = address_create(alice, line1="Home 1", country="jp", phone="03-1234-5678")

    assert (address.country, address.phone) == ("JP", "+81312345678")
    assert defaults(alice) == (["Home 1"], ["Home 1"])

    address_create(alice, line1="Other 2", country="JP")
    assert defaults(alice) == (["Home 1"], ["Home 1"])


def test_a_new_default_takes_over_from_the_old_one(alice):
    home = address_create(alice, line1="Home 1", country="JP")
    office = address_create(alice, line1="Office 2", country="JP", is_default_shipping=True)
    assert defaults(alice) == (["Office 2"], ["Home 1"])

    address_update(home, is_default_shipping=True)
    assert defaults(alice) == (["Home 1"], ["Home 1"])
    address_update(office, is_default_billing=True, city="Minato")
    assert defaults(alice) == (["Home 1"], ["Office 2"])

    address_delete(office)
    assert defaults(alice) == (["Home 1"], [])


def test_a_phone_on_an_address_is_read_in_its_country(alice):
    address = address_create(alice, line1="5th Ave 1", country="US", phone="(212) 555-0100")

    assert address.phone == "+12125550100"


def test_an_address_needs_a_line_and_a_country(alice):
    with pytest.raises(ValidationFailed) as raised:
        address_create(alice, line1=" ", country="Japan")

    assert set(raised.value.errors) == {"line1", "country"}
    home = address_create(alice, line1="Home 1", country="JP")
    with pytest.raises(ValidationFailed):
        address_update(home, line1="")
    home.refresh_from_db()
    assert home.line1 == "Home 1"


def test_the_database_allows_one_default_address_of_each_kind(alice):
    address_create(alice, line1="Home 1", country="JP")

    with pytest.raises(IntegrityError), transaction.atomic():
        Address.objects.create(
            customer=alice, line1="Sneaky 2", country="JP", is_default_billing=True
        )
