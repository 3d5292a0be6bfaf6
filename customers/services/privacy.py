"""A customer's data: export everything we hold (right of access) and erase it (right to be
forgotten), keeping what accounting must keep."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce import events, tokens
from commerce.models import OutboxEvent
from customers import events as customer_events
from customers.errors import ProfileClosed
from customers.models import (
    ConsentChange,
    ConsentSource,
    Customer,
    HistoryEntry,
    Merge,
    PointEntry,
)
from customers.services.profiles import ADDRESS_FIELDS, actor_label

ADDRESS_FIELDS_WITH_DEFAULTS = (*ADDRESS_FIELDS, "is_default_shipping", "is_default_billing")

PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "first_name_reading",
    "last_name_reading",
    "email",
    "phone",
    "notes",
)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def customer_snapshot(customer: Customer) -> dict[str, Any]:
    """The profile's own fields, as JSON-ready values."""
    return {
        "id": customer.pk,
        "state": customer.state,
        **{name: getattr(customer, name) for name in PERSONAL_FIELDS},
        "language": customer.language,
        "acquired_channel": customer.acquired_channel.code if customer.acquired_channel else None,
        "acquired_at": _iso(customer.acquired_at),
        "has_login": customer.user_id is not None,
        "tags": sorted(t.name for t in customer.tags.all()),
    }


def customer_export(customer: Customer) -> dict[str, Any]:
    """Everything this app holds about the person, for a subject access request."""
    loyalty = getattr(customer, "loyalty", None)
    return {
        "exported_at": timezone.now().isoformat(),
        "profile": customer_snapshot(customer),
        "statistics": {
            "order_count": customer.order_count,
            "first_order_at": _iso(customer.first_order_at),
            "last_order_at": _iso(customer.last_order_at),
            "spend": [
                {
                    "currency": s.currency,
                    "orders": s.order_count,
                    "paid": str(s.total_spent),
                    "refunded": str(s.total_refunded),
                }
                for s in customer.spend.all()
            ],
            "rfm_segment": customer.rfm_segment,
        },
        "identifiers": [
            {"channel": i.channel.code, "kind": i.kind, "value": i.value}
            for i in customer.identifiers.select_related("channel")
        ],
        "addresses": [
            {name: getattr(a, name) for name in ADDRESS_FIELDS_WITH_DEFAULTS}
            for a in customer.addresses.all()
        ],
        "consents": [
            {
                "medium": c.medium,
                "granted": c.granted,
                "source": c.source,
                "text_version": c.text_version,
                "occurred_at": _iso(c.occurred_at),
            }
            for c in customer.consent_changes.order_by("occurred_at", "id")
        ],
        "purchases": [
            {
                "order_number": p.order_number or p.order_id,
                "channel": p.channel.code if p.channel else None,
                "currency": p.currency,
                "paid": str(p.total),
                "refunded": str(p.refunded),
                "paid_at": _iso(p.paid_at),
            }
            for p in customer.purchases.select_related("channel").order_by("paid_at")
        ],
        "loyalty": None
        if loyalty is None
        else {
            "balance": loyalty.balance,
            "lifetime_points": loyalty.lifetime_points,
            "tier": loyalty.tier.name if loyalty.tier else None,
            "joined_at": _iso(loyalty.joined_at),
            "entries": [
                {
                    "kind": e.kind,
                    "points": e.points,
                    "reference": e.reference,
                    "reason": e.reason,
                    "at": _iso(e.created_at),
                }
                for e in loyalty.entries.order_by("created_at", "id")
            ],
        },
        "segments": sorted(s.name for s in customer.segments.all()),
        "history": [
            {"kind": h.kind, "message": h.message, "at": _iso(h.created_at)}
            for h in customer.history.order_by("created_at", "id")
        ],
    }


@transaction.atomic
def customer_erase(
    customer: Customer, *, actor: AbstractBaseUser | str | None = None, reason: str = ""
) -> Customer:
    """Remove the person from the profile. Kept: purchases (amounts, dates, order numbers:
    accounting must keep them) and the point ledger (no personal data). Gone: names, contact
    details, notes, addresses, identifiers, tags, the login, segment memberships. Consent
    history is anonymised with the profile and every consent is withdrawn. `customer.erased`
    tells the other apps to anonymise their copies (order addresses, return notes)."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.state == Customer.State.ERASED:
        raise ProfileClosed(_("This customer has already been erased."))
    if customer.state == Customer.State.MERGED:
        raise ProfileClosed(_("Erase the profile this one was merged into instead."))
    user = customer.user
    for name in PERSONAL_FIELDS:
        setattr(customer, name, "")
    customer.state = Customer.State.ERASED
    customer.erased_at = timezone.now()
    customer.user = None
    customer.save()
    if user is not None:
        _login_erase(user)
    customer.addresses.all().delete()
    customer.identifiers.all().delete()
    customer.tags.clear()
    customer.memberships.all().delete()
    withdrawn = [c.medium for c in customer.consents.filter(granted=True)]
    customer.consents.update(granted=False, changed_at=customer.erased_at)
    ConsentChange.objects.bulk_create(
        ConsentChange(
            customer=customer,
            medium=medium,
            granted=False,
            source=ConsentSource.ERASURE,
            occurred_at=customer.erased_at,
        )
        for medium in withdrawn
    )
    customer.history.all().delete()
    erased_ids = [customer.pk, *_erase_merged_profiles(customer)]
    _scrub_traces(erased_ids)
    HistoryEntry.objects.create(
        customer=customer,
        kind=HistoryEntry.Kind.ERASED,
        message=_("Personal data erased."),
        data={"reason": reason} if reason else {},
        actor=actor_label(actor),
    )
    events.publish(
        type=customer_events.CUSTOMER_ERASED,
        subject_type="customer",
        subject_id=customer.pk,
        payload={"customer_id": customer.pk},
    )
    return customer


def _login_erase(user) -> None:
    """The login can never sign in again and keeps nothing that names the person."""
    tokens.tokens_revoke(user=user)
    user.username = f"erased-{secrets.token_hex(8)}"
    user.email = ""
    user.first_name = user.last_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()


def _erase_merged_profiles(customer: Customer) -> list[int]:
    """Profiles merged into this one were the same person: their personal data goes too,
    including a login the merge retired (it still holds the duplicate's e-mail). Returns their
    ids."""
    erased: list[int] = []
    merges = Merge.objects.filter(survivor=customer)
    for merge in merges.select_related("duplicate"):
        duplicate = merge.duplicate
        erased.append(duplicate.pk)
        Customer.objects.filter(pk=duplicate.pk).update(
            **dict.fromkeys(PERSONAL_FIELDS, ""), erased_at=timezone.now()
        )
        login_id = (merge.snapshot or {}).get("login_id")
        if login_id:
            # Unless it moved to the survivor (then it was erased with it, or still in use).
            for retired in get_user_model().objects.filter(pk=login_id, customer__isnull=True):
                _login_erase(retired)
        duplicate.history.all().delete()
        erased += _erase_merged_profiles(duplicate)
    merges.update(snapshot={})
    return erased


# What events and the ledger may hold that names the person.
PERSONAL_PAYLOAD_KEYS = ("email", "phone", "first_name", "last_name", "name")


def _scrub_traces(customer_ids: list[int]) -> None:
    """Events about these customers keep their ids and facts, not names or contact details;
    staff's free-text reasons on their point adjustments go too."""
    subject_ids = [str(pk) for pk in customer_ids]
    for event in OutboxEvent.objects.filter(subject_type="customer", subject_id__in=subject_ids):
        payload = {k: v for k, v in event.payload.items() if k not in PERSONAL_PAYLOAD_KEYS}
        if payload != event.payload:
            OutboxEvent.objects.filter(pk=event.pk).update(payload=payload)
    PointEntry.objects.filter(
        account__customer_id__in=customer_ids, kind=PointEntry.Kind.ADJUST
    ).update(reason="")
