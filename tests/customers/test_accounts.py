"""Storefront logins: registering, signing in and out, changing and resetting passwords."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from knox.models import AuthToken

from automation.messages.services import messages_send_due
from commerce.events import dispatch
from customers import events as customer_events
from customers.errors import (
    InvalidConfirmationLink,
    InvalidCredentials,
    InvalidResetLink,
    ValidationFailed,
)
from customers.models import ConsentChange, Customer, HistoryEntry, Medium
from customers.services import (
    ConfirmationSent,
    account_authenticate,
    account_change_password,
    account_confirm,
    account_register,
    account_sign_out,
    customer_create,
    password_reset_confirm,
    password_reset_request,
)
from tests.customers.factories import account_of, events_of, order_id, publish_order_paid
from tests.factories import token_owner

PASSWORD = "Sencha-and-mochi-42"
NEW_PASSWORD = "Genmaicha-at-dawn-77"
User = get_user_model()


def register(email: str = "hana@example.com", password: str = PASSWORD, **fields):
    return account_register(email=email, password=password, **fields)


def reset_link(message) -> tuple[str, str]:
    url = re.search(r"https?://\S+", message.body).group(0)
    query = parse_qs(urlsplit(url).query)
    return query["uid"][0], query["token"][0]


# --- Registering -----------------------------------------------------------------------------


def confirmation_token(message) -> str:
    url = re.search(r"https?://\S+", message.body).group(0)
    return parse_qs(urlsplit(url).query)["token"][0]


def test_registering_a_guests_e_mail_joins_the_profile_only_through_the_e_mailed_link(
    programme, web_jp
):
    order = order_id()
    dispatch(publish_order_paid(order, "5000", email="hana@example.com", first_name="Hana").pk)
    guest = Customer.objects.get(email="hana@example.com")

    pending = register(
        email=" HANA@example.com",
        channel=web_jp,
        first_name="Hanako",
        last_name="Sato",
        marketing_consent={Medium.EMAIL: True},
        consent_text_version="2024-04",
    )

    # Nothing of the guest's is reachable yet: typing someone's e-mail is not proof.
    assert pending == ConfirmationSent(email="hana@example.com")
    guest.refresh_from_db()
    assert guest.is_guest
    assert not ConsentChange.objects.exists()
    with pytest.raises(InvalidCredentials):
        account_authenticate(email="hana@example.com", password=PASSWORD)
    messages_send_due()  # account mails go through the messages queue
    [message] = mail.outbox
    assert message.to == ["hana@example.com"]

    signed_in = account_confirm(token=confirmation_token(message))

    customer = signed_in.customer
    assert customer.pk == guest.pk
    assert Customer.objects.count() == 1
    customer.refresh_from_db()
    assert not customer.is_guest
    assert customer.user.email == "hana@example.com"
    assert customer.user.check_password(PASSWORD)
    assert customer.user.is_active and not customer.user.is_staff
    # What the guest already had stays: the order, its points, the name they gave then.
    assert list(customer.purchases.values_list("order_id", flat=True)) == [order]
    assert account_of(customer).balance == 50
    assert (customer.first_name, customer.last_name) == ("Hana", "Sato")
    change = ConsentChange.objects.get(customer=customer)
    assert (change.medium, change.granted, change.text_version) == (Medium.EMAIL, True, "2024-04")
    assert customer.history.filter(kind=HistoryEntry.Kind.REGISTERED).exists()
    [registered] = events_of(customer_events.CUSTOMER_REGISTERED)
    assert registered.payload["customer_id"] == customer.pk
    assert token_owner(signed_in.token) == customer.user
    assert account_authenticate(email="hana@example.com", password=PASSWORD).customer == customer
    # The link works once.
    with pytest.raises(InvalidConfirmationLink):
        account_confirm(token=confirmation_token(message))


def test_a_tampered_confirmation_link_is_refused(db):
    customer_create(email="kei@example.com")
    register(email="kei@example.com")
    messages_send_due()  # account mails go through the messages queue
    token = confirmation_token(mail.outbox[0])

    with pytest.raises(InvalidConfirmationLink):
        account_confirm(token=token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert Customer.objects.get(email="kei@example.com").is_guest


def test_registering_a_new_e_mail_creates_the_profile(web_us):
    signed_in = register(email="new@example.com", channel=web_us, first_name="Nina")

    customer = Customer.objects.get(pk=signed_in.customer.pk)
    assert (customer.email, customer.first_name, customer.language) == (
        "new@example.com",
        "Nina",
        "en",
    )
    assert customer.user_id is not None


def test_an_e_mail_with_an_account_cannot_register_again(db):
    register()
    users = User.objects.count()

    with pytest.raises(ValidationFailed) as raised:
        register(email="Hana@Example.com", password=NEW_PASSWORD)

    assert set(raised.value.errors) == {"email"}
    assert User.objects.count() == users


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "hana@example.com"])
def test_a_weak_password_is_refused_and_nothing_is_created(db, password):
    with pytest.raises(ValidationFailed) as raised:
        register(password=password)

    assert set(raised.value.errors) == {"password"}
    assert not User.objects.exists()
    assert not Customer.objects.exists()


# --- Signing in and out ----------------------------------------------------------------------


def test_signing_in_with_the_right_password(db):
    registered = register()

    signed_in = account_authenticate(email=" Hana@Example.COM ", password=PASSWORD)

    assert signed_in.customer == registered.customer
    # Each sign-in its own token (one per device); the earlier one keeps working.
    assert signed_in.token != registered.token
    assert token_owner(signed_in.token) == token_owner(registered.token) == registered.customer.user
    assert User.objects.get(pk=registered.customer.user_id).last_login is not None


def test_a_wrong_password_and_an_unknown_e_mail_fail_alike(alice):
    register()
    failures = []
    for email, password in [
        ("hana@example.com", "wrong-password"),  # known, wrong password
        ("nobody@example.com", PASSWORD),  # unknown
        ("alice@example.com", PASSWORD),  # a guest: no login
        ("not an e-mail", PASSWORD),
        ("", ""),
    ]:
        with pytest.raises(InvalidCredentials) as raised:
            account_authenticate(email=email, password=password)
        error = raised.value
        failures.append((type(error), str(error), str(error.detail), error.code, error.status))

    assert len(set(failures)) == 1
    assert failures[0][1] == "The e-mail address or the password is not correct."


def test_signing_out_ends_the_token(db):
    signed_in = register()

    other_device = account_authenticate(email="hana@example.com", password=PASSWORD)

    account_sign_out(user=signed_in.customer.user)

    assert token_owner(signed_in.token) is None
    assert token_owner(other_device.token) is None
    assert not AuthToken.objects.filter(user=signed_in.customer.user).exists()


# --- Changing the password -------------------------------------------------------------------


def test_changing_the_password_rotates_the_token(db):
    signed_in = register()

    other_device = account_authenticate(email="hana@example.com", password=PASSWORD)

    changed = account_change_password(
        customer=signed_in.customer, current_password=PASSWORD, new_password=NEW_PASSWORD
    )

    assert changed.token != signed_in.token
    assert token_owner(signed_in.token) is None
    assert token_owner(other_device.token) is None
    assert token_owner(changed.token).pk == signed_in.customer.user_id
    assert AuthToken.objects.filter(user_id=signed_in.customer.user_id).count() == 1
    assert account_authenticate(email="hana@example.com", password=NEW_PASSWORD).customer == (
        signed_in.customer
    )
    with pytest.raises(InvalidCredentials):
        account_authenticate(email="hana@example.com", password=PASSWORD)


def test_the_current_password_must_be_right_and_the_new_one_strong(db):
    signed_in = register()

    with pytest.raises(ValidationFailed) as wrong:
        account_change_password(
            customer=signed_in.customer, current_password="guess", new_password=NEW_PASSWORD
        )
    with pytest.raises(ValidationFailed) as weak:
        account_change_password(
            customer=signed_in.customer, current_password=PASSWORD, new_password="123"
        )

    assert set(wrong.value.errors) == {"current_password"}
    assert set(weak.value.errors) == {"new_password"}
    assert token_owner(signed_in.token) == signed_in.customer.user
    assert account_authenticate(email="hana@example.com", password=PASSWORD)


# --- Resetting the password ------------------------------------------------------------------


def test_a_reset_link_works_once(db, mailoutbox):
    signed_in = register()

    password_reset_request(email="HANA@example.com")

    messages_send_due()  # account mails go through the messages queue
    [message] = mailoutbox
    assert message.to == ["hana@example.com"]
    uid, token = reset_link(message)
    password_reset_confirm(uid=uid, token=token, new_password=NEW_PASSWORD)
    assert token_owner(signed_in.token) is None  # every session ends
    assert account_authenticate(email="hana@example.com", password=NEW_PASSWORD)

    with pytest.raises(InvalidResetLink):
        password_reset_confirm(uid=uid, token=token, new_password="Another-long-phrase-88")
    assert account_authenticate(email="hana@example.com", password=NEW_PASSWORD)


def test_a_reset_link_with_a_weak_password_can_be_used_again(db, mailoutbox):
    register()
    password_reset_request(email="hana@example.com")
    messages_send_due()  # account mails go through the messages queue
    uid, token = reset_link(mailoutbox[0])

    with pytest.raises(ValidationFailed):
        password_reset_confirm(uid=uid, token=token, new_password="1234")
    password_reset_confirm(uid=uid, token=token, new_password=NEW_PASSWORD)

    assert account_authenticate(email="hana@example.com", password=NEW_PASSWORD)


@pytest.mark.parametrize("email", ["nobody@example.com", "alice@example.com", "not an e-mail", ""])
def test_no_reset_e_mail_goes_to_an_address_without_an_account(alice, mailoutbox, email):
    register()

    password_reset_request(email=email)

    messages_send_due()  # account mails go through the messages queue
    assert mailoutbox == []


def test_a_forged_reset_link_is_refused(db, mailoutbox):
    register()
    other = register(email="other@example.com")
    password_reset_request(email="hana@example.com")
    messages_send_due()  # account mails go through the messages queue
    uid, token = reset_link(mailoutbox[0])
    password_reset_request(email="other@example.com")
    messages_send_due()  # account mails go through the messages queue
    other_uid, _other_token = reset_link(mailoutbox[1])

    for bad_uid, bad_token in [(other_uid, token), ("!!!", token), (uid, token[:-2] + "zz")]:
        with pytest.raises(InvalidResetLink):
            password_reset_confirm(uid=bad_uid, token=bad_token, new_password=NEW_PASSWORD)

    assert account_authenticate(email="other@example.com", password=PASSWORD).customer == (
        other.customer
    )


def test_a_staff_login_cannot_be_reset_through_the_storefront(db):
    """A storefront link only works for storefront logins (users with a customer profile)."""
    staff = User.objects.create_user("staff", "staff@example.com", PASSWORD, is_staff=True)
    uid = urlsafe_base64_encode(force_bytes(staff.pk))

    with pytest.raises(InvalidResetLink):
        password_reset_confirm(
            uid=uid, token=default_token_generator.make_token(staff), new_password=NEW_PASSWORD
        )
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)
