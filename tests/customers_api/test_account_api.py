"""Storefront account flows through HTTP: register, sign in and out, passwords, profile,
addresses, consent, unsubscribe links, loyalty and the data export."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core import mail
from rest_framework.throttling import SimpleRateThrottle

from automation.messages.services import messages_send_due
from customers import services
from customers.errors import ValidationFailed
from customers.models import Address, Consent, ConsentChange, ConsentSource, Customer
from tests.customers_api.conftest import PASSWORD, PROBLEM, address, client

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Hokkaido-winter-snow-77"


def allowed(scope: str) -> int:
    """How many requests the throttle scope lets through per period (from the settings)."""
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]
    return SimpleRateThrottle.parse_rate(None, rate)[0]


def sign_in(email: str, password: str):
    return client().post(
        "/api/v1/customers/sign-in/", {"email": email, "password": password}, format="json"
    )


# --- Register --------------------------------------------------------------------------------


def test_register_creates_an_account_whose_token_works(db):
    response = client().post(
        "/api/v1/customers/register/",
        {
            "email": " Hanako@Example.com ",
            "password": PASSWORD,
            "first_name": "Hanako",
            "last_name": "Yamada",
            "last_name_reading": "ヤマダ",
            "marketing_consent": {"email": True},
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["customer"]["email"] == "hanako@example.com"
    assert body["customer"]["has_account"] is True
    assert "password" not in body["customer"]
    me = client(body["token"]).get("/api/v1/customers/me/")
    assert me.status_code == 200
    assert (me.json()["id"], me.json()["last_name_reading"]) == (body["customer"]["id"], "ヤマダ")
    customer = Customer.objects.get(pk=body["customer"]["id"])
    assert customer.user.check_password(PASSWORD)
    assert list(customer.consents.values_list("medium", "granted")) == [("email", True)]


def test_registering_a_guests_email_needs_the_emailed_link_to_join_the_profile(db):
    guest = services.customer_create(email="guest@example.com", first_name="Kenji")
    services.address_create(guest, line1="1-2-3 Umeda", city="Osaka", country="JP")

    response = client().post(
        "/api/v1/customers/register/",
        {"email": "GUEST@example.com", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 202
    assert "token" not in response.json() and "customer" not in response.json()
    assert sign_in("guest@example.com", PASSWORD).status_code == 401
    messages_send_due()  # account mails go through the messages queue
    link = next(word for word in mail.outbox[0].body.split() if "token=" in word)
    token = parse_qs(urlsplit(link).query)["token"][0]

    confirmed = client().post(
        "/api/v1/customers/register/confirm/", {"token": token}, format="json"
    )
    again = client().post("/api/v1/customers/register/confirm/", {"token": token}, format="json")

    assert confirmed.status_code == 201
    assert confirmed.json()["customer"]["id"] == guest.pk
    assert confirmed.json()["customer"]["first_name"] == "Kenji"
    addresses = client(confirmed.json()["token"]).get("/api/v1/customers/me/addresses/")
    assert [a["line1"] for a in addresses.json()] == ["1-2-3 Umeda"]
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_confirmation_link"


def test_register_works_while_the_app_still_sends_a_stale_token(alice):
    """After signing out, an app may still send the old token: registering must not be a 401."""
    alice.api.post("/api/v1/customers/sign-out/")

    response = alice.api.post(
        "/api/v1/customers/register/",
        {"email": "alice.second@example.com", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["customer"]["email"] == "alice.second@example.com"


def test_registering_a_taken_email_again_is_400_naming_email(alice):
    response = client().post(
        "/api/v1/customers/register/",
        {"email": "Alice@Example.com", "password": "Another-long-pass-99"},
        format="json",
    )

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["email"]
    assert Customer.objects.filter(email="alice@example.com").count() == 1


@pytest.mark.parametrize("password", ["12345678", "password", "short"])
def test_registering_with_a_weak_password_is_400_naming_password(db, password):
    response = client().post(
        "/api/v1/customers/register/",
        {"email": "weak@example.com", "password": password},
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["password"]
    assert not Customer.objects.filter(email="weak@example.com").exists()


def test_registering_with_an_invalid_email_is_400_naming_email(db):
    response = client().post(
        "/api/v1/customers/register/",
        {"email": "not-an-email", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["email"]


# --- Sign in, sign out -----------------------------------------------------------------------


def test_sign_in_with_the_right_password_returns_a_working_token(alice):
    response = sign_in("  ALICE@example.com", PASSWORD)

    assert response.status_code == 200
    body = response.json()
    assert body["customer"]["id"] == alice.customer.pk
    assert client(body["token"]).get("/api/v1/customers/me/").json()["email"] == "alice@example.com"


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(alice):
    wrong_password = sign_in("alice@example.com", "not-her-password-1")
    unknown_email = sign_in("nobody@example.com", "not-her-password-1")
    not_an_email = sign_in("nobody", "not-her-password-1")

    assert wrong_password.status_code == unknown_email.status_code == not_an_email.status_code
    assert wrong_password.status_code == 401
    assert wrong_password["Content-Type"] == PROBLEM
    assert wrong_password.json() == unknown_email.json() == not_an_email.json()
    assert wrong_password.json()["code"] == "invalid_credentials"


def test_a_guest_profile_cannot_sign_in(db):
    services.customer_create(email="guest@example.com")

    response = sign_in("guest@example.com", PASSWORD)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_sign_in_is_throttled_per_client_after_the_configured_rate(alice):
    limit = allowed("customer_sign_in")

    answers = [
        sign_in(f"guess{n}@example.com", "wrong-password-1").status_code for n in range(limit)
    ]
    throttled = sign_in("alice@example.com", PASSWORD)

    assert answers == [401] * limit
    assert throttled.status_code == 429
    assert throttled["Content-Type"] == PROBLEM
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0


def test_registrations_have_their_own_throttle_and_a_burst_locks_nobody_out_of_sign_in(alice):
    limit = allowed("customer_register")

    registered = [
        client()
        .post(
            "/api/v1/customers/register/",
            {"email": f"person{n}@example.com", "password": PASSWORD},
            format="json",
        )
        .status_code
        for n in range(limit)
    ]
    one_too_many = client().post(
        "/api/v1/customers/register/",
        {"email": "one-too-many@example.com", "password": PASSWORD},
        format="json",
    )
    signed_in = sign_in("alice@example.com", PASSWORD)

    assert registered == [201] * limit
    assert one_too_many.status_code == 429
    assert one_too_many.json()["code"] == "throttled"
    assert not Customer.objects.filter(email="one-too-many@example.com").exists()
    assert signed_in.status_code == 200


def test_order_lookups_have_their_own_throttle_and_use_up_no_sign_ins(alice):
    limit = allowed("order_lookup")

    looked_up = [
        client()
        .post("/api/v1/orders/lookup/", {"number": f"W-{n}", "email": "x@example.com"})
        .status_code
        for n in range(limit + 1)
    ]
    signed_in = sign_in("alice@example.com", PASSWORD)

    assert looked_up == [404] * limit + [429]
    assert signed_in.status_code == 200


def test_sign_in_throttle_cannot_be_dodged_with_a_made_up_forwarded_for_header(alice, settings):
    """The throttle keys on the client address; X-Forwarded-For counts only as far as the
    NUM_PROXIES setting trusts it, so a new made-up header per request changes nothing."""
    limit = allowed("customer_sign_in")
    settings.AXES_FAILURE_LIMIT = limit + 1  # the throttle, not the account lockout, is tested

    answers = [
        client(HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        .post(
            "/api/v1/customers/sign-in/",
            {"email": "alice@example.com", "password": f"guess-{n}-wrong"},
            format="json",
        )
        .status_code
        for n in range(limit + 1)
    ]

    assert answers == [401] * limit + [429]


def test_sign_out_ends_the_token(alice):
    response = alice.api.post("/api/v1/customers/sign-out/")

    assert response.status_code == 204
    after = alice.api.get("/api/v1/customers/me/")
    assert after.status_code == 401
    assert after.json()["code"] == "authentication_failed"
    # Signing in again gives a new, working token.
    token = sign_in("alice@example.com", PASSWORD).json()["token"]
    assert token != alice.token
    assert client(token).get("/api/v1/customers/me/").status_code == 200


# --- Passwords -------------------------------------------------------------------------------


def test_password_change_returns_a_new_token_and_the_old_one_stops_working(alice):
    response = alice.api.post(
        "/api/v1/customers/me/password/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )

    assert response.status_code == 200
    new_token = response.json()["token"]
    assert new_token != alice.token
    old = alice.api.get("/api/v1/customers/me/")
    assert old.status_code == 401
    assert old.json()["code"] == "authentication_failed"
    assert client(new_token).get("/api/v1/customers/me/").json()["id"] == alice.customer.pk
    assert sign_in("alice@example.com", NEW_PASSWORD).status_code == 200
    assert sign_in("alice@example.com", PASSWORD).status_code == 401


def test_password_change_with_a_wrong_current_password_is_400_and_keeps_the_token(alice):
    response = alice.api.post(
        "/api/v1/customers/me/password/",
        {"current_password": "not-my-password-1", "new_password": NEW_PASSWORD},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["current_password"]
    assert alice.api.get("/api/v1/customers/me/").status_code == 200
    assert alice.reload().user.check_password(PASSWORD)


def test_password_change_to_a_weak_password_is_400_naming_new_password(alice):
    response = alice.api.post(
        "/api/v1/customers/me/password/",
        {"current_password": PASSWORD, "new_password": "12345678"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["new_password"]
    assert alice.reload().user.check_password(PASSWORD)


def reset_link_params(message) -> tuple[str, str]:
    link = next(word for word in message.body.split() if "uid=" in word)
    query = parse_qs(urlsplit(link).query)
    return query["uid"][0], query["token"][0]


def test_password_reset_link_sets_a_new_password_once(alice):
    requested = client().post(
        "/api/v1/customers/password-reset/", {"email": "Alice@Example.com"}, format="json"
    )

    assert requested.status_code == 202
    messages_send_due()  # account mails go through the messages queue
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    uid, token = reset_link_params(mail.outbox[0])
    confirm = {"uid": uid, "token": token, "new_password": NEW_PASSWORD}

    first = client().post("/api/v1/customers/password-reset/confirm/", confirm, format="json")
    second = client().post(
        "/api/v1/customers/password-reset/confirm/",
        {**confirm, "new_password": "Yet-another-pass-55"},
        format="json",
    )

    assert first.status_code == 204
    assert second.status_code == 400
    assert second["Content-Type"] == PROBLEM
    assert second.json()["code"] == "invalid_reset_link"
    assert alice.reload().user.check_password(NEW_PASSWORD)
    # The reset ends every session; the new password signs in.
    assert alice.api.get("/api/v1/customers/me/").status_code == 401
    assert sign_in("alice@example.com", NEW_PASSWORD).status_code == 200


def test_password_reset_for_an_unknown_email_answers_the_same_and_sends_nothing(alice):
    response = client().post(
        "/api/v1/customers/password-reset/", {"email": "nobody@example.com"}, format="json"
    )

    assert response.status_code == 202
    assert response.content == b""
    messages_send_due()  # account mails go through the messages queue
    assert mail.outbox == []


def test_password_reset_with_a_made_up_token_is_400(alice):
    services.password_reset_request(email="alice@example.com")
    messages_send_due()  # account mails go through the messages queue
    uid, _token = reset_link_params(mail.outbox[0])

    response = client().post(
        "/api/v1/customers/password-reset/confirm/",
        {"uid": uid, "token": "abc-123", "new_password": NEW_PASSWORD},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_reset_link"
    assert alice.reload().user.check_password(PASSWORD)


def test_password_reset_is_throttled_after_the_configured_rate(alice):
    limit = allowed("password_reset")

    answers = [
        client()
        .post("/api/v1/customers/password-reset/", {"email": "alice@example.com"}, format="json")
        .status_code
        for _ in range(limit)
    ]
    throttled = client().post(
        "/api/v1/customers/password-reset/", {"email": "alice@example.com"}, format="json"
    )

    assert answers == [202] * limit
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    messages_send_due()  # account mails go through the messages queue
    assert len(mail.outbox) == limit


def test_a_link_still_works_after_the_requests_used_up_their_allowance(alice):
    for _ in range(allowed("password_reset")):
        client().post(
            "/api/v1/customers/password-reset/", {"email": "alice@example.com"}, format="json"
        )
    messages_send_due()  # account mails go through the messages queue
    uid, token = reset_link_params(mail.outbox[-1])

    response = client().post(
        "/api/v1/customers/password-reset/confirm/",
        {"uid": uid, "token": token, "new_password": NEW_PASSWORD},
        format="json",
    )

    assert response.status_code == 204
    assert alice.reload().user.check_password(NEW_PASSWORD)


def test_staff_cannot_blank_the_email_of_a_customer_with_an_account(alice):
    with pytest.raises(ValidationFailed) as raised:
        services.customer_update(alice.reload(), email="")

    assert "email" in raised.value.errors
    assert alice.reload().email == "alice@example.com"


# --- Profile ---------------------------------------------------------------------------------


def test_patch_me_normalises_email_and_phone(alice):
    response = alice.api.patch(
        "/api/v1/customers/me/",
        {"email": "  Alice.Abe@Example.COM ", "phone": "090-1234-5678", "language": "ja"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["email"], body["phone"], body["language"]) == (
        "alice.abe@example.com",
        "+819012345678",
        "ja",
    )
    customer = alice.reload()
    assert (customer.email, customer.phone, customer.user.email) == (
        "alice.abe@example.com",
        "+819012345678",
        "alice.abe@example.com",
    )
    # Sign-in follows the new address.
    assert sign_in("alice.abe@example.com", PASSWORD).status_code == 200


def test_patch_me_refuses_an_email_of_another_active_customer(alice, bob):
    response = alice.api.patch("/api/v1/customers/me/", {"email": "BOB@example.com"}, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert list(response.json()["errors"]) == ["email"]
    assert alice.reload().email == "alice@example.com"


def test_patch_me_refuses_a_blank_email_which_would_lock_the_account(alice):
    response = alice.api.patch("/api/v1/customers/me/", {"email": "  "}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["email"]
    assert alice.reload().email == "alice@example.com"
    assert sign_in("alice@example.com", PASSWORD).status_code == 200


def test_patch_me_may_take_the_email_of_a_profile_merged_away(alice):
    gone = services.customer_create(email="old@example.com")
    services.customer_merge(survivor=alice.customer, duplicate=gone)

    response = alice.api.patch("/api/v1/customers/me/", {"email": "old@example.com"}, format="json")

    assert response.status_code == 200
    assert response.json()["email"] == "old@example.com"


def test_patch_me_with_an_impossible_phone_is_400_naming_phone(alice):
    response = alice.api.patch("/api/v1/customers/me/", {"phone": "12"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["phone"]
    assert alice.reload().phone == ""


def test_patch_me_ignores_read_only_fields(alice, bob):
    response = alice.api.patch(
        "/api/v1/customers/me/", {"id": bob.customer.pk, "has_account": False}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["id"] == alice.customer.pk
    assert alice.reload().user_id is not None


# --- Addresses -------------------------------------------------------------------------------

HOME = {
    "first_name": "Alice",
    "last_name": "Abe",
    "line1": "1-2-3 Jingumae",
    "city": "Shibuya-ku",
    "region": "Tokyo",
    "postal_code": "150-0001",
    "country": "jp",
    "phone": "03-1234-5678",
}


def test_addresses_crud(alice):
    created = alice.api.post("/api/v1/customers/me/addresses/", HOME, format="json")

    assert created.status_code == 201
    home = created.json()
    assert (
        home["country"],
        home["phone"],
        home["is_default_shipping"],
        home["is_default_billing"],
    ) == (
        "JP",
        "+81312345678",
        True,
        True,
    )
    url = f"/api/v1/customers/me/addresses/{home['id']}/"
    assert alice.api.get(url).json() == home

    patched = alice.api.patch(url, {"line2": "Room 101"}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["line1"], patched.json()["line2"]) == ("1-2-3 Jingumae", "Room 101")
    assert [a["line2"] for a in alice.api.get("/api/v1/customers/me/addresses/").json()] == [
        "Room 101"
    ]

    deleted = alice.api.delete(url)
    assert deleted.status_code == 204
    assert alice.api.get(url).status_code == 404
    assert alice.api.get("/api/v1/customers/me/addresses/").json() == []


def test_a_new_default_address_clears_the_old_default(alice):
    home = alice.api.post("/api/v1/customers/me/addresses/", HOME, format="json").json()
    office = alice.api.post(
        "/api/v1/customers/me/addresses/",
        {**HOME, "line1": "Office tower 5F", "is_default_shipping": True},
        format="json",
    ).json()
    parents = alice.api.post(
        "/api/v1/customers/me/addresses/", {**HOME, "line1": "Parents' house"}, format="json"
    ).json()

    defaults = [
        (a["line1"], a["is_default_shipping"], a["is_default_billing"])
        for a in alice.api.get("/api/v1/customers/me/addresses/").json()
    ]
    assert defaults == [
        ("1-2-3 Jingumae", False, True),
        ("Office tower 5F", True, False),
        ("Parents' house", False, False),
    ]

    response = alice.api.patch(
        f"/api/v1/customers/me/addresses/{parents['id']}/",
        {"is_default_billing": True},
        format="json",
    )

    assert response.status_code == 200
    assert list(
        Address.objects.filter(customer=alice.customer)
        .order_by("pk")
        .values_list("pk", "is_default_shipping", "is_default_billing")
    ) == [(home["id"], False, False), (office["id"], True, False), (parents["id"], False, True)]


def test_an_address_without_line1_or_with_a_bad_country_is_400(alice):
    response = alice.api.post(
        "/api/v1/customers/me/addresses/", {"line1": "", "country": "Japan"}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"line1", "country"}
    assert not Address.objects.exists()


# --- Consent ---------------------------------------------------------------------------------


def test_consents_list_every_medium_as_not_granted_until_asked(alice):
    response = alice.api.get("/api/v1/customers/me/consents/")

    assert response.status_code == 200
    assert [(c["medium"], c["granted"], c["changed_at"]) for c in response.json()] == [
        ("email", False, None),
        ("sms", False, None),
        ("line", False, None),
        ("post", False, None),
    ]


def test_opting_out_shows_immediately_and_the_history_lists_both_changes(alice):
    opted_in = alice.api.post(
        "/api/v1/customers/me/consents/",
        {"medium": "email", "granted": True, "text_version": "2025-01"},
        format="json",
    )
    opted_out = alice.api.post(
        "/api/v1/customers/me/consents/", {"medium": "email", "granted": False}, format="json"
    )

    assert opted_in.status_code == opted_out.status_code == 200
    assert {c["medium"]: c["granted"] for c in opted_in.json()}["email"] is True
    assert {c["medium"]: c["granted"] for c in opted_out.json()}["email"] is False
    assert Consent.objects.get(customer=alice.customer, medium="email").granted is False
    history = alice.api.get("/api/v1/customers/me/consents/history/")
    assert history.status_code == 200
    assert [
        (c["medium"], c["granted"], c["source"], c["text_version"])
        for c in history.json()["results"]
    ] == [("email", False, "storefront", ""), ("email", True, "storefront", "2025-01")]


def test_a_consent_for_an_unknown_medium_is_400(alice):
    response = alice.api.post(
        "/api/v1/customers/me/consents/", {"medium": "fax", "granted": True}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["medium"]
    assert not ConsentChange.objects.exists()


def test_unsubscribe_with_a_signed_token_needs_no_sign_in(alice):
    services.consent_set(
        alice.customer, medium="email", granted=True, source=ConsentSource.STOREFRONT
    )
    token = services.unsubscribe_token(alice.customer, "email")

    response = client().post("/api/v1/customers/unsubscribe/", {"token": token}, format="json")

    assert response.status_code == 200
    assert response.json() == {"medium": "email", "granted": False}
    assert Consent.objects.get(customer=alice.customer, medium="email").granted is False
    assert (
        ConsentChange.objects.filter(customer=alice.customer).first().source == "unsubscribe_link"
    )


def test_unsubscribe_with_a_tampered_token_is_400_and_changes_nothing(alice, bob):
    services.consent_set(
        alice.customer, medium="email", granted=True, source=ConsentSource.STOREFRONT
    )
    services.consent_set(
        bob.customer, medium="email", granted=True, source=ConsentSource.STOREFRONT
    )
    token = services.unsubscribe_token(alice.customer, "email")
    # Bob's payload under Alice's signature: the signature no longer matches.
    bobs_payload = services.unsubscribe_token(bob.customer, "email").rsplit(":", 1)[0]
    tampered = f"{bobs_payload}:{token.rsplit(':', 1)[1]}"

    responses = [
        client().post("/api/v1/customers/unsubscribe/", {"token": bad}, format="json")
        for bad in (tampered, token[:-2] + "xx", "nonsense")
    ]

    assert [r.status_code for r in responses] == [400, 400, 400]
    assert all(list(r.json()["errors"]) == ["token"] for r in responses)
    assert list(Consent.objects.order_by("customer_id").values_list("granted", flat=True)) == [
        True,
        True,
    ]


# --- Loyalty ---------------------------------------------------------------------------------


def test_loyalty_is_404_before_joining_then_join_201_then_200(programme, alice):
    before = alice.api.get("/api/v1/customers/me/loyalty/")
    joined = alice.api.post("/api/v1/customers/me/loyalty/join/")
    again = alice.api.post("/api/v1/customers/me/loyalty/join/")
    after = alice.api.get("/api/v1/customers/me/loyalty/")

    assert before.status_code == 404
    assert before.json()["code"] == "not_found"
    assert joined.status_code == 201
    assert again.status_code == 200
    assert after.status_code == 200
    body = after.json()
    assert (body["programme"], body["balance"], body["lifetime_points"]) == ("Friends", 0, 0)
    assert body["tier"] == {
        "name": "Member",
        "threshold": 0,
        "multiplier": "1.00",
        "benefits": "Birthday gift",
    }
    assert body["next_tier"] == {"name": "Silver", "points_needed": 500}
    assert again.json() == joined.json()
    assert alice.reload().loyalty.programme == programme


def test_loyalty_shows_points_and_the_tier_earned_by_purchases(programme, alice):
    services.purchase_record(
        order_id="ord-1",
        currency="JPY",
        total="64000",
        paid_at="2025-06-01T10:00:00+09:00",
        customer_id=alice.customer.pk,
    )

    body = alice.api.get("/api/v1/customers/me/loyalty/").json()

    assert (body["balance"], body["lifetime_points"], body["tier"]["name"]) == (640, 640, "Silver")
    assert body["next_tier"] == {"name": "Gold", "points_needed": 1360}


def test_joining_without_an_active_programme_is_400(alice):
    response = alice.api.post("/api/v1/customers/me/loyalty/join/")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert alice.api.get("/api/v1/customers/me/loyalty/").status_code == 404


def test_loyalty_entries_are_paginated_newest_first(programme, alice):
    for n in range(1, 26):
        services.points_adjust(alice.customer, points=n, reason=f"Gift {n}")

    first = alice.api.get("/api/v1/customers/me/loyalty/entries/")
    second = alice.api.get("/api/v1/customers/me/loyalty/entries/", {"page": 2})

    assert first.status_code == second.status_code == 200
    assert first.json()["count"] == 25
    assert [e["points"] for e in first.json()["results"]] == list(range(25, 5, -1))
    assert first.json()["next"].endswith("/api/v1/customers/me/loyalty/entries/?page=2")
    assert [e["points"] for e in second.json()["results"]] == [5, 4, 3, 2, 1]
    assert second.json()["next"] is None
    assert {e["kind"] for e in first.json()["results"]} == {"adjust"}


def test_loyalty_entries_are_empty_for_a_non_member(alice):
    response = alice.api.get("/api/v1/customers/me/loyalty/entries/")

    assert response.status_code == 200
    assert (response.json()["count"], response.json()["results"]) == (0, [])


# --- Export ----------------------------------------------------------------------------------


def test_export_returns_the_profile_and_what_belongs_to_it(programme, alice):
    address(alice.customer, line1="1-2-3 Jingumae")
    services.consent_set(
        alice.customer, medium="sms", granted=True, source=ConsentSource.STOREFRONT
    )
    services.points_adjust(alice.customer, points=30, reason="Welcome")

    response = alice.api.get("/api/v1/customers/me/export/")

    assert response.status_code == 200
    body = response.json()
    assert body["profile"] == {
        "id": alice.customer.pk,
        "state": "active",
        "first_name": "Alice",
        "last_name": "Abe",
        "first_name_reading": "",
        "last_name_reading": "",
        "email": "alice@example.com",
        "phone": "",
        "notes": "",
        "language": "en",
        "acquired_channel": None,
        "acquired_at": alice.customer.acquired_at.isoformat(),
        "has_login": True,
        "tags": [],
    }
    assert [a["line1"] for a in body["addresses"]] == ["1-2-3 Jingumae"]
    assert [(c["medium"], c["granted"]) for c in body["consents"]] == [("sms", True)]
    assert (body["loyalty"]["balance"], [e["points"] for e in body["loyalty"]["entries"]]) == (
        30,
        [30],
    )


def test_the_unsubscribe_page_from_a_messages_link_asks_then_opts_out(alice, https_client):
    from customers.views import unsubscribe_url

    services.consent_set(alice.customer, medium="email", granted=True, source="storefront")
    path = urlsplit(unsubscribe_url(alice.customer, "email")).path

    asked = https_client.get(path)
    done = https_client.post(path)  # also what a mail provider's one-click POST does
    broken = https_client.get(path[:-5] + "xxxx/")

    assert asked.status_code == 200 and b"<form" in asked.content
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    assert Consent.objects.get(customer=alice.customer, medium="email").granted is False
    assert broken.status_code == 400
