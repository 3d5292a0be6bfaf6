"""The customers back office: search and filters, the profile page, saves through the services,
merge / export / points / erase actions, segments with their preview, and the read-only ledger.

Every row is made through `customers.services` (the loyalty programme, which has no service, is
made in conftest.py), so the pages see only what the application itself could have written.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.forms import CheckboxInput, MultiWidget
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from commerce.models import Channel
from customers import services
from customers.models import (
    Address,
    ConsentSource,
    Customer,
    ExternalIdentifier,
    HistoryEntry,
    LoyaltyAccount,
    Medium,
    Merge,
    PointEntry,
    Segment,
    Tier,
)
from customers.segments import rfm_recompute, segment_recompute
from tests.conftest import HTTPS
from tests.factories import ChannelFactory, StaffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

CUSTOMERS = "/admin/customers/customer/"
SEGMENTS = "/admin/customers/segment/"
ACCOUNTS = "/admin/customers/loyaltyaccount/"
LEDGER = "/admin/customers/pointentry/"
PASSWORD = "correct horse battery staple"


def form_data(response) -> dict:
    """The POST a browser would send back from an admin add / change page, unchanged."""
    data: dict = {}

    def add(form) -> None:
        for name, field in form.fields.items():
            key, value = form.add_prefix(name), form[name].value()
            if isinstance(field.widget, CheckboxInput):
                if value:
                    data[key] = "on"
            elif isinstance(field.widget, MultiWidget):
                for index, part in enumerate(field.widget.decompress(value)):
                    data[f"{key}_{index}"] = "" if part is None else part
            elif value is not None:
                data[key] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def change_url(customer: Customer) -> str:
    return f"{CUSTOMERS}{customer.pk}/change/"


def listed(response) -> list[int]:
    """The ids of the customers a changelist response shows."""
    assert response.status_code == 200
    return sorted(c.pk for c in response.context["cl"].result_list)


def action_choices(response) -> list[str]:
    """The actions the changelist's action select offers (none: no select at all)."""
    form = response.context["action_form"]
    if form is None:
        return []
    return [name for name, _label in form.fields["action"].choices]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def person(email: str, **fields) -> Customer:
    fields.setdefault("first_name", email.split("@")[0].title())
    fields.setdefault("last_name", "Test")
    return services.customer_create(email=email, **fields)


def buy(customer: Customer, total: str, *, days_ago: int = 0, order: str) -> None:
    services.purchase_record(
        order_id=order,
        number=f"N-{order}",
        currency="JPY",
        total=total,
        paid_at=timezone.now() - timedelta(days=days_ago),
        customer_id=customer.pk,
    )


def staff_client(*permissions: str) -> Client:
    client = Client(**HTTPS)
    client.force_login(StaffFactory(permissions=list(permissions)))
    return client


@pytest.fixture
def web_jp(db) -> Channel:
    return ChannelFactory(web_jp=True)


# --- Changelist: search ----------------------------------------------------------------------


@pytest.fixture
def people(web_jp) -> dict[str, Customer]:
    yamada = person(
        "hanako@example.com",
        first_name="花子",
        last_name="山田",
        first_name_reading="ハナコ",
        last_name_reading="ヤマダ",
        phone="+819012345678",
        language="ja",
    )
    suzuki = person(
        "ichiro@example.com",
        first_name="一郎",
        last_name="鈴木",
        first_name_reading="イチロウ",
        last_name_reading="スズキ",
        phone="+819087654321",
        language="ja",
    )
    smith = person("jane.smith@example.org", first_name="Jane", last_name="Smith")
    services.identifier_add(smith, channel=web_jp, kind="member_card", value="MC-000777")
    return {"yamada": yamada, "suzuki": suzuki, "smith": smith}


def test_changelist_loads_and_lists_everyone(superuser_client, people):
    response = superuser_client.get(CUSTOMERS)

    assert listed(response) == sorted(c.pk for c in people.values())
    content = response.content.decode()
    assert "hanako@example.com" in content
    assert "+819087654321" in content
    assert "jane.smith@example.org" in content


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("ヤマダ", "yamada"),  # katakana reading
        ("ヤマダ ハナコ", "yamada"),
        ("090-1234-5678", "yamada"),  # the phone as people type it, stored as +819012345678
        ("ICHIRO@example.com", "suzuki"),
        ("jane.smith", "smith"),
        ("MC-000777", "smith"),  # a member card
    ],
)
def test_changelist_search(superuser_client, people, term, who):
    response = superuser_client.get(CUSTOMERS, {"q": term})

    assert listed(response) == [people[who].pk]


def test_changelist_search_for_nobody_lists_nobody(superuser_client, people):
    response = superuser_client.get(CUSTOMERS, {"q": "080-0000-0000"})

    assert listed(response) == []


# --- Changelist: filters ---------------------------------------------------------------------


def test_filter_rfm_segment_and_churn_risk(superuser_client, programme):
    lapsed = person("lapsed@example.com")
    buy(lapsed, "1000", days_ago=400, order="o-lapsed")
    fresh = person("fresh@example.com")
    buy(fresh, "3000", days_ago=1, order="o-fresh")
    prospect = person("prospect@example.com")
    rfm_recompute()
    for customer in (lapsed, fresh, prospect):
        customer.refresh_from_db()
    assert (lapsed.rfm_segment, lapsed.churn_risk) == (Customer.RfmSegment.LOST, True)
    assert fresh.rfm_segment not in (Customer.RfmSegment.LOST, Customer.RfmSegment.PROSPECT)
    assert (fresh.churn_risk, prospect.churn_risk) == (False, False)

    lost = superuser_client.get(CUSTOMERS, {"rfm_segment__exact": "lost"})
    prospects = superuser_client.get(CUSTOMERS, {"rfm_segment__exact": "prospect"})
    fresh_band = superuser_client.get(CUSTOMERS, {"rfm_segment__exact": fresh.rfm_segment})
    at_risk = superuser_client.get(CUSTOMERS, {"churn_risk__exact": "1"})
    not_at_risk = superuser_client.get(CUSTOMERS, {"churn_risk__exact": "0"})

    assert listed(lost) == [lapsed.pk]
    assert listed(prospects) == [prospect.pk]
    assert listed(fresh_band) == [fresh.pk]
    assert listed(at_risk) == [lapsed.pk]
    assert listed(not_at_risk) == sorted([fresh.pk, prospect.pk])


def test_filter_opted_in_by_medium(superuser_client):
    opted_in = person("yes@example.com")
    opted_out = person("no@example.com")
    sms_only = person("sms@example.com")
    never_asked = person("unknown@example.com")
    services.consent_set(opted_in, medium=Medium.EMAIL, granted=True, source=ConsentSource.STAFF)
    services.consent_set(opted_out, medium=Medium.EMAIL, granted=True, source=ConsentSource.STAFF)
    services.consent_set(opted_out, medium=Medium.EMAIL, granted=False, source=ConsentSource.STAFF)
    services.consent_set(sms_only, medium=Medium.SMS, granted=True, source=ConsentSource.STAFF)

    email = superuser_client.get(CUSTOMERS, {"opted_in": "email"})
    sms = superuser_client.get(CUSTOMERS, {"opted_in": "sms"})
    everyone = superuser_client.get(CUSTOMERS)

    assert listed(email) == [opted_in.pk]
    assert listed(sms) == [sms_only.pk]
    assert len(listed(everyone)) == 4
    assert never_asked.pk in listed(everyone)


def test_filter_tier(superuser_client, programme):
    member = person("member@example.com")
    services.loyalty_join(member)
    gold = person("gold@example.com")
    services.points_adjust(gold, points=2500, reason="Welcome back")
    outsider = person("outsider@example.com")
    gold_tier = Tier.objects.get(name="Gold")
    member_tier = Tier.objects.get(name="Member")
    assert LoyaltyAccount.objects.get(customer=gold).tier == gold_tier

    golds = superuser_client.get(CUSTOMERS, {"tier": gold_tier.pk})
    members = superuser_client.get(CUSTOMERS, {"tier": member_tier.pk})

    assert listed(golds) == [gold.pk]
    assert listed(members) == [member.pk]
    assert outsider.pk not in listed(members)
    assert "Friends: Gold" in golds.content.decode()  # the filter's choice


def test_filter_segment(superuser_client):
    vip = person("vip@example.com")
    other_vip = person("vip2@example.com")
    regular = person("regular@example.com")
    services.customer_set_tags(vip, ["vip"])
    services.customer_set_tags(other_vip, ["vip", "press"])
    services.customer_set_tags(regular, ["press"])
    segment = Segment.objects.create(
        name="VIPs", slug="vips", rule=[{"field": "tag", "in": ["vip"]}]
    )
    segment_recompute(segment)

    response = superuser_client.get(CUSTOMERS, {"segment": segment.pk})

    assert listed(response) == sorted([vip.pk, other_vip.pk])
    assert regular.pk not in listed(response)


# --- Change page -----------------------------------------------------------------------------


def test_change_page_shows_everything_of_a_customer(superuser_client, programme, web_jp):
    customer = person("hanako@example.com", first_name="花子", last_name="山田", language="ja")
    services.address_create(
        customer, line1="1-2-3 Jingumae", city="Shibuya-ku", region="Tokyo", country="JP"
    )
    services.identifier_add(customer, channel=web_jp, kind="member_card", value="MC-4242")
    services.consent_set(customer, medium=Medium.EMAIL, granted=True, source=ConsentSource.CHECKOUT)
    buy(customer, "5000", days_ago=3, order="o-1001")
    buy(customer, "2500", days_ago=1, order="o-1002")
    account = LoyaltyAccount.objects.get(customer=customer)
    assert (account.balance, account.lifetime_points) == (75, 75)

    response = superuser_client.get(change_url(customer))

    assert response.status_code == 200
    content = response.content.decode()
    # loyalty summary, with the link to the account's ledger
    assert "75 points · tier Member · lifetime 75" in content
    assert f"{LEDGER}?account__id__exact={account.pk}" in content
    # inlines: address, identifier, consent, purchases, history
    assert "1-2-3 Jingumae" in content
    assert "MC-4242" in content
    assert "N-o-1001" in content
    assert "N-o-1002" in content
    assert "Profile created through the back office." in content
    assert "Joined Friends." in content
    assert "guest (no login)" in content
    inline_rows = {
        inline.formset.model.__name__: len(inline.formset.forms)
        for inline in response.context["inline_admin_formsets"]
    }
    assert inline_rows["Address"] == 1
    assert inline_rows["ExternalIdentifier"] == 1
    assert inline_rows["Consent"] == 1
    assert inline_rows["Purchase"] == 2
    assert inline_rows["HistoryEntry"] >= 2


def test_change_page_of_a_non_member_says_so(superuser_client):
    customer = person("plain@example.com")

    response = superuser_client.get(change_url(customer))

    assert response.status_code == 200
    assert "not a member" in response.content.decode()


# --- Add and change --------------------------------------------------------------------------


def test_add_normalises_email_and_phone_and_writes_history(superuser_client, web_jp):
    page = f"{CUSTOMERS}add/"
    data = form_data(superuser_client.get(page))
    data.update(
        first_name="Hanako",
        last_name="Yamada",
        email="  Hanako.Yamada@Example.COM ",
        phone="090-1234-5678",
        language="ja",
        acquired_channel=web_jp.pk,
    )

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    customer = Customer.objects.get(last_name="Yamada")
    assert customer.email == "hanako.yamada@example.com"
    assert customer.phone == "+819012345678"
    assert customer.acquired_channel == web_jp
    [created] = HistoryEntry.objects.filter(customer=customer, kind=HistoryEntry.Kind.CREATED)
    assert created.actor == "root"
    assert "Web shop Japan" in created.message


def test_add_reads_a_phone_without_country_code_as_one_of_the_channel_country(
    superuser_client,
):
    web_us = ChannelFactory(web_us=True)
    page = f"{CUSTOMERS}add/"
    data = form_data(superuser_client.get(page))
    data.update(
        first_name="Jane",
        last_name="Doe",
        email="jane@example.com",
        phone="(415) 555-2671",
        language="en",
        acquired_channel=web_us.pk,
    )

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    assert Customer.objects.get(last_name="Doe").phone == "+14155552671"


def test_add_with_an_unusable_phone_is_a_form_error(superuser_client):
    page = f"{CUSTOMERS}add/"
    data = form_data(superuser_client.get(page))
    data.update(last_name="Nobody", email="nobody@example.com", phone="12", language="en")

    response = superuser_client.post(page, data)

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not Customer.objects.filter(last_name="Nobody").exists()


def test_change_saves_through_the_service(superuser_client):
    customer = person("before@example.com", last_name="Before")
    page = change_url(customer)
    data = form_data(superuser_client.get(page))
    data.update(email="After@Example.com", phone="03-1234-5678", notes="Prefers calls.")

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.email, customer.phone, customer.notes) == (
        "after@example.com",
        "+81312345678",
        "Prefers calls.",
    )
    [updated] = HistoryEntry.objects.filter(customer=customer, kind=HistoryEntry.Kind.UPDATED)
    assert updated.data == {"fields": ["email", "phone", "notes"]}


def test_change_reads_a_phone_without_country_code_as_one_of_the_channel_country(
    superuser_client,
):
    customer = services.customer_create(
        email="jane@example.com", last_name="Doe", channel=ChannelFactory(web_us=True)
    )
    page = change_url(customer)
    data = form_data(superuser_client.get(page))
    data["phone"] = "(415) 555-2671"

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.phone == "+14155552671"


def test_change_to_an_email_in_use_is_a_form_error(superuser_client):
    person("taken@example.com")
    customer = person("mine@example.com")
    page = change_url(customer)
    data = form_data(superuser_client.get(page))
    data["email"] = "TAKEN@example.com"

    response = superuser_client.post(page, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [
        "Another customer already has this e-mail address."
    ]
    customer.refresh_from_db()
    assert customer.email == "mine@example.com"
    assert not HistoryEntry.objects.filter(
        customer=customer, kind=HistoryEntry.Kind.UPDATED
    ).exists()


def test_change_to_the_email_of_a_merged_profile_is_allowed(superuser_client):
    survivor = person("kept@example.com")
    duplicate = person("old@example.com")
    services.customer_merge(survivor=survivor, duplicate=duplicate)
    customer = person("mine@example.com")
    page = change_url(customer)
    data = form_data(superuser_client.get(page))
    data["email"] = "old@example.com"

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.email == "old@example.com"


def test_blanking_the_email_of_a_customer_with_a_login_is_a_form_error(superuser_client):
    signed_in = services.account_register(
        email="member@example.com", password=PASSWORD, first_name="Mei"
    )
    customer = signed_in.customer
    page = change_url(customer)
    data = form_data(superuser_client.get(page))
    data["email"] = ""
    superuser_client.raise_request_exception = False  # a crash must show as a 500 here

    response = superuser_client.post(page, data)

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors
    assert "e-mail address" in str(form.errors)
    customer.refresh_from_db()
    assert customer.email == "member@example.com"
    assert customer.user.email == "member@example.com"


def test_saving_an_erased_profile_is_a_form_error(superuser_client):
    customer = person("gone@example.com")
    services.customer_erase(customer, reason="Asked to be forgotten")
    page = change_url(customer)
    data = form_data(superuser_client.get(page))
    data["notes"] = "Called again."
    superuser_client.raise_request_exception = False  # a crash must show as a 500 here

    response = superuser_client.post(page, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert (customer.state, customer.notes, customer.email) == (Customer.State.ERASED, "", "")


def test_address_inline_stores_the_phone_as_e164(superuser_client):
    customer = person("ship@example.com")
    page = change_url(customer)
    data = form_data(superuser_client.get(page))
    data.update(
        {
            "addresses-TOTAL_FORMS": "1",
            "addresses-0-last_name": "Yamada",
            "addresses-0-line1": "1-2-3 Jingumae",
            "addresses-0-city": "Shibuya-ku",
            "addresses-0-region": "Tokyo",
            "addresses-0-postal_code": "150-0001",
            "addresses-0-country": "JP",
            "addresses-0-phone": "090-1234-5678",
        }
    )

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    [address] = Address.objects.filter(customer=customer)
    assert address.line1 == "1-2-3 Jingumae"
    assert address.phone == "+819012345678"


def test_address_inline_edit_stores_the_phone_as_e164(superuser_client):
    customer = person("ship@example.com")
    address = services.address_create(customer, line1="1-2-3 Jingumae", country="JP")
    page = change_url(customer)
    data = form_data(superuser_client.get(page))
    [key] = [k for k, v in data.items() if k.endswith("-phone") and k.startswith("addresses-")]
    data[key] = "03 1234 5678"

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    address.refresh_from_db()
    assert address.phone == "+81312345678"


def test_address_inline_with_an_unusable_phone_is_a_form_error(superuser_client):
    customer = person("ship@example.com")
    page = change_url(customer)
    data = form_data(superuser_client.get(page))
    data.update(
        {
            "addresses-TOTAL_FORMS": "1",
            "addresses-0-line1": "1-2-3 Jingumae",
            "addresses-0-country": "JP",
            "addresses-0-phone": "12",
        }
    )
    superuser_client.raise_request_exception = False  # a crash must show as a 500 here

    response = superuser_client.post(page, data)

    assert response.status_code == 200
    [addresses] = [
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is Address
    ]
    assert list(addresses.errors[0]) == ["phone"]
    assert not Address.objects.filter(customer=customer).exists()


# --- Actions: merge --------------------------------------------------------------------------


def test_merge_of_two_asks_which_to_keep_then_merges(superuser_client):
    kept = person("kept@example.com", last_name="Kept")
    duplicate = person("dup@example.com", last_name="Duplicate")
    services.address_create(duplicate, line1="9-9 Umeda", city="Osaka", country="JP")
    selected = {"action": "merge_selected", "_selected_action": [kept.pk, duplicate.pk]}

    confirm = superuser_client.post(CUSTOMERS, selected)

    assert confirm.status_code == 200
    assert confirm.templates[0].name == "admin/customers/customer/action.html"
    content = confirm.content.decode()
    assert "Merge two customer profiles" in content
    assert f'value="{kept.pk}"' in content and f'value="{duplicate.pk}"' in content
    assert Customer.objects.get(pk=duplicate.pk).state == Customer.State.ACTIVE

    response = superuser_client.post(CUSTOMERS, {**selected, "apply": "1", "survivor": kept.pk})

    assert response.status_code == 302
    assert response["Location"] == change_url(kept)
    duplicate.refresh_from_db()
    assert (duplicate.state, duplicate.merged_into_id) == (Customer.State.MERGED, kept.pk)
    assert list(Address.objects.filter(customer=kept).values_list("line1", flat=True)) == [
        "9-9 Umeda"
    ]
    assert not Address.objects.filter(customer=duplicate).exists()
    merge = Merge.objects.get()
    assert (merge.survivor_id, merge.duplicate_id, merge.actor) == (kept.pk, duplicate.pk, "root")
    page = superuser_client.get(response["Location"])
    assert f"Merged #{duplicate.pk} into #{kept.pk}." in messages_of(page)


def test_merge_keeps_the_profile_chosen_even_when_it_is_the_newer(superuser_client):
    older = person("older@example.com")
    newer = person("newer@example.com")

    response = superuser_client.post(
        CUSTOMERS,
        {
            "action": "merge_selected",
            "_selected_action": [older.pk, newer.pk],
            "apply": "1",
            "survivor": newer.pk,
        },
    )

    assert response["Location"] == change_url(newer)
    older.refresh_from_db()
    assert (older.state, older.merged_into_id) == (Customer.State.MERGED, newer.pk)


@pytest.mark.parametrize("count", [1, 3])
def test_merge_needs_exactly_two(superuser_client, count):
    chosen = [person(f"p{i}@example.com") for i in range(count)]

    response = superuser_client.post(
        CUSTOMERS,
        {
            "action": "merge_selected",
            "_selected_action": [c.pk for c in chosen],
            "apply": "1",
            "survivor": chosen[0].pk,
        },
        follow=True,
    )

    assert response.status_code == 200
    assert messages_of(response) == ["Select exactly two profiles to merge."]
    assert set(Customer.objects.values_list("state", flat=True)) == {Customer.State.ACTIVE}
    assert not Merge.objects.exists()


# --- Actions: export, points, erase ----------------------------------------------------------


def test_export_of_one_customer_is_a_json_attachment(superuser_client, web_jp):
    customer = person("export@example.com", first_name="Ex", last_name="Port", phone="0312345678")
    services.identifier_add(customer, channel=web_jp, kind="member_card", value="MC-1")

    response = superuser_client.post(
        CUSTOMERS, {"action": "export_selected", "_selected_action": [customer.pk]}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="customer-{customer.pk}.json"'
    data = json.loads(response.content)
    assert data["profile"]["id"] == customer.pk
    assert data["profile"]["email"] == "export@example.com"
    assert data["profile"]["phone"] == "+81312345678"
    assert data["identifiers"] == [{"channel": "web-jp", "kind": "member_card", "value": "MC-1"}]


def test_export_of_several_customers_is_a_list(superuser_client):
    first, second = person("one@example.com"), person("two@example.com")

    response = superuser_client.post(
        CUSTOMERS, {"action": "export_selected", "_selected_action": [first.pk, second.pk]}
    )

    assert response["Content-Disposition"] == 'attachment; filename="customers.json"'
    emails = sorted(item["profile"]["email"] for item in json.loads(response.content))
    assert emails == ["one@example.com", "two@example.com"]


def test_adjust_points_asks_for_points_and_reason_then_writes_the_ledger(
    superuser_client, programme
):
    member = person("member@example.com")
    services.loyalty_join(member)
    newcomer = person("new@example.com")
    selected = {"action": "adjust_points", "_selected_action": [member.pk, newcomer.pk]}

    form_page = superuser_client.post(CUSTOMERS, selected)

    assert form_page.status_code == 200
    assert "Adjust loyalty points" in form_page.content.decode()
    assert not PointEntry.objects.exists()

    response = superuser_client.post(
        CUSTOMERS,
        {**selected, "apply": "1", "points": "150", "reason": "Late delivery"},
        follow=True,
    )

    assert messages_of(response) == ["Points adjusted for 2 customers."]
    entries = PointEntry.objects.order_by("account__customer_id")
    assert [(e.account.customer_id, e.kind, e.points, e.reason, e.actor) for e in entries] == [
        (member.pk, PointEntry.Kind.ADJUST, 150, "Late delivery", "root"),
        (newcomer.pk, PointEntry.Kind.ADJUST, 150, "Late delivery", "root"),
    ]
    assert sorted(LoyaltyAccount.objects.values_list("balance", flat=True)) == [150, 150]


def test_adjust_points_below_zero_is_refused_per_customer(superuser_client, programme):
    customer = person("poor@example.com")
    services.points_adjust(customer, points=10, reason="Start")

    response = superuser_client.post(
        CUSTOMERS,
        {
            "action": "adjust_points",
            "_selected_action": [customer.pk],
            "apply": "1",
            "points": "-50",
            "reason": "Correction",
        },
        follow=True,
    )

    msgs = messages_of(response)
    assert msgs[0] == "Points adjusted for 0 customers."
    assert msgs[1].startswith(f"#{customer.pk}: ")
    assert PointEntry.objects.count() == 1
    assert LoyaltyAccount.objects.get(customer=customer).balance == 10


def test_adjust_points_without_a_reason_writes_nothing(superuser_client, programme):
    customer = person("member@example.com")

    response = superuser_client.post(
        CUSTOMERS,
        {
            "action": "adjust_points",
            "_selected_action": [customer.pk],
            "apply": "1",
            "points": "100",
            "reason": "",
        },
    )

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert not PointEntry.objects.exists()


def test_erase_is_offered_only_to_staff_who_may_delete_customers():
    person("someone@example.com")
    without = staff_client("customers.view_customer", "customers.change_customer")
    with_delete = staff_client(
        "customers.view_customer", "customers.change_customer", "customers.delete_customer"
    )

    plain = without.get(CUSTOMERS)
    allowed = with_delete.get(CUSTOMERS)

    assert plain.status_code == allowed.status_code == 200
    assert "erase_selected" not in action_choices(plain)
    assert 'value="erase_selected"' not in plain.content.decode()
    assert {"merge_selected", "export_selected", "adjust_points"} <= set(action_choices(plain))
    assert "erase_selected" in action_choices(allowed)
    assert 'value="erase_selected"' in allowed.content.decode()
    # people are erased, never deleted: the delete action is offered to nobody
    assert "delete_selected" not in action_choices(plain)
    assert "delete_selected" not in action_choices(allowed)


def test_erase_posted_by_staff_without_the_permission_erases_nothing():
    customer = person("keep@example.com")
    client = staff_client("customers.view_customer", "customers.change_customer")

    client.post(
        CUSTOMERS,
        {
            "action": "erase_selected",
            "_selected_action": [customer.pk],
            "apply": "1",
            "confirm": "on",
        },
    )

    customer.refresh_from_db()
    assert (customer.state, customer.email) == (Customer.State.ACTIVE, "keep@example.com")


def test_erase_needs_the_confirmation_then_erases(superuser_client, web_jp):
    customer = person("forget@example.com", phone="09012345678")
    services.address_create(customer, line1="1-1 Ginza", country="JP")
    services.identifier_add(customer, channel=web_jp, kind="member_card", value="MC-9")
    selected = {"action": "erase_selected", "_selected_action": [customer.pk], "apply": "1"}

    unconfirmed = superuser_client.post(CUSTOMERS, {**selected, "reason": "Request"})

    assert unconfirmed.status_code == 200
    assert "confirm" in unconfirmed.context["form"].errors
    customer.refresh_from_db()
    assert customer.state == Customer.State.ACTIVE

    response = superuser_client.post(
        CUSTOMERS, {**selected, "reason": "Request", "confirm": "on"}, follow=True
    )

    assert messages_of(response) == ["Erased 1 customers."]
    customer.refresh_from_db()
    assert (customer.state, customer.email, customer.phone, customer.first_name) == (
        Customer.State.ERASED,
        "",
        "",
        "",
    )
    assert not Address.objects.filter(customer=customer).exists()
    assert not ExternalIdentifier.objects.filter(customer=customer).exists()
    [erased] = HistoryEntry.objects.filter(customer=customer)
    assert (erased.kind, erased.data, erased.actor) == (
        HistoryEntry.Kind.ERASED,
        {"reason": "Request"},
        "root",
    )


def test_customers_cannot_be_deleted(superuser_client):
    customer = person("stay@example.com")

    changelist = superuser_client.get(CUSTOMERS)
    change = superuser_client.get(change_url(customer))
    delete = superuser_client.get(f"{CUSTOMERS}{customer.pk}/delete/")
    delete_post = superuser_client.post(f"{CUSTOMERS}{customer.pk}/delete/", {"post": "yes"})
    action = superuser_client.post(
        CUSTOMERS, {"action": "delete_selected", "_selected_action": [customer.pk], "post": "yes"}
    )

    assert "delete_selected" not in action_choices(changelist)
    assert f"{CUSTOMERS}{customer.pk}/delete/" not in change.content.decode()
    assert delete.status_code == delete_post.status_code == 403
    assert action.status_code in (200, 302)
    assert Customer.objects.filter(pk=customer.pk, state=Customer.State.ACTIVE).exists()


# --- Segments --------------------------------------------------------------------------------


@pytest.fixture
def vips(db) -> list[Customer]:
    tagged = [person("vip1@example.com"), person("vip2@example.com")]
    for customer in tagged:
        services.customer_set_tags(customer, ["vip"])
    person("regular@example.com")
    return tagged


def segment_form(rule, **fields) -> dict:
    return {
        "name": "VIPs",
        "slug": "vips",
        "description": "",
        "rule": json.dumps(rule),
        "is_active": "on",
        **fields,
    }


def test_segment_with_a_bad_rule_is_a_form_error_naming_the_condition(superuser_client, vips):
    response = superuser_client.post(
        f"{SEGMENTS}add/",
        segment_form([{"field": "tag", "in": ["vip"]}, {"field": "shoe_size", "value": 42}]),
    )

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["rule"]
    assert error.startswith("Condition 2: field must be one of")
    assert "Condition 2" in response.content.decode()
    assert not Segment.objects.exists()


def test_segment_with_a_bad_first_condition_names_condition_1(superuser_client, vips):
    response = superuser_client.post(
        f"{SEGMENTS}add/", segment_form([{"field": "orders", "op": "more", "value": 1}])
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rule"] == [
        "Condition 1: op must be one of gt, gte, lt, lte, eq."
    ]
    assert not Segment.objects.exists()


def test_segment_with_a_good_rule_saves_and_counts_its_members(superuser_client, vips):
    response = superuser_client.post(
        f"{SEGMENTS}add/", segment_form([{"field": "tag", "in": ["vip"]}])
    )

    assert response.status_code == 302
    segment = Segment.objects.get(slug="vips")
    assert segment.member_count == 2
    assert segment.computed_at is not None
    assert sorted(segment.members.values_list("pk", flat=True)) == sorted(c.pk for c in vips)


def test_segment_change_recomputes_its_members(superuser_client, vips):
    segment = Segment.objects.create(name="VIPs", slug="vips", rule=[{"field": "tag", "in": ["x"]}])
    segment_recompute(segment)
    assert segment.member_count == 0

    response = superuser_client.post(
        f"{SEGMENTS}{segment.pk}/change/", segment_form([{"field": "tag", "in": ["vip"]}])
    )

    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.member_count == 2


def test_segment_preview_of_a_saved_segment_and_of_a_posted_rule(superuser_client, vips):
    segment = Segment.objects.create(
        name="VIPs", slug="vips", rule=[{"field": "tag", "in": ["vip"]}]
    )
    url = reverse("admin:customers_segment_preview")

    page = superuser_client.get(url, {"segment": segment.pk})

    assert page.status_code == 200
    assert page.context["segment"] == segment
    assert json.loads(page.context["form"]["rule"].value()) == [{"field": "tag", "in": ["vip"]}]
    assert page.context["count"] is None
    assert "match this rule now" not in page.content.decode()

    counted = superuser_client.post(
        f"{url}?segment={segment.pk}", {"rule": json.dumps([{"field": "tag", "in": ["vip"]}])}
    )
    everyone = superuser_client.post(
        url, {"rule": json.dumps([{"field": "language", "in": ["en"]}])}
    )

    assert counted.status_code == 200
    assert counted.context["count"] == 2
    assert "2 customers match this rule now." in counted.content.decode()
    assert "vip1@example.com" in counted.content.decode()
    assert "3 customers match this rule now." in everyone.content.decode()
    assert Segment.objects.get(pk=segment.pk).member_count == 0  # a preview saves nothing


def test_segment_preview_of_an_empty_rule_counts_every_active_customer(superuser_client, vips):
    response = superuser_client.post(reverse("admin:customers_segment_preview"), {"rule": "[]"})

    assert response.status_code == 200
    assert response.context["count"] == Customer.objects.filter(state="active").count() == 3


def test_segment_preview_of_a_bad_rule_shows_the_error(superuser_client, vips):
    response = superuser_client.post(
        reverse("admin:customers_segment_preview"), {"rule": json.dumps([{"field": "nope"}])}
    )

    assert response.status_code == 200
    assert response.context["count"] is None
    assert response.context["form"].errors["rule"][0].startswith("Condition 1: ")


def test_segment_change_page_links_to_its_preview(superuser_client):
    segment = Segment.objects.create(name="All", slug="all", rule=[])

    response = superuser_client.get(f"{SEGMENTS}{segment.pk}/change/")

    assert response.status_code == 200
    assert f"{reverse('admin:customers_segment_preview')}?segment={segment.pk}" in (
        response.content.decode()
    )


# --- Loyalty accounts and the point ledger ---------------------------------------------------


@pytest.fixture
def account(programme) -> LoyaltyAccount:
    customer = person("member@example.com")
    services.points_adjust(customer, points=300, reason="Welcome")
    return LoyaltyAccount.objects.get(customer=customer)


def test_loyalty_accounts_cannot_be_added(superuser_client, account):
    changelist = superuser_client.get(ACCOUNTS)
    add = superuser_client.get(f"{ACCOUNTS}add/")

    assert changelist.status_code == 200
    assert f"{ACCOUNTS}add/" not in changelist.content.decode()
    assert add.status_code == 403
    assert LoyaltyAccount.objects.count() == 1


def test_loyalty_account_page_shows_the_balance_but_does_not_save_it(superuser_client, account):
    page = f"{ACCOUNTS}{account.pk}/change/"

    response = superuser_client.get(page)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="balance"' not in content
    assert 'name="lifetime_points"' not in content
    assert "Welcome" in content  # the ledger inline
    assert f"{ACCOUNTS}{account.pk}/delete/" not in content

    data = form_data(response)
    data.update(balance="999999", lifetime_points="999999")
    superuser_client.post(page, data)

    account.refresh_from_db()
    assert (account.balance, account.lifetime_points) == (300, 300)
    assert PointEntry.objects.filter(account=account).count() == 1


def test_point_ledger_is_read_only(superuser_client, account):
    entry = PointEntry.objects.get(account=account)
    page = f"{LEDGER}{entry.pk}/change/"

    changelist = superuser_client.get(LEDGER)
    add = superuser_client.get(f"{LEDGER}add/")
    view = superuser_client.get(page)
    post = superuser_client.post(page, {"points": "5000", "reason": "Free points"})

    assert changelist.status_code == 200
    assert listed_entries(changelist) == [entry.pk]
    assert f"{LEDGER}add/" not in changelist.content.decode()
    assert "delete_selected" not in action_choices(changelist)
    assert add.status_code == 403
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert 'name="points"' not in view.content.decode()
    assert post.status_code == 403
    entry.refresh_from_db()
    assert (entry.points, entry.reason) == (300, "Welcome")


def listed_entries(response) -> list[int]:
    return [e.pk for e in response.context["cl"].result_list]
