"""Storefront logins: register, sign in and out, change and reset passwords.

A login is a Django user with no staff rights, linked one-to-one to a profile. Its username is
internal ("c-" + random hex): customers sign in with their e-mail address, which can change.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from commerce import events
from commerce.models import Channel
from customers import events as customer_events
from customers.errors import InvalidCredentials, InvalidResetLink, ValidationFailed
from customers.models import ConsentSource, Customer, HistoryEntry
from customers.normalise import normalise_email
from customers.services.consent import consent_set
from customers.services.profiles import (
    _email_in_use_error,
    customer_create,
    customer_update,
    history_add,
)

User = get_user_model()


@dataclass(frozen=True)
class SignedIn:
    customer: Customer
    token: str


def _check_password(password: str, user=None, field: str = "password") -> None:
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed({field: [str(m) for m in exc.messages]}) from exc


@transaction.atomic
def account_register(
    *,
    email: str,
    password: str,
    channel: Channel | None = None,
    marketing_consent: dict[str, bool] | None = None,
    consent_text_version: str = "",
    **profile: Any,
) -> SignedIn:
    """Give a person a login. A guest profile with the same e-mail (someone who ordered without
    an account) becomes the account, so their earlier purchases stay with them."""
    try:
        email = normalise_email(email)
    except ValidationError as exc:
        raise ValidationFailed({"email": [str(m) for m in exc.messages]}) from exc
    if not email:
        raise ValidationFailed({"email": [_("This field is required.")]})
    customer = (
        Customer.objects.select_for_update()
        .filter(state=Customer.State.ACTIVE, email=email)
        .first()
    )
    if customer is not None and customer.user_id is not None:
        raise _email_in_use_error()
    user = User(username=f"c-{secrets.token_hex(8)}", email=email)
    _check_password(password, user=User(email=email, first_name=profile.get("first_name", "")))
    user.set_password(password)
    user.save()
    if customer is None:
        customer = customer_create(email=email, channel=channel, actor="customer", **profile)
    elif profile:
        blanks = {
            name: value for name, value in profile.items() if value and not getattr(customer, name)
        }
        if blanks:
            customer = customer_update(customer, actor="customer", **blanks)
    customer.user = user
    customer.save(update_fields=["user", "updated_at"])
    for medium, granted in (marketing_consent or {}).items():
        consent_set(
            customer,
            medium=medium,
            granted=granted,
            source=ConsentSource.STOREFRONT,
            text_version=consent_text_version,
            actor="customer",
        )
    history_add(
        customer,
        kind=HistoryEntry.Kind.REGISTERED,
        message=_("Registered a storefront account."),
        actor="customer",
    )
    events.publish(
        type=customer_events.CUSTOMER_REGISTERED,
        subject_type="customer",
        subject_id=customer.pk,
        payload={
            "customer_id": customer.pk,
            "email": customer.email,
            "channel": channel.code if channel else None,
            "language": customer.language,
            "first_name": customer.first_name,
        },
    )
    token = Token.objects.create(user=user)
    return SignedIn(customer=customer, token=token.key)


def account_authenticate(*, email: str, password: str) -> SignedIn:
    """Sign in with e-mail and password; the same error whether the e-mail is unknown or the
    password wrong, and about the same time (an unknown e-mail still hashes a password)."""
    try:
        email = normalise_email(email)
    except ValidationError:
        email = ""
    customer = (
        Customer.objects.select_related("user")
        .filter(state=Customer.State.ACTIVE, email=email, user__isnull=False)
        .first()
        if email
        else None
    )
    user = customer.user if customer else None
    if user is None:
        make_password(password)
        raise InvalidCredentials()
    if not (user.is_active and user.check_password(password)):
        raise InvalidCredentials()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    token, _created = Token.objects.get_or_create(user=user)
    return SignedIn(customer=customer, token=token.key)


def account_sign_out(*, user) -> None:
    """Every session of this login ends: DRF keeps one token per user."""
    Token.objects.filter(user=user).delete()


@transaction.atomic
def account_change_password(*, customer: Customer, current_password: str, new_password: str) -> str:
    """Returns a new token: the old one (perhaps on a stolen device) stops working."""
    user = User.objects.select_for_update().get(pk=customer.user_id)
    if not user.check_password(current_password):
        raise ValidationFailed({"current_password": [_("The current password is not correct.")]})
    _check_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key


def password_reset_request(*, email: str) -> None:
    """E-mail a reset link if the address has an account; say nothing either way.

    The link is Django's password-reset token: it expires after PASSWORD_RESET_TIMEOUT and is
    single-use, because it is bound to the password hash and the last login time.
    """
    try:
        email = normalise_email(email)
    except ValidationError:
        return
    customer = (
        Customer.objects.select_related("user")
        .filter(state=Customer.State.ACTIVE, email=email, user__is_active=True)
        .first()
        if email
        else None
    )
    if customer is None:
        return
    user = customer.user
    link = settings.CUSTOMERS_PASSWORD_RESET_URL.format(
        uid=urlsafe_base64_encode(force_bytes(user.pk)),
        token=default_token_generator.make_token(user),
    )
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    send_mail(
        subject=_("Reset your password"),
        message=_(
            "Someone asked to reset the password of your account. If it was you, open this "
            "link within %(hours)s hours to choose a new password:\n\n%(link)s\n\n"
            "If it was not you, ignore this e-mail; your password stays as it is."
        )
        % {"hours": hours, "link": link},
        from_email=None,
        recipient_list=[customer.email],
    )


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> None:
    try:
        user_pk = force_str(urlsafe_base64_decode(uid))
        user = User.objects.select_for_update().get(pk=user_pk, customer__isnull=False)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist) as exc:
        raise InvalidResetLink() from exc
    if not default_token_generator.check_token(user, token):
        raise InvalidResetLink()
    _check_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    Token.objects.filter(user=user).delete()
