"""Marketing consent per medium: the current answer plus an append-only history.

An opt-out takes effect in the same transaction that records it, so nothing sent after the
customer's request commits can see them as opted in.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce import events
from customers import events as customer_events
from customers.errors import ValidationFailed
from customers.models import Consent, ConsentChange, ConsentSource, Customer, Medium
from customers.services.profiles import actor_label, customer_resolve

UNSUBSCRIBE_SALT = "customers.unsubscribe"


@transaction.atomic
def consent_set(
    customer: Customer,
    *,
    medium: str,
    granted: bool,
    source: str,
    text_version: str = "",
    actor: AbstractBaseUser | str | None = None,
) -> Consent:
    """Record an answer. Repeating the current answer changes nothing and adds no history."""
    if medium not in Medium.values:
        raise ValidationFailed(
            {
                "medium": [
                    _("Unknown medium %(medium)s; use one of %(known)s.")
                    % {"medium": medium, "known": ", ".join(Medium.values)}
                ]
            }
        )
    if source not in ConsentSource.values:
        raise ValidationFailed({"source": [_("Unknown source %(source)s.") % {"source": source}]})
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    now = timezone.now()
    consent = Consent.objects.filter(customer=customer, medium=medium).first()
    if (
        consent is not None
        and consent.granted == granted
        and (not granted or consent.text_version == text_version)
    ):
        return consent
    ConsentChange.objects.create(
        customer=customer,
        medium=medium,
        granted=granted,
        source=source,
        text_version=text_version,
        occurred_at=now,
        actor=actor_label(actor),
    )
    if consent is None:
        consent = Consent.objects.create(
            customer=customer,
            medium=medium,
            granted=granted,
            text_version=text_version,
            changed_at=now,
        )
    else:
        consent.granted = granted
        consent.text_version = text_version
        consent.changed_at = now
        consent.save(update_fields=["granted", "text_version", "changed_at"])
    events.publish(
        type=customer_events.CONSENT_CHANGED,
        subject_type="customer",
        subject_id=customer.pk,
        payload={
            "customer_id": customer.pk,
            "medium": medium,
            "granted": granted,
            "source": source,
            "text_version": text_version,
        },
    )
    return consent


def consent_states(customer: Customer) -> dict[str, Consent | None]:
    """Every medium with its current answer (None: never asked, which means no)."""
    current = {c.medium: c for c in customer.consents.all()}
    return {medium: current.get(medium) for medium in Medium.values}


def unsubscribe_token(customer: Customer, medium: str) -> str:
    """For the link in a marketing message: signed, so only we can make one; no expiry, because
    an old newsletter's link must still work."""
    return signing.dumps({"c": customer.pk, "m": medium}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_read(token: str) -> tuple[Customer, str]:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        customer = Customer.objects.get(pk=data["c"])
        medium = data["m"]
    except (signing.BadSignature, KeyError, TypeError, Customer.DoesNotExist) as exc:
        raise ValidationFailed({"token": [_("This unsubscribe link is not valid.")]}) from exc
    if medium not in Medium.values:
        raise ValidationFailed({"token": [_("This unsubscribe link is not valid.")]})
    return customer, medium


def unsubscribe(token: str) -> tuple[Customer, str]:
    customer, medium = unsubscribe_read(token)
    customer = customer_resolve(customer)
    consent_set(
        customer,
        medium=medium,
        granted=False,
        source=ConsentSource.UNSUBSCRIBE_LINK,
        actor="customer",
    )
    return customer, medium
