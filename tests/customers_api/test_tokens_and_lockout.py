"""Storefront tokens (hashed, expiring, revoked) and the sign-in lockout, through HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from knox.crypto import hash_token
from knox.models import AuthToken

from tests.customers_api.conftest import PASSWORD, PROBLEM, client

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Hokkaido-winter-snow-77"


def sign_in(email: str, password: str, *, address: str = "198.51.100.7", **extra):
    return client(REMOTE_ADDR=address).post(
        "/api/v1/customers/sign-in/", {"email": email, "password": password}, **extra
    )


def near(when, expected, *, slack=timedelta(seconds=30)) -> bool:
    return abs(when - expected) < slack


# --- Tokens ----------------------------------------------------------------------------------


def test_sign_in_answers_a_token_with_its_expiry_and_stores_only_its_digest(alice):
    response = sign_in("alice@example.com", PASSWORD, format="json")

    assert response.status_code == 200
    body = response.json()
    assert near(parse_datetime(body["expires_at"]), timezone.now() + timedelta(days=14))
    token = body["token"]
    rows = list(AuthToken.objects.filter(user=alice.customer.user))
    assert len(rows) == 2  # registration's and this sign-in's: one per device
    assert hash_token(token) in {row.digest for row in rows}
    for row in rows:
        assert token not in (row.digest, row.token_key)
    assert client(token).get("/api/v1/customers/me/").status_code == 200


def test_an_expired_token_is_refused_with_401(alice):
    AuthToken.objects.filter(user=alice.customer.user).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )

    response = alice.api.get("/api/v1/customers/me/")

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "authentication_failed"
    assert not AuthToken.objects.filter(user=alice.customer.user).exists()  # cleaned up


def test_a_customer_token_is_pushed_back_by_use_but_never_past_the_maximum(alice, settings):
    token = AuthToken.objects.get(user=alice.customer.user)
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() + timedelta(hours=1))

    assert alice.api.get("/api/v1/customers/me/").status_code == 200
    token.refresh_from_db()
    assert near(token.expiry, timezone.now() + timedelta(days=14))

    signed_in_long_ago = timezone.now() - timedelta(days=89)
    AuthToken.objects.filter(pk=token.pk).update(
        created=signed_in_long_ago, expiry=timezone.now() + timedelta(hours=1)
    )
    assert alice.api.get("/api/v1/customers/me/").status_code == 200
    token.refresh_from_db()
    assert near(token.expiry, signed_in_long_ago + timedelta(days=90))


def test_changing_the_password_answers_a_new_token_and_ends_the_others(alice):
    other_device = sign_in("alice@example.com", PASSWORD, format="json").json()["token"]

    response = alice.api.post(
        "/api/v1/customers/me/password/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert near(parse_datetime(body["expires_at"]), timezone.now() + timedelta(days=14))
    assert alice.api.get("/api/v1/customers/me/").status_code == 401
    assert client(other_device).get("/api/v1/customers/me/").status_code == 401
    assert client(body["token"]).get("/api/v1/customers/me/").status_code == 200
    assert AuthToken.objects.filter(user=alice.customer.user).count() == 1


def test_signing_out_ends_every_token_of_the_account(alice):
    other_device = sign_in("alice@example.com", PASSWORD, format="json").json()["token"]

    assert alice.api.post("/api/v1/customers/sign-out/").status_code == 204

    assert alice.api.get("/api/v1/customers/me/").status_code == 401
    assert client(other_device).get("/api/v1/customers/me/").status_code == 401
    assert not AuthToken.objects.filter(user=alice.customer.user).exists()


# --- Lockout ---------------------------------------------------------------------------------


def test_wrong_passwords_lock_the_e_mail_from_that_address_and_never_500(alice):
    """Five wrong passwords for one e-mail from one address, typed however (JSON or a form,
    any case, spaces), lock that pair: the fifth answer and every one after it, the right
    password included, is a 429 problem with Retry-After until the cool-off ends."""
    attempts = [
        ("alice@example.com", "guess-1", "json"),
        ("Alice@Example.com", "guess-2", "json"),
        (" alice@example.com ", "guess-3", "multipart"),
        ("ALICE@EXAMPLE.COM", "Kyoto-autumn-leaves-4", "json"),
        ("alice@example.com", "guess-5" * 18, "json"),
    ]
    answers = [sign_in(email, password, format=kind) for email, password, kind in attempts]

    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert {a.json()["code"] for a in answers[:4]} == {"invalid_credentials"}
    right = sign_in("alice@example.com", PASSWORD, format="json")
    for locked in (answers[4], right):
        assert locked.status_code == 429
        assert locked["Content-Type"] == PROBLEM
        assert locked.json()["code"] == "sign_in_locked"
        assert 29 * 60 < int(locked["Retry-After"]) <= 30 * 60
    assert "token" not in right.json()
    # Another address is not locked: nobody can lock a customer out from elsewhere.
    elsewhere = sign_in("alice@example.com", PASSWORD, address="192.0.2.1", format="json")
    assert elsewhere.status_code == 200
    # After the cool-off the right password works again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    assert sign_in("alice@example.com", PASSWORD, format="json").status_code == 200


def test_a_successful_sign_in_forgets_the_earlier_failures(alice, bob):
    for n in range(4):
        assert sign_in("alice@example.com", f"guess-{n}", format="json").status_code == 401
    assert sign_in("alice@example.com", PASSWORD, format="json").status_code == 200
    assert not AccessAttempt.objects.filter(username="alice@example.com").exists()
    cache.clear()  # the per-address throttle is not what this test is about

    answers = [sign_in("alice@example.com", f"again-{n}", format="json") for n in range(5)]

    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    # Another account from the same address has its own count.
    assert sign_in("bob@example.com", PASSWORD, format="json").status_code == 200
