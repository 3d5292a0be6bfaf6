"""Canonical forms for what people type: e-mail addresses and phone numbers."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _


def normalise_email(value: str | None) -> str:
    """Trimmed and lower-cased: merchants and shoppers treat addresses as case-insensitive.

    Raises ValidationError for something that is not an e-mail address; "" stays "".
    """
    email = (value or "").strip().lower()
    if email:
        validate_email(email)
    return email


def normalise_phone(value: str | None, region: str | None = None) -> str:
    """E.164 (`+819012345678`). A number without a country code is read as one of `region`
    (an address's country), else of CUSTOMERS_DEFAULT_PHONE_REGION."""
    raw = (value or "").strip()
    if not raw:
        return ""
    region = (region or settings.CUSTOMERS_DEFAULT_PHONE_REGION).upper()
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(_("%(value)s is not a phone number.") % {"value": raw}) from exc
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(_("%(value)s is not a possible phone number.") % {"value": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
