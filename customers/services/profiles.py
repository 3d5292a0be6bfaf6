"""Profiles: create, change, find-or-create, identifiers, addresses, history."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce import events
from commerce.models import Channel
from customers import events as customer_events
from customers.errors import ProfileClosed, ValidationFailed
from customers.models import Address, Customer, ExternalIdentifier, HistoryEntry, Tag
from customers.normalise import normalise_email, normalise_phone

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "first_name_reading",
    "last_name_reading",
    "email",
    "phone",
    "language",
    "notes",
)
ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "first_name_reading",
    "last_name_reading",
    "company",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)


def actor_label(actor: AbstractBaseUser | str | None) -> str:
    """What history rows store as "by": a username survives the user being deleted."""
    if actor is None:
        return ""
    if isinstance(actor, str):
        return actor
    return actor.get_username() if actor.is_authenticated else ""


def history_add(
    customer: Customer,
    *,
    kind: str,
    message: str,
    actor: AbstractBaseUser | str | None = None,
    data: dict[str, Any] | None = None,
) -> HistoryEntry:
    return HistoryEntry.objects.create(
        customer=customer, kind=kind, message=message, data=data or {}, actor=actor_label(actor)
    )


def _clean_contact(fields: dict[str, Any], *, region: str | None = None) -> dict[str, Any]:
    """Normalise e-mail and phone in place, collecting errors by field."""
    errors: dict[str, list[str]] = {}
    if "email" in fields:
        try:
            fields["email"] = normalise_email(fields["email"])
        except ValidationError as exc:
            errors["email"] = [str(m) for m in exc.messages]
    if "phone" in fields:
        try:
            fields["phone"] = normalise_phone(fields["phone"], region)
        except ValidationError as exc:
            errors["phone"] = [str(m) for m in exc.messages]
    if errors:
        raise ValidationFailed(errors)
    return fields


def _email_taken(email: str, *, exclude_id: int | None = None) -> bool:
    if not email:
        return False
    others = Customer.objects.filter(state=Customer.State.ACTIVE, email=email)
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    return others.exists()


def _email_in_use_error() -> ValidationFailed:
    return ValidationFailed({"email": [_("Another customer already has this e-mail address.")]})


@transaction.atomic
def customer_create(
    *,
    channel: Channel | None = None,
    actor: AbstractBaseUser | str | None = None,
    tags: Iterable[str] = (),
    acquired_at=None,
    registering: bool = False,
    **fields: Any,
) -> Customer:
    """Create a profile (a guest until it gets a login; `registering` when the login follows in
    the same transaction). E-mail and phone are normalised."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"unknown customer fields: {sorted(unknown)}")
    _clean_contact(fields, region=channel.country if channel else None)
    if not fields.get("language"):
        fields["language"] = channel.default_language if channel else "en"
    # The unique constraint on active e-mails decides (no look first): one statement fewer on
    # every checkout of a new buyer, and the same answer when two create it at once.
    # No savepoint of its own: a refused insert ends this function's atomic block at once,
    # which rolls it back.
    try:
        customer = Customer.objects.create(
            acquired_channel=channel, acquired_at=acquired_at or timezone.now(), **fields
        )
    except IntegrityError as exc:  # an active profile has this e-mail
        raise _email_in_use_error() from exc
    if tags:
        customer_set_tags(customer, tags)
    history_add(
        customer,
        kind=HistoryEntry.Kind.CREATED,
        message=_("Profile created through %(channel)s.")
        % {"channel": channel.name if channel else _("the back office")},
        actor=actor,
    )
    events.publish(
        type=customer_events.CUSTOMER_CREATED,
        subject_type="customer",
        subject_id=customer.pk,
        payload={
            "customer_id": customer.pk,
            "email": customer.email,
            "channel": channel.code if channel else None,
            "guest": not registering,
        },
    )
    return customer


@transaction.atomic
def customer_update(
    customer: Customer, *, actor: AbstractBaseUser | str | None = None, **fields: Any
) -> Customer:
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"unknown customer fields: {sorted(unknown)}")
    customer = (
        Customer.objects.select_for_update(of=("self",))
        .select_related("acquired_channel")
        .get(pk=customer.pk)
    )
    if not customer.is_active:
        raise ProfileClosed()
    channel = customer.acquired_channel
    _clean_contact(fields, region=channel.country if channel else None)
    if "email" in fields and not fields["email"] and customer.user_id is not None:
        # The login signs in and resets its password by e-mail: blanking it locks them out.
        raise ValidationFailed(
            {"email": [_("A customer with an account needs an e-mail address.")]}
        )
    if "email" in fields and _email_taken(fields["email"], exclude_id=customer.pk):
        raise _email_in_use_error()
    changed = [name for name, value in fields.items() if getattr(customer, name) != value]
    if not changed:
        return customer
    for name in changed:
        setattr(customer, name, fields[name])
    try:
        with transaction.atomic():
            customer.save(update_fields=[*changed, "updated_at"])
    except IntegrityError as exc:
        raise _email_in_use_error() from exc
    if "email" in changed and customer.user_id:
        # The login follows the profile's address, so sign-in keeps working.
        customer.user.email = customer.email
        customer.user.save(update_fields=["email"])
    history_add(
        customer,
        kind=HistoryEntry.Kind.UPDATED,
        message=_("Changed: %(fields)s.") % {"fields": ", ".join(changed)},
        actor=actor,
        data={"fields": changed},
    )
    events.publish(
        type=customer_events.CUSTOMER_UPDATED,
        subject_type="customer",
        subject_id=customer.pk,
        payload={"customer_id": customer.pk, "fields": changed},
    )
    return customer


def customer_set_tags(customer: Customer, names: Iterable[str]) -> None:
    tags = []
    for name in {n.strip() for n in names if n and n.strip()}:
        tag, _created = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    customer.tags.set(tags)


def customer_tag_add(customer: Customer, name: str) -> bool:
    """Add one tag; True when the customer did not have it. A set union in SQL (no read of the
    other tags), so two concurrent tags never overwrite each other."""
    tag, _created = Tag.objects.get_or_create(name=name.strip())
    through = Customer.tags.through
    had = through.objects.filter(customer_id=customer.pk, tag_id=tag.pk).exists()
    through.objects.bulk_create(
        [through(customer_id=customer.pk, tag_id=tag.pk)], ignore_conflicts=True
    )
    return not had


def customer_tag_remove(customer: Customer, name: str) -> bool:
    """Remove one tag; True when the customer had it."""
    deleted, _rows = Customer.tags.through.objects.filter(
        customer_id=customer.pk, tag__name=name.strip()
    ).delete()
    return deleted > 0


def customer_resolve(customer: Customer) -> Customer:
    """The profile that now stands for `customer`: itself, or the survivor of its merges."""
    seen = {customer.pk}
    while customer.merged_into_id is not None and customer.merged_into_id not in seen:
        seen.add(customer.merged_into_id)
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def customer_find(
    *, email: str | None = None, phone: str | None = None, region: str | None = None
) -> Customer | None:
    """The active profile with this e-mail, else (when no e-mail is given) the one with this
    phone number that bought most recently. Inputs are normalised first (a phone number without
    country code as one of `region`)."""
    active = Customer.objects.filter(state=Customer.State.ACTIVE)
    email = _clean_contact({"email": email or ""})["email"]
    if email:  # the phone is not looked at, so an unusable one does not matter here
        return active.filter(email=email).first()
    phone = _clean_contact({"phone": phone or ""}, region=region)["phone"]
    if phone:
        # Customers who never bought have no last order: they come after those who did.
        return (
            active.filter(phone=phone)
            .order_by(F("last_order_at").desc(nulls_last=True), "-id")
            .first()
        )
    return None


def customer_find_or_create(
    *,
    email: str | None = None,
    phone: str | None = None,
    channel: Channel | None = None,
    actor: AbstractBaseUser | str | None = None,
    **fields: Any,
) -> tuple[Customer, bool]:
    """Checkout and the call centre: the person's profile, or a new guest one.

    Found by e-mail when one is given (an e-mail identifies one person), else by phone. Fills
    blanks on a found profile (a phone number learnt at checkout) without overwriting anything.
    Safe against two checkouts creating the same e-mail at once: the loser finds the winner's.
    """
    if not (email or phone):
        raise ValidationFailed({"email": [_("Give an e-mail address or a phone number.")]})
    region = channel.country if channel else None
    try:
        phone = normalise_phone(phone, region)
    except ValidationError as exc:
        if not email:
            raise ValidationFailed({"phone": [str(m) for m in exc.messages]}) from exc
        phone = ""  # an unusable phone number learnt at checkout must not stop the sale
    found = customer_find(email=email, phone=phone)
    if found is None:
        try:  # customer_create is atomic: a refused create leaves nothing behind
            return (
                customer_create(
                    email=email or "", phone=phone or "", channel=channel, actor=actor, **fields
                ),
                True,
            )
        except ValidationFailed:
            found = customer_find(email=email, phone=phone)
            if found is None:
                raise
    blanks = {
        name: value
        for name, value in {"phone": phone, **fields}.items()
        if value and not getattr(found, name)
    }
    if blanks:
        # An unusable phone number learnt at checkout must not stop the sale.
        with contextlib.suppress(ValidationFailed):
            found = customer_update(found, actor=actor, **blanks)
    return found, False


# --- External identifiers --------------------------------------------------------------------


@transaction.atomic
def identifier_add(
    customer: Customer, *, channel: Channel, kind: str, value: str
) -> ExternalIdentifier:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed({"value": [_("This field may not be blank.")]})
    if kind not in ExternalIdentifier.Kind.values:
        raise ValidationFailed({"kind": [_("Unknown identifier kind %(kind)s.") % {"kind": kind}]})
    existing = ExternalIdentifier.objects.filter(channel=channel, kind=kind, value=value).first()
    if existing is not None:
        if existing.customer_id == customer.pk:
            return existing
        raise ValidationFailed(
            {
                "value": [
                    _("This identifier already belongs to customer #%(id)s.")
                    % {"id": existing.customer_id}
                ]
            }
        )
    try:
        with transaction.atomic():
            return ExternalIdentifier.objects.create(
                customer=customer, channel=channel, kind=kind, value=value
            )
    except IntegrityError as exc:  # the same identifier added at the same moment elsewhere
        raise ValidationFailed(
            {"value": [_("This identifier already belongs to another customer.")]}
        ) from exc


def customer_find_by_identifier(*, channel: Channel, kind: str, value: str) -> Customer | None:
    identifier = (
        ExternalIdentifier.objects.select_related("customer")
        .filter(channel=channel, kind=kind, value=(value or "").strip())
        .first()
    )
    return identifier.customer if identifier else None


# --- Addresses -------------------------------------------------------------------------------


def _clean_address(
    fields: dict[str, Any], *, partial: bool, country: str | None = None
) -> dict[str, Any]:
    unknown = set(fields) - {*ADDRESS_FIELDS, "is_default_shipping", "is_default_billing"}
    if unknown:
        raise TypeError(f"unknown address fields: {sorted(unknown)}")
    errors: dict[str, list[str]] = {}
    if "country" in fields:
        fields["country"] = (fields["country"] or "").strip().upper()
        if len(fields["country"]) != 2 or not fields["country"].isalpha():
            errors["country"] = [_("Use the two-letter ISO 3166 country code, e.g. JP.")]
    elif not partial:
        errors["country"] = [_("This field is required.")]
    if not partial and not (fields.get("line1") or "").strip():
        errors["line1"] = [_("This field is required.")]
    if "phone" in fields:
        try:
            fields["phone"] = normalise_phone(fields["phone"], fields.get("country") or country)
        except ValidationError as exc:
            errors["phone"] = [str(m) for m in exc.messages]
    if errors:
        raise ValidationFailed(errors)
    return fields


def _take_default(customer: Customer, address: Address, fields: dict[str, Any]) -> None:
    """Setting a default clears the customer's previous one (a constraint allows only one)."""
    for flag in ("is_default_shipping", "is_default_billing"):
        if fields.get(flag):
            customer.addresses.exclude(pk=address.pk).filter(**{flag: True}).update(**{flag: False})


@transaction.atomic
def address_create(customer: Customer, **fields: Any) -> Address:
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not customer.is_active:
        raise ProfileClosed()
    fields = _clean_address(fields, partial=False)
    first = not customer.addresses.exists()
    if first:  # the first address is where things go until the customer says otherwise
        fields.setdefault("is_default_shipping", True)
        fields.setdefault("is_default_billing", True)
    address = Address(customer=customer, **fields)
    _take_default(customer, address, fields)
    address.save()
    return address


@transaction.atomic
def address_update(address: Address, **fields: Any) -> Address:
    Customer.objects.select_for_update().filter(pk=address.customer_id).first()
    address = Address.objects.get(pk=address.pk)
    fields = _clean_address(fields, partial=True, country=address.country)
    for name, value in fields.items():
        setattr(address, name, value)
    if not address.line1.strip():
        raise ValidationFailed({"line1": [_("This field may not be blank.")]})
    _take_default(address.customer, address, fields)
    address.save()
    return address


@transaction.atomic
def address_delete(address: Address) -> None:
    Customer.objects.select_for_update().filter(pk=address.customer_id).first()
    address.delete()
