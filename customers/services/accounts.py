"""Storefront logins: register, sign in and out, change and reset passwords.

A login is a Django user with no staff rights, linked one-to-one to a profile. Its username is
internal ("c-" + random hex): customers sign in with their e-mail address, which can change.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from commerce import events, tokens
from commerce.messaging import account_message_send
from commerce.models import Channel
from customers import events as customer_events
from customers.errors import (
    InvalidConfirmationLink,
    InvalidCredentials,
    InvalidResetLink,
    ValidationFailed,
)
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
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedIn:
    customer: Customer
    token: str  # shown once: only its digest is stored
    expires_at: datetime | None = None


def _check_password(password: str, user=None, field: str = "password") -> None:
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed({field: [str(m) for m in exc.messages]}) from exc


@dataclass(frozen=True)
class ConfirmationSent:
    """The e-mail belongs to a guest profile: the account joins it once the link is opened."""

    email: str


CLAIM_SALT = "customers.claim-guest-profile"


@transaction.atomic
def account_register(
    *,
    email: str,
    password: str,
    channel: Channel | None = None,
    marketing_consent: dict[str, bool] | None = None,
    consent_text_version: str = "",
    **profile: Any,
) -> SignedIn | ConfirmationSent:
    """Give a person a login, signed in at once for a new e-mail address.

    When a guest profile (someone who ordered without an account) already has this e-mail, the
    login is created inactive and a link is e-mailed: only the address's owner can join the
    account to that profile and its purchases, addresses and points (`account_confirm`).
    """
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
    _check_password(password, user=User(email=email, first_name=profile.get("first_name", "")))
    if customer is not None:
        return _register_pending(
            customer,
            email=email,
            password=password,
            claim={
                "profile": profile,
                "consent": marketing_consent or {},
                "text_version": consent_text_version,
                "channel": channel.code if channel else None,
            },
        )
    user = User(username=f"c-{secrets.token_hex(8)}", email=email)
    user.set_password(password)
    user.save()
    customer = customer_create(
        email=email, channel=channel, actor="customer", registering=True, **profile
    )
    return _activate(
        customer,
        user,
        channel=channel,
        marketing_consent=marketing_consent or {},
        consent_text_version=consent_text_version,
    )


def _register_pending(
    customer: Customer, *, email: str, password: str, claim: dict[str, Any]
) -> ConfirmationSent:
    # Each attempt gets its own inactive login; the link names it, so an older attempt's link
    # cannot finish with a password someone else chose later.
    user = User(username=f"c-{secrets.token_hex(8)}", email=email, is_active=False)
    user.set_password(password)
    user.save()
    token = signing.dumps({"u": user.pk, "c": customer.pk, **claim}, salt=CLAIM_SALT, compress=True)
    link = settings.CUSTOMERS_CONFIRM_URL.format(token=token)
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    account_message_send(
        kind="account_confirmation",
        to=email,
        language=customer.language,
        customer_id=customer.pk,
        context={"link": link, "hours": hours},
    )
    return ConfirmationSent(email=email)


@transaction.atomic
def account_confirm(*, token: str) -> SignedIn:
    """Join a pending login to the guest profile named in the e-mailed link (once)."""
    try:
        claim = signing.loads(token, salt=CLAIM_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT)
        user = User.objects.select_for_update(of=("self",)).get(
            pk=claim["u"], is_active=False, customer__isnull=True
        )
        customer = Customer.objects.select_for_update().get(
            pk=claim["c"], state=Customer.State.ACTIVE, user__isnull=True
        )
    except (signing.BadSignature, KeyError, TypeError, User.DoesNotExist, Customer.DoesNotExist):
        raise InvalidConfirmationLink() from None
    if customer.email != user.email:
        raise InvalidConfirmationLink()
    user.is_active = True
    user.save(update_fields=["is_active"])
    profile = claim.get("profile") or {}
    blanks = {
        name: value for name, value in profile.items() if value and not getattr(customer, name)
    }
    if blanks:
        with contextlib.suppress(ValidationFailed):
            customer = customer_update(customer, actor="customer", **blanks)
    channel = Channel.objects.filter(code=claim.get("channel") or "").first()
    return _activate(
        customer,
        user,
        channel=channel,
        marketing_consent=claim.get("consent") or {},
        consent_text_version=claim.get("text_version") or "",
    )


def _activate(
    customer: Customer,
    user,
    *,
    channel: Channel | None,
    marketing_consent: dict[str, bool],
    consent_text_version: str,
) -> SignedIn:
    customer.user = user
    customer.save(update_fields=["user", "updated_at"])
    for medium, granted in marketing_consent.items():
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
    return _signed_in(customer, user)


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
    if not user.is_active:
        make_password(password)  # the same time as a wrong password
        raise InvalidCredentials()
    if not user.check_password(password):
        raise InvalidCredentials()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return _signed_in(customer, user)


def _signed_in(customer: Customer, user) -> SignedIn:
    """A new token per sign-in (each device its own), expiring after the customer TTL."""
    issued = tokens.token_issue(user=user, ttl=tokens.customer_token_ttl())
    return SignedIn(customer=customer, token=issued.token, expires_at=issued.expires_at)


def account_sign_out(*, user) -> None:
    """Every session of this login ends: each device's token stops working."""
    tokens.tokens_revoke(user=user)


@transaction.atomic
def account_change_password(
    *, customer: Customer, current_password: str, new_password: str
) -> SignedIn:
    """Returns a new token: the old ones (perhaps on a stolen device) stop working."""
    user = User.objects.select_for_update().get(pk=customer.user_id)
    if not user.check_password(current_password):
        raise ValidationFailed({"current_password": [_("The current password is not correct.")]})
    _check_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    tokens.tokens_revoke(user=user)
    return _signed_in(customer, user)


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
    account_message_send(
        kind="password_reset",
        to=customer.email,
        language=customer.language,
        customer_id=customer.pk,
        context={"link": link, "hours": hours},
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
    tokens.tokens_revoke(user=user)
