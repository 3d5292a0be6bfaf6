"""Staff customer and segment endpoints through HTTP: search and filters, create and change,
find-or-create, merge, erase, points, identifiers, history, segments and their preview."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import services
from customers.models import (
    Address,
    ConsentSource,
    Customer,
    ExternalIdentifier,
    HistoryEntry,
    Merge,
    PointEntry,
    Segment,
)
from customers.segments import rfm_recompute, segment_recompute
from tests.customers_api.conftest import PROBLEM, address, customers_permissions, register

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/staff/customers/"


@pytest.fixture
def staff(staff_client):
    """A customer-service lead: every permission of the customers app."""
    return staff_client(customers_permissions(), username="lead")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [c["id"] for c in response.json()["results"]]


# --- Search and filters ----------------------------------------------------------------------


@dataclass
class Crowd:
    hanako: Customer  # ヤマダ ハナコ, 090-1234-5678, e-mail opt-in, Silver, tags vip + gift
    taro: Customer  # スズキ タロウ, bought once (RFM "lost"), opted out again, Member, tag gift
    kenji: Customer  # a guest nobody touched


@pytest.fixture
def crowd(programme, web_jp) -> Crowd:
    hanako = services.customer_create(
        email="hanako@example.com",
        first_name="Hanako",
        last_name="Yamada",
        first_name_reading="ハナコ",
        last_name_reading="ヤマダ",
        phone="09012345678",
    )
    taro = services.customer_create(
        email="taro@example.com",
        first_name="Taro",
        last_name="Suzuki",
        first_name_reading="タロウ",
        last_name_reading="スズキ",
        phone="080-9999-0000",
    )
    kenji = services.customer_create(email="kenji@example.org", first_name="Kenji")
    services.consent_set(hanako, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    services.consent_set(taro, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    services.consent_set(taro, medium="email", granted=False, source=ConsentSource.STOREFRONT)
    services.points_adjust(hanako, points=600, reason="Migrated from the old programme")
    services.purchase_record(
        order_id="ord-1",
        currency="JPY",
        total="3000",
        paid_at="2025-03-01T12:00:00+09:00",
        customer_id=taro.pk,
    )
    rfm_recompute()
    services.customer_set_tags(hanako, ["vip", "gift"])
    services.customer_set_tags(taro, ["gift"])
    services.identifier_add(taro, channel=web_jp, kind="member_card", value="M-0042")
    segment = Segment.objects.create(name="VIP", slug="vip", rule=[{"field": "tag", "in": ["vip"]}])
    segment_recompute(segment)
    return Crowd(hanako, taro, kenji)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["kenji", "taro", "hanako"]),
        ({"q": "ヤマダ"}, ["hanako"]),
        ({"q": "ハナコ ヤマダ"}, ["hanako"]),
        ({"q": "タロウ"}, ["taro"]),
        ({"q": "090-1234-5678"}, ["hanako"]),
        ({"q": "+81 90 1234 5678"}, ["hanako"]),
        ({"q": "Hanako@Example.com"}, ["hanako"]),
        ({"q": "example.com"}, ["taro", "hanako"]),
        ({"q": "M-0042"}, ["taro"]),
        ({"q": "nobody"}, []),
        ({"rfm_segment": "lost"}, ["taro"]),
        ({"rfm_segment": "prospect"}, ["kenji", "hanako"]),
        ({"opted_in": "email"}, ["hanako"]),
        ({"opted_in": "sms"}, []),
        ({"tier": "Silver"}, ["hanako"]),
        ({"tier": "Member"}, ["taro"]),
        ({"segment": "vip"}, ["hanako"]),
        ({"tag": "gift"}, ["taro", "hanako"]),
        ({"tag": "gift", "q": "スズキ"}, ["taro"]),
        ({"has_account": "false"}, ["kenji", "taro", "hanako"]),
    ],
    ids=str,
)
def test_staff_customer_list_filters(staff, crowd, params, expected):
    response = staff.get(CUSTOMERS, params)

    assert ids(response) == [getattr(crowd, name).pk for name in expected]
    assert response.json()["count"] == len(expected)


def test_the_rfm_rows_of_the_filter_table_rest_on_one_buyer_among_prospects(crowd):
    segments = dict(Customer.objects.values_list("first_name", "rfm_segment"))

    assert segments == {"Hanako": "prospect", "Taro": "lost", "Kenji": "prospect"}


def test_staff_customer_list_rejects_an_unknown_medium(staff, crowd):
    response = staff.get(CUSTOMERS, {"opted_in": "fax"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["opted_in"]


def test_staff_customer_detail_shows_statistics_loyalty_and_identifiers(staff, crowd):
    response = staff.get(f"{CUSTOMERS}{crowd.taro.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["email"], body["phone"], body["order_count"], body["lifetime_value"]) == (
        "taro@example.com",
        "+818099990000",
        1,
        "3000.0000",
    )
    assert body["loyalty"] == {"balance": 30, "lifetime_points": 30, "tier": "Member"}
    assert body["identifiers"] == [
        {
            "channel": "web-jp",
            "kind": "member_card",
            "value": "M-0042",
            "created_at": body["identifiers"][0]["created_at"],
        }
    ]
    assert (body["tags"], body["segments"], body["rfm_segment"]) == (["gift"], [], "lost")


def test_staff_customer_detail_of_an_unknown_id_is_404(staff, db):
    response = staff.get(f"{CUSTOMERS}999999/")

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def _decorate(customers: list[Customer], channel) -> None:
    """Everything the list shows per customer: tags, identifiers, loyalty, segments."""
    for customer in customers:
        services.customer_set_tags(customer, ["vip", f"t{customer.pk}"])
        services.identifier_add(
            customer, channel=channel, kind="member_card", value=f"M{customer.pk}"
        )
        services.points_adjust(customer, points=customer.pk, reason="Welcome")


def test_the_customer_list_costs_the_same_queries_for_5_and_25_customers(staff, programme, web_jp):
    segment = Segment.objects.create(name="VIP", slug="vip", rule=[{"field": "tag", "in": ["vip"]}])
    first = [services.customer_create(email=f"c{n}@example.com", channel=web_jp) for n in range(5)]
    _decorate(first, web_jp)
    segment_recompute(segment)
    with CaptureQueriesContext(connection) as five:
        response = staff.get(CUSTOMERS, {"page_size": 25})
    assert len(ids(response)) == 5
    assert all(
        c["segments"] == ["vip"] and c["loyalty"] and c["identifiers"]
        for c in response.json()["results"]
    )

    more = [services.customer_create(email=f"d{n}@example.com", channel=web_jp) for n in range(20)]
    _decorate(more, web_jp)
    segment_recompute(segment)
    with CaptureQueriesContext(connection) as twenty_five:
        response = staff.get(CUSTOMERS, {"page_size": 25})
    assert len(ids(response)) == 25

    assert len(twenty_five.captured_queries) == len(five.captured_queries), "\n".join(
        q["sql"] for q in twenty_five.captured_queries
    )


# --- Create, change, find-or-create ----------------------------------------------------------


def test_staff_create_normalises_and_records_who(staff, web_jp):
    response = staff.post(
        CUSTOMERS,
        {
            "email": " Yuki@Example.JP ",
            "first_name": "Yuki",
            "phone": "03-1234-5678",
            "notes": "Phone order",
            "tags": ["phone-order", "phone-order", " wholesale "],
            "channel": "web-jp",
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert (
        body["email"],
        body["phone"],
        body["acquired_channel"],
        body["tags"],
        body["has_account"],
    ) == (
        "yuki@example.jp",
        "+81312345678",
        "web-jp",
        ["phone-order", "wholesale"],
        False,
    )
    history = staff.get(f"{CUSTOMERS}{body['id']}/history/").json()
    assert [(e["kind"], e["actor"]) for e in history] == [("created", "lead")]


def test_staff_create_with_a_taken_email_is_400_naming_email(staff, alice):
    response = staff.post(CUSTOMERS, {"email": "ALICE@example.com"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["email"]
    assert Customer.objects.count() == 1


def test_staff_patch_changes_fields_and_tags_and_writes_history(staff, alice):
    response = staff.patch(
        f"{CUSTOMERS}{alice.customer.pk}/",
        {"last_name_reading": "アベ", "tags": ["vip"]},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["last_name_reading"], response.json()["tags"]) == ("アベ", ["vip"])
    entry = HistoryEntry.objects.filter(customer=alice.customer, kind="updated").get()
    assert (entry.data, entry.actor) == ({"fields": ["last_name_reading"]}, "lead")


def test_staff_patch_of_an_erased_profile_is_409(staff, alice):
    services.customer_erase(alice.customer)

    response = staff.patch(f"{CUSTOMERS}{alice.customer.pk}/", {"first_name": "A"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "profile_closed"


def test_find_or_create_finds_by_email_and_fills_a_blank_phone(staff, alice):
    response = staff.post(
        f"{CUSTOMERS}find-or-create/",
        {"email": "Alice@Example.com", "phone": "090-5555-6666", "first_name": "Someone else"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["created"] is False
    assert (body["customer"]["id"], body["customer"]["phone"], body["customer"]["first_name"]) == (
        alice.customer.pk,
        "+819055556666",
        "Alice",
    )


def test_find_or_create_by_phone_creates_a_guest_then_finds_it(staff, db):
    first = staff.post(
        f"{CUSTOMERS}find-or-create/",
        {"phone": "090-7777-8888", "first_name": "Caller"},
        format="json",
    )
    second = staff.post(f"{CUSTOMERS}find-or-create/", {"phone": "+819077778888"}, format="json")

    assert first.status_code == 201
    assert first.json()["created"] is True
    assert (first.json()["customer"]["phone"], first.json()["customer"]["first_name"]) == (
        "+819077778888",
        "Caller",
    )
    assert second.status_code == 200
    assert (second.json()["created"], second.json()["customer"]["id"]) == (
        False,
        first.json()["customer"]["id"],
    )


def test_find_or_create_without_email_or_phone_is_400(staff, db):
    response = staff.post(f"{CUSTOMERS}find-or-create/", {"first_name": "Nobody"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["email"]
    assert not Customer.objects.exists()


# --- Merge -----------------------------------------------------------------------------------


def test_merge_moves_addresses_identifiers_and_points_and_returns_the_survivor(
    staff, programme, web_jp, alice
):
    home = address(alice.customer, line1="Alice home")
    carol = services.customer_create(first_name="Alice", phone="080-1111-2222")
    carol_home = address(carol, line1="Carol home")
    carol_office = address(carol, line1="Carol office")
    services.identifier_add(carol, channel=web_jp, kind="member_card", value="M-7")
    services.points_adjust(carol, points=40, reason="Welcome")

    response = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/merge/", {"duplicate": carol.pk}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["state"], body["phone"]) == (
        alice.customer.pk,
        "active",
        "+818011112222",
    )
    assert [i["value"] for i in body["identifiers"]] == ["M-7"]
    assert body["loyalty"]["balance"] == 40
    assert list(
        Address.objects.filter(customer=alice.customer)
        .order_by("pk")
        .values_list("pk", "is_default_shipping")
    ) == [(home.pk, True), (carol_home.pk, False), (carol_office.pk, False)]
    carol.refresh_from_db()
    assert (carol.state, carol.merged_into_id) == ("merged", alice.customer.pk)
    assert Merge.objects.get().actor == "lead"
    # Alice sees the moved addresses in her own address book.
    assert [a["line1"] for a in alice.api.get("/api/v1/customers/me/addresses/").json()] == [
        "Alice home",
        "Carol home",
        "Carol office",
    ]


def test_merging_a_profile_into_itself_is_409(staff, alice):
    response = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/merge/", {"duplicate": alice.customer.pk}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "merge_refused"
    assert alice.reload().state == "active"


def test_merging_an_already_merged_profile_is_409(staff, alice, bob):
    carol = services.customer_create(email="carol@example.com")
    services.customer_merge(survivor=bob.customer, duplicate=carol)

    response = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/merge/", {"duplicate": carol.pk}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "merge_refused"
    assert Customer.objects.get(pk=carol.pk).merged_into_id == bob.customer.pk


def test_merging_an_unknown_duplicate_is_400_naming_duplicate(staff, alice):
    response = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/merge/", {"duplicate": 999999}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["duplicate"]


# --- Erase -----------------------------------------------------------------------------------


def test_erase_anonymises_the_customer_and_ends_their_login(staff, programme, web_jp, alice):
    address(alice.customer)
    services.customer_update(alice.customer, phone="090-1234-5678", notes="Allergic to nuts")
    services.customer_set_tags(alice.customer, ["vip"])
    services.identifier_add(alice.customer, channel=web_jp, kind="line_user", value="U123")
    services.consent_set(
        alice.customer, medium="email", granted=True, source=ConsentSource.STOREFRONT
    )
    services.points_adjust(alice.customer, points=25, reason="Welcome")

    response = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/erase/", {"reason": "Asked to be forgotten"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert {
        key: body[key]
        for key in (
            "state",
            "email",
            "first_name",
            "last_name",
            "phone",
            "notes",
            "tags",
            "identifiers",
            "has_account",
        )
    } == {
        "state": "erased",
        "email": "",
        "first_name": "",
        "last_name": "",
        "phone": "",
        "notes": "",
        "tags": [],
        "identifiers": [],
        "has_account": False,
    }
    assert body["loyalty"]["balance"] == 25  # the ledger stays for accounting
    assert not Address.objects.filter(customer=alice.customer).exists()
    assert alice.api.get("/api/v1/customers/me/").status_code == 401
    history = staff.get(f"{CUSTOMERS}{alice.customer.pk}/history/").json()
    assert [(e["kind"], e["data"], e["actor"]) for e in history] == [
        ("erased", {"reason": "Asked to be forgotten"}, "lead")
    ]
    export = staff.get(f"{CUSTOMERS}{alice.customer.pk}/export/").json()
    assert (export["profile"]["email"], export["addresses"], export["identifiers"]) == ("", [], [])


def test_erasing_twice_is_409(staff, alice):
    staff.post(f"{CUSTOMERS}{alice.customer.pk}/erase/", {}, format="json")

    response = staff.post(f"{CUSTOMERS}{alice.customer.pk}/erase/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "profile_closed"


# --- Points and identifiers ------------------------------------------------------------------


@pytest.mark.parametrize("data", [{"points": 100}, {"points": 100, "reason": ""}])
def test_points_adjust_without_a_reason_is_400_naming_reason(staff, programme, alice, data):
    response = staff.post(f"{CUSTOMERS}{alice.customer.pk}/points/", data, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert list(response.json()["errors"]) == ["reason"]
    assert not PointEntry.objects.exists()


def test_points_adjust_of_zero_is_400_naming_points(staff, programme, alice):
    response = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/points/", {"points": 0, "reason": "Nothing"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["points"]


def test_points_adjust_records_the_entry_and_who(staff, programme, alice):
    added = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/points/",
        {"points": 700, "reason": "Late delivery"},
        format="json",
    )
    taken = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/points/",
        {"points": -200, "reason": "Correction"},
        format="json",
    )

    assert (added.status_code, taken.status_code) == (201, 201)
    assert (added.json()["kind"], added.json()["points"], added.json()["reason"]) == (
        "adjust",
        700,
        "Late delivery",
    )
    entries = staff.get(f"{CUSTOMERS}{alice.customer.pk}/points/entries/").json()
    assert [(e["points"], e["reason"]) for e in entries["results"]] == [
        (-200, "Correction"),
        (700, "Late delivery"),
    ]
    assert set(PointEntry.objects.values_list("actor", flat=True)) == {"lead"}
    detail = staff.get(f"{CUSTOMERS}{alice.customer.pk}/").json()
    assert detail["loyalty"] == {"balance": 500, "lifetime_points": 500, "tier": "Silver"}
    # The customer sees the same on the storefront.
    assert alice.api.get("/api/v1/customers/me/loyalty/").json()["balance"] == 500


def test_points_adjust_below_zero_is_409(staff, programme, alice):
    services.points_adjust(alice.customer, points=10, reason="Welcome")

    response = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/points/", {"points": -11, "reason": "Oops"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "not_enough_points"
    assert alice.reload().loyalty.balance == 10


def test_an_identifier_of_another_customer_is_400_naming_value(staff, web_jp, alice, bob):
    services.identifier_add(bob.customer, channel=web_jp, kind="member_card", value="M-1")

    response = staff.post(
        f"{CUSTOMERS}{alice.customer.pk}/identifiers/",
        {"channel": "web-jp", "kind": "member_card", "value": "M-1"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["value"]
    assert list(ExternalIdentifier.objects.values_list("customer_id", flat=True)) == [
        bob.customer.pk
    ]


# --- Segments --------------------------------------------------------------------------------

SEGMENTS = "/api/v1/staff/segments/"


def test_segment_create_with_a_bad_rule_is_400_naming_the_condition(staff, db):
    response = staff.post(
        SEGMENTS,
        {
            "name": "Broken",
            "slug": "broken",
            "rule": [
                {"field": "orders", "op": "gte", "value": 1},
                {"field": "favourite_colour", "in": ["red"]},
                {"field": "spent", "currency": "JPY", "op": "about", "value": 5000},
            ],
        },
        format="json",
    )

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    errors = response.json()["errors"]
    assert list(errors) == ["rule"]
    assert [message.split(":")[0] for message in errors["rule"]] == ["Condition 2", "Condition 3"]
    assert not Segment.objects.exists()


def test_segment_create_with_a_rule_that_is_not_a_list_is_400(staff, db):
    response = staff.post(
        SEGMENTS, {"name": "Broken", "slug": "broken", "rule": {"field": "orders"}}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["rule"]
    assert not Segment.objects.exists()


def test_segment_create_computes_its_members_and_patch_recomputes(staff, crowd):
    created = staff.post(
        SEGMENTS,
        {"name": "Gift buyers", "slug": "gift", "rule": [{"field": "tag", "in": ["gift"]}]},
        format="json",
    )

    assert created.status_code == 201
    assert (created.json()["member_count"], created.json()["computed_at"] is not None) == (2, True)
    segment = Segment.objects.get(slug="gift")
    assert set(segment.members.values_list("pk", flat=True)) == {crowd.hanako.pk, crowd.taro.pk}

    patched = staff.patch(
        f"{SEGMENTS}{segment.pk}/",
        {"rule": [{"field": "tag", "in": ["gift"]}, {"field": "consent", "medium": "email"}]},
        format="json",
    )

    assert patched.status_code == 200
    assert patched.json()["member_count"] == 1
    assert list(segment.members.values_list("pk", flat=True)) == [crowd.hanako.pk]
    assert ids(staff.get(CUSTOMERS, {"segment": "gift"})) == [crowd.hanako.pk]


def test_segment_patch_with_a_bad_rule_is_400_and_keeps_the_old_rule(staff, crowd):
    segment = Segment.objects.get(slug="vip")

    response = staff.patch(
        f"{SEGMENTS}{segment.pk}/", {"rule": [{"field": "consent", "medium": "fax"}]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"]["rule"][0].startswith("Condition 1:")
    assert Segment.objects.get(pk=segment.pk).rule == [{"field": "tag", "in": ["vip"]}]


def test_segment_preview_returns_the_count_and_a_sample_and_saves_nothing(staff, crowd):
    response = staff.post(
        f"{SEGMENTS}preview/",
        {"rule": [{"field": "orders", "op": "lt", "value": 1}]},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert sorted(c["id"] for c in body["sample"]) == sorted([crowd.hanako.pk, crowd.kenji.pk])
    assert list(Segment.objects.values_list("slug", flat=True)) == ["vip"]


def test_segment_preview_with_a_bad_rule_is_400_naming_the_condition(staff, db):
    response = staff.post(
        f"{SEGMENTS}preview/",
        {"rule": [{"field": "orders", "value": 1}, {"field": "churn_risk", "value": "yes"}]},
        format="json",
    )

    assert response.status_code == 400
    assert [m.split(":")[0] for m in response.json()["errors"]["rule"]] == ["Condition 2"]


def test_segment_recompute_picks_up_new_members(staff, crowd):
    segment = Segment.objects.get(slug="vip")
    services.customer_set_tags(crowd.kenji, ["vip"])

    response = staff.post(f"{SEGMENTS}{segment.pk}/recompute/")

    assert response.status_code == 200
    assert response.json()["member_count"] == 2
    assert ids(staff.get(CUSTOMERS, {"segment": "vip"})) == [crowd.kenji.pk, crowd.hanako.pk]


def test_a_new_customer_registers_through_the_storefront_and_staff_find_them(staff, db):
    member = register("new@example.com", first_name="Nao", last_name_reading="ナカムラ")

    assert ids(staff.get(CUSTOMERS, {"q": "ナカムラ", "has_account": "true"})) == [
        member.customer.pk
    ]
