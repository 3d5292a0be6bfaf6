"""Marketing consent: an opt-out counts at once, and every answer stays on record."""

from __future__ import annotations

import pytest
from django.core import signing

from customers import events as customer_events
from customers.errors import ValidationFailed
from customers.models import Consent, ConsentChange, ConsentSource, Medium, Segment
from customers.segments import segment_queryset, segment_recompute
from customers.services import (
    consent_set,
    consent_states,
    customer_merge,
    unsubscribe,
    unsubscribe_read,
    unsubscribe_token,
)
from customers.services.consent import UNSUBSCRIBE_SALT
from tests.customers.factories import events_of, last_event_id

EMAIL_OPTED_IN = [{"field": "consent", "medium": "email"}]


def history(customer) -> list[tuple]:
    return list(
        ConsentChange.objects.filter(customer=customer)
        .order_by("id")
        .values_list("pk", "medium", "granted", "source", "text_version", "occurred_at", "actor")
    )


def test_an_opt_out_is_honoured_immediately_and_the_history_kept(alice, bob):
    consent_set(
        alice, medium=Medium.EMAIL, granted=True, source=ConsentSource.CHECKOUT, text_version="v3"
    )
    consent_set(
        bob, medium=Medium.EMAIL, granted=True, source=ConsentSource.CHECKOUT, text_version="v3"
    )
    segment = Segment.objects.create(name="Newsletter", slug="newsletter", rule=EMAIL_OPTED_IN)
    assert segment_recompute(segment) == 2
    opted_in = history(alice)
    before = last_event_id()

    consent = consent_set(
        alice, medium=Medium.EMAIL, granted=False, source=ConsentSource.STOREFRONT, actor="customer"
    )

    assert Consent.objects.get(customer=alice, medium=Medium.EMAIL).granted is False
    assert consent.granted is False
    # Whoever asks next, in the same transaction or not, no longer finds her.
    assert list(segment_queryset(EMAIL_OPTED_IN)) == [bob]
    assert segment_recompute(segment) == 1
    assert list(segment.members.all()) == [bob]
    # The opt-in is still on record, untouched; the opt-out follows it.
    rows = history(alice)
    assert rows[:1] == opted_in
    assert [(r[1], r[2], r[3], r[4], r[6]) for r in rows] == [
        (Medium.EMAIL, True, ConsentSource.CHECKOUT, "v3", ""),
        (Medium.EMAIL, False, ConsentSource.STOREFRONT, "", "customer"),
    ]
    assert rows[1][5] >= rows[0][5]
    [changed] = events_of(customer_events.CONSENT_CHANGED, after_id=before)
    assert changed.payload == {
        "customer_id": alice.pk,
        "medium": Medium.EMAIL,
        "granted": False,
        "source": ConsentSource.STOREFRONT,
        "text_version": "",
    }


def test_repeating_an_answer_adds_no_history_but_a_new_wording_does(alice):
    for version in ["v1", "v1", "v2"]:
        consent_set(
            alice,
            medium=Medium.SMS,
            granted=True,
            source=ConsentSource.STOREFRONT,
            text_version=version,
        )
    for _ in range(2):
        consent_set(alice, medium=Medium.SMS, granted=False, source=ConsentSource.STAFF, actor="s")

    assert [(r[2], r[4]) for r in history(alice)] == [(True, "v1"), (True, "v2"), (False, "")]
    assert len(events_of(customer_events.CONSENT_CHANGED)) == 3


def test_never_asked_means_no(alice):
    consent_set(alice, medium=Medium.LINE, granted=True, source=ConsentSource.IMPORT)

    states = consent_states(alice)
    assert set(states) == set(Medium.values)
    assert states[Medium.LINE].granted is True
    assert states[Medium.EMAIL] is None
    assert list(segment_queryset(EMAIL_OPTED_IN)) == []


def test_an_unknown_medium_or_source_is_refused(alice):
    with pytest.raises(ValidationFailed) as medium:
        consent_set(alice, medium="pigeon", granted=True, source=ConsentSource.STOREFRONT)
    with pytest.raises(ValidationFailed) as source:
        consent_set(alice, medium=Medium.EMAIL, granted=True, source="rumour")

    assert set(medium.value.errors) == {"medium"}
    assert set(source.value.errors) == {"source"}
    assert not ConsentChange.objects.exists()


def test_the_unsubscribe_link_works_without_signing_in(alice):
    consent_set(alice, medium=Medium.EMAIL, granted=True, source=ConsentSource.CHECKOUT)
    token = unsubscribe_token(alice, Medium.EMAIL)
    assert alice.is_guest  # nobody to sign in as: the token alone is the proof

    customer, medium = unsubscribe(token)

    assert (customer, medium) == (alice, Medium.EMAIL)
    assert Consent.objects.get(customer=alice, medium=Medium.EMAIL).granted is False
    last = ConsentChange.objects.filter(customer=alice).order_by("-id").first()
    assert (last.granted, last.source, last.actor) == (
        False,
        ConsentSource.UNSUBSCRIBE_LINK,
        "customer",
    )
    # A second click is harmless.
    unsubscribe(token)
    assert ConsentChange.objects.filter(customer=alice).count() == 2


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature changed
        lambda token: "x" + token,  # payload changed
        lambda token: "",
        lambda token: "not-a-token",
    ],
)
def test_a_tampered_unsubscribe_link_is_rejected(alice, tamper):
    consent_set(alice, medium=Medium.EMAIL, granted=True, source=ConsentSource.CHECKOUT)
    token = tamper(unsubscribe_token(alice, Medium.EMAIL))

    with pytest.raises(ValidationFailed) as raised:
        unsubscribe(token)

    assert set(raised.value.errors) == {"token"}
    assert Consent.objects.get(customer=alice, medium=Medium.EMAIL).granted is True
    assert ConsentChange.objects.filter(customer=alice).count() == 1


def test_a_link_signed_for_another_purpose_or_an_unknown_medium_is_rejected(alice):
    other_salt = signing.dumps({"c": alice.pk, "m": "email"}, salt="something-else")
    unknown_medium = signing.dumps({"c": alice.pk, "m": "pigeon"}, salt=UNSUBSCRIBE_SALT)
    unknown_customer = signing.dumps({"c": alice.pk + 1000, "m": "email"}, salt=UNSUBSCRIBE_SALT)

    for token in (other_salt, unknown_medium, unknown_customer):
        with pytest.raises(ValidationFailed):
            unsubscribe_read(token)


def test_an_old_link_of_a_merged_profile_unsubscribes_the_survivor(alice, bob):
    token = unsubscribe_token(bob, Medium.EMAIL)
    consent_set(bob, medium=Medium.EMAIL, granted=True, source=ConsentSource.CHECKOUT)
    customer_merge(survivor=alice, duplicate=bob)
    assert Consent.objects.get(customer=alice, medium=Medium.EMAIL).granted is True

    customer, _medium = unsubscribe(token)

    assert customer == alice
    assert Consent.objects.get(customer=alice, medium=Medium.EMAIL).granted is False
