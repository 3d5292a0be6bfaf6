"""Merging two profiles of one person into one, in one transaction."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce import events, tokens
from customers import events as customer_events
from customers.errors import MergeRefused
from customers.models import (
    Consent,
    ConsentChange,
    Customer,
    ExternalIdentifier,
    HistoryEntry,
    LoyaltyAccount,
    Merge,
    PointEntry,
    Purchase,
    SegmentMembership,
)
from customers.services.loyalty import loyalty_recount
from customers.services.privacy import PERSONAL_FIELDS, customer_snapshot
from customers.services.profiles import actor_label, history_add
from customers.services.purchases import stats_refresh


@transaction.atomic
def customer_merge(
    *, survivor: Customer, duplicate: Customer, actor: AbstractBaseUser | str | None = None
) -> Merge:
    """Move everything of `duplicate` to `survivor` and close the duplicate.

    Addresses, identifiers, consents with their history, purchases (so statistics), loyalty
    entries (so the balance stays the ledger's sum), tags and the login if the survivor has
    none. Orders and returns live in apps above this one: they follow `customer.merged`.
    """
    if survivor.pk == duplicate.pk:
        raise MergeRefused(_("A profile cannot be merged with itself."))
    # Both rows locked, lower id first, so two merges of the same pair cannot deadlock.
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(pk__in=[survivor.pk, duplicate.pk])
        .order_by("pk")
    }
    survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
    for customer in (survivor, duplicate):
        if not customer.is_active:
            raise MergeRefused(
                _("Customer #%(id)s is %(state)s and cannot take part in a merge.")
                % {"id": customer.pk, "state": customer.get_state_display()}
            )
    snapshot = customer_snapshot(duplicate)
    # Which login the duplicate had: if it is retired below, an erasure must still find it.
    snapshot["login_id"] = duplicate.user_id
    moved: dict[str, Any] = {}

    # Close the duplicate first: its e-mail then no longer counts as taken by an active profile.
    duplicate_user = duplicate.user
    duplicate.state = Customer.State.MERGED
    duplicate.merged_into = survivor
    duplicate.user = None
    duplicate.save(update_fields=["state", "merged_into", "user", "updated_at"])

    # The survivor takes the duplicate's personal fields where its own are empty.
    filled = [
        name for name in PERSONAL_FIELDS if not getattr(survivor, name) and getattr(duplicate, name)
    ]
    for name in filled:
        setattr(survivor, name, getattr(duplicate, name))
    if duplicate.acquired_at < survivor.acquired_at:
        survivor.acquired_at = duplicate.acquired_at
        survivor.acquired_channel = duplicate.acquired_channel
        filled.append("acquired_at")
    if duplicate_user is not None:
        if survivor.user_id is None:
            survivor.user = duplicate_user
            duplicate_user.email = survivor.email
            duplicate_user.save(update_fields=["email"])
            moved["login"] = True
        else:  # one person, one login: the duplicate's stops working
            duplicate_user.is_active = False
            duplicate_user.save(update_fields=["is_active"])
            tokens.tokens_revoke(user=duplicate_user)
            moved["login"] = False
    survivor.save()

    moved["addresses"] = _move_addresses(survivor, duplicate)
    moved["identifiers"] = ExternalIdentifier.objects.filter(customer=duplicate).update(
        customer=survivor
    )
    moved["consent_changes"] = ConsentChange.objects.filter(customer=duplicate).update(
        customer=survivor
    )
    _merge_consents(survivor, duplicate)
    moved["purchases"] = Purchase.objects.filter(customer=duplicate).update(customer=survivor)
    moved["points"] = _merge_loyalty(survivor, duplicate)
    survivor.tags.add(*duplicate.tags.all())
    SegmentMembership.objects.filter(customer=duplicate).delete()
    stats_refresh(survivor)
    stats_refresh(duplicate)  # nothing left: its spend rows and figures go to zero

    merge = Merge.objects.create(
        survivor=survivor,
        duplicate=duplicate,
        snapshot=snapshot,
        moved={**moved, "filled": filled},
        actor=actor_label(actor),
        merged_at=timezone.now(),
    )
    summary = _(
        "Merged profile #%(id)s (%(name)s) into this one: %(addresses)s addresses, "
        "%(identifiers)s identifiers, %(purchases)s purchases, %(points)s points moved."
    ) % {
        "id": duplicate.pk,
        "name": str(duplicate) or duplicate.pk,
        "addresses": moved["addresses"],
        "identifiers": moved["identifiers"],
        "purchases": moved["purchases"],
        "points": moved["points"],
    }
    history_add(survivor, kind=HistoryEntry.Kind.MERGED, message=summary, actor=actor, data=moved)
    history_add(
        duplicate,
        kind=HistoryEntry.Kind.MERGED,
        message=_("Merged into profile #%(id)s.") % {"id": survivor.pk},
        actor=actor,
    )
    events.publish(
        type=customer_events.CUSTOMER_MERGED,
        subject_type="customer",
        subject_id=survivor.pk,
        payload={"survivor_id": survivor.pk, "duplicate_id": duplicate.pk},
    )
    return merge


def _move_addresses(survivor: Customer, duplicate: Customer) -> int:
    """The survivor keeps its defaults; the duplicate's defaults become ordinary addresses,
    or the defaults when the survivor had none."""
    addresses = list(duplicate.addresses.all())
    for flag in ("is_default_shipping", "is_default_billing"):
        if survivor.addresses.filter(**{flag: True}).exists():
            duplicate.addresses.filter(**{flag: True}).update(**{flag: False})
    return duplicate.addresses.update(customer=survivor) if addresses else 0


def _merge_consents(survivor: Customer, duplicate: Customer) -> None:
    """Per medium, the most recent answer of either profile stands: that is what the person
    last told the merchant."""
    for theirs in Consent.objects.filter(customer=duplicate):
        ours = Consent.objects.filter(customer=survivor, medium=theirs.medium).first()
        if ours is None:
            theirs.customer = survivor
            theirs.save(update_fields=["customer"])
            continue
        if theirs.changed_at > ours.changed_at:
            ours.granted = theirs.granted
            ours.text_version = theirs.text_version
            ours.changed_at = theirs.changed_at
            ours.save(update_fields=["granted", "text_version", "changed_at"])
        theirs.delete()


def _merge_loyalty(survivor: Customer, duplicate: Customer) -> int:
    theirs = LoyaltyAccount.objects.select_for_update().filter(customer=duplicate).first()
    if theirs is None:
        return 0
    points = theirs.balance
    ours = LoyaltyAccount.objects.select_for_update().filter(customer=survivor).first()
    if ours is None:
        theirs.customer = survivor
        theirs.save(update_fields=["customer"])
        return points
    PointEntry.objects.filter(account=theirs).update(account=ours)
    theirs.delete()
    loyalty_recount(ours)
    return points
