"""Reads shared by the API, the admin and commands."""

from __future__ import annotations

import contextlib

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet

from customers.models import Customer, ExternalIdentifier
from customers.normalise import normalise_email, normalise_phone


def customer_search(queryset: QuerySet[Customer], term: str) -> QuerySet[Customer]:
    """Staff search: names and their readings, e-mail, phone (typed any way: "090-1234-5678"
    finds +819012345678), and external identifiers such as a member card number."""
    term = (term or "").strip()
    if not term:
        return queryset
    match = Q()
    for word in term.split():
        match &= (
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(first_name_reading__icontains=word)
            | Q(last_name_reading__icontains=word)
            | Q(email__icontains=word)
        )
    if "@" in term:
        with contextlib.suppress(ValidationError):
            match |= Q(email=normalise_email(term))
    digits = sum(ch.isdigit() for ch in term)
    if digits >= 6:
        with contextlib.suppress(ValidationError):
            match |= Q(phone=normalise_phone(term))
    match |= Q(pk__in=ExternalIdentifier.objects.filter(value=term).values("customer_id"))
    return queryset.filter(match)


def customers_for_staff() -> QuerySet[Customer]:
    return Customer.objects.select_related("acquired_channel", "loyalty__tier").prefetch_related(
        "tags",
        "segments",
        Prefetch("identifiers", queryset=ExternalIdentifier.objects.select_related("channel")),
    )
