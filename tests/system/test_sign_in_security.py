"""Staff sign-in as an operator meets it: the admin's lockout, API tokens made by command,
stored as digests, expiring, revocable, and listed in the admin without their digests."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.throttling import BaseThrottle

from commerce.client_ip import client_ip
from demo.services import OPERATIONS_TOKEN, operations_token_refresh
from tests.factories import StaffFactory, UserFactory, token_for

pytestmark = pytest.mark.usefixtures("plain_static_files")

PASSWORD = "correct horse battery staple"  # the factories' password


def admin_sign_in(client, username: str, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


# --- The admin's lockout ---------------------------------------------------------------------


def test_admin_sign_in_locks_out_after_repeated_failures_until_the_cool_off_ends(db, https_client):
    StaffFactory(username="kenji")

    answers = [admin_sign_in(https_client, "kenji", f"guess-{n}") for n in range(5)]

    # Four ordinary refusals (the form again), then the lockout page, in the admin's look.
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert all("Please enter the correct username" in a.content.decode() for a in answers[:4])
    locked = answers[4]
    assert "admin/locked_out.html" in [t.name for t in locked.templates]
    page = locked.content.decode()
    assert "Sign-in locked" in page
    assert "failed 5 times in a row" in page
    assert "Try again in 30 minutes" in page
    assert 29 * 60 < int(locked["Retry-After"]) <= 30 * 60
    # The right password is refused too while the lock lasts, and signs nobody in.
    right = admin_sign_in(https_client, "kenji", PASSWORD)
    assert right.status_code == 429
    assert "_auth_user_id" not in https_client.session
    assert https_client.get("/admin/").status_code == 302  # to the sign-in page
    # After the cool-off the right password signs in, and the failures are forgotten.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    signed_in = admin_sign_in(https_client, "kenji", PASSWORD)
    assert (signed_in.status_code, signed_in["Location"]) == (302, "/admin/")
    assert https_client.get("/admin/").status_code == 200
    assert not AccessAttempt.objects.filter(username="kenji").exists()


def test_admin_lockout_is_per_user_name_and_address(db, https_client, client):
    StaffFactory(username="kenji")
    StaffFactory(username="yui")
    for n in range(5):
        admin_sign_in(https_client, "kenji", f"guess-{n}")

    # Another user from the same address, and the same user from another address, sign in.
    assert admin_sign_in(https_client, "yui", PASSWORD).status_code == 302
    elsewhere = client.__class__(
        HTTP_HOST="testserver", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="192.0.2.44"
    )
    assert admin_sign_in(elsewhere, "kenji", PASSWORD).status_code == 302


def test_a_made_up_forwarded_for_header_does_not_dodge_the_admin_lockout(db, https_client):
    """NUM_PROXIES=0: X-Forwarded-For is not trusted, as for the API's throttles."""
    StaffFactory(username="kenji")

    answers = [
        https_client.post(
            "/admin/login/",
            {"username": "kenji", "password": f"guess-{n}"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        ).status_code
        for n in range(6)
    ]

    assert answers == [200, 200, 200, 200, 429, 429]


@pytest.mark.parametrize(
    ("num_proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.2"),  # not trusted: anyone can send the header
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # a made-up first entry is ignored
        (2, "198.51.100.1, 203.0.113.9, 10.0.0.7", "203.0.113.9"),
        (1, None, "10.0.0.2"),
    ],
)
def test_lockouts_key_on_the_client_address_the_throttles_use(
    settings, num_proxies, forwarded, expected
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    headers = {"REMOTE_ADDR": "10.0.0.2"}
    if forwarded:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().post("/admin/login/", **headers)

    assert client_ip(request) == expected
    assert client_ip(request) == BaseThrottle().get_ident(request)


def test_the_browsable_api_sign_in_locks_out_with_a_problem_not_a_page(db, https_client):
    StaffFactory(username="kenji")

    answers = [
        https_client.post("/api/auth/login/", {"username": "kenji", "password": f"guess-{n}"})
        for n in range(5)
    ]

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    locked = answers[4]
    assert locked["Content-Type"] == "application/problem+json"
    assert locked.json()["code"] == "login_locked"
    assert int(locked["Retry-After"]) > 29 * 60


# --- Staff API tokens ------------------------------------------------------------------------


def test_create_api_token_prints_a_token_once_that_works_and_is_stored_as_a_digest(db, api_client):
    StaffFactory(username="ops", permissions=["catalog.view_product"])
    out, err = io.StringIO(), io.StringIO()

    call_command("create_api_token", "ops", "--days", "7", stdout=out, stderr=err)

    token = out.getvalue().strip()
    assert len(token) == 64
    assert "expires" in err.getvalue() and token not in err.getvalue()
    [row] = AuthToken.objects.filter(user__username="ops")
    assert row.digest == hash_token(token)
    assert token not in (row.digest, row.token_key)
    assert timedelta(days=7) - timedelta(minutes=1) < row.expiry - timezone.now()
    assert row.expiry - timezone.now() <= timedelta(days=7)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/v1/staff/products/").status_code == 200
    # A staff token keeps the expiry it was issued with, however often it is used.
    row.refresh_from_db()
    assert row.expiry - timezone.now() <= timedelta(days=7)


def test_create_api_token_defaults_to_the_staff_lifetime(db, settings):
    StaffFactory(username="ops")
    settings.API_TOKEN_STAFF_TTL_DAYS = 30

    call_command("create_api_token", "ops", stdout=io.StringIO(), stderr=io.StringIO())

    expiry = AuthToken.objects.get(user__username="ops").expiry
    assert timedelta(days=30) - timedelta(minutes=1) < expiry - timezone.now() <= timedelta(days=30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No user 'nobody'."),
        (["shopper"], "'shopper' is not an active staff user; staff tokens only."),
        (["ops", "--days", "0"], "--days must be between 1 and 3650."),
    ],
)
def test_create_api_token_refuses_what_it_should_not_issue(db, args, message):
    StaffFactory(username="ops")
    UserFactory(username="shopper")

    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", *args, stdout=io.StringIO(), stderr=io.StringIO())

    assert not AuthToken.objects.exists()


def test_an_expired_staff_token_is_401_with_the_token_challenge(db, api_client):
    staff = StaffFactory(permissions=["catalog.view_product"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(staff)}")
    AuthToken.objects.filter(user=staff).update(expiry=timezone.now() - timedelta(seconds=1))

    response = api_client.get("/api/v1/staff/products/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "authentication_failed"


def test_revoke_api_tokens_ends_every_token_of_the_user(db, api_client):
    staff = StaffFactory(username="ops", permissions=["catalog.view_product"])
    first, second = token_for(staff), token_for(staff)
    other = token_for(StaffFactory(permissions=["catalog.view_product"]))
    out = io.StringIO()

    call_command("revoke_api_tokens", "ops", stdout=out)

    assert out.getvalue() == "Revoked 2 token(s) of ops.\n"
    for token, status in [(first, 401), (second, 401), (other, 200)]:
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert api_client.get("/api/v1/staff/products/").status_code == status


def test_the_token_admin_lists_tokens_without_their_digests_and_revokes_them(
    superuser_client,
):
    staff = StaffFactory(username="ops")
    token = token_for(staff)
    row = AuthToken.objects.get(user=staff)

    page = superuser_client.get("/admin/knox/authtoken/")

    assert page.status_code == 200
    # The digest is the row's primary key, so links and checkboxes carry it (it is no login:
    # only the token signs in); it is never shown as text. The token is nowhere.
    html = page.content.decode()
    shown = re.sub(r'(href|value)="[^"]*"', "", html)
    assert row.token_key in shown and "ops" in shown
    assert row.digest not in shown and token not in html
    detail = superuser_client.get(f"/admin/knox/authtoken/{row.pk}/change/").content.decode()
    assert row.token_key in detail
    assert row.digest not in re.sub(r'(href|value|action)="[^"]*"', "", detail)
    assert token not in detail
    assert superuser_client.get("/admin/knox/authtoken/add/").status_code == 403
    revoked = superuser_client.post(f"/admin/knox/authtoken/{row.pk}/delete/", {"post": "yes"})
    assert revoked.status_code == 302
    assert not AuthToken.objects.filter(user=staff).exists()


# --- The demo's fixed token ------------------------------------------------------------------


def test_the_demo_token_is_renewed_at_each_demo_start_so_an_old_demo_still_answers(db, api_client):
    StaffFactory(username="operations", permissions=["catalog.view_product"])
    assert operations_token_refresh() is True
    AuthToken.objects.update(expiry=timezone.now() - timedelta(days=1))  # seeded long ago
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {OPERATIONS_TOKEN}")
    assert api_client.get("/api/v1/staff/products/").status_code == 401

    operations_token_refresh()

    assert api_client.get("/api/v1/staff/products/").status_code == 200
    [row] = AuthToken.objects.all()
    assert row.digest == hash_token(OPERATIONS_TOKEN)
