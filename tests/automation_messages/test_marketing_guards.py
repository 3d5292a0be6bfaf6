"""Marketing messages ask first: consent at send time, frequency caps, quiet hours in the
customer's own time zone, and a one-click unsubscribe that records the opt-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from automation.messages.services import message_queue, message_send, messages_send_due
from automation.models import Message, MessageTemplate
from automation.models.messages import Category
from customers.models import Consent, ConsentSource, Customer
from customers.services.consent import consent_set

S = Message.Status
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def promo(db) -> MessageTemplate:
    return MessageTemplate.objects.create(
        kind="spring_sale",
        medium="email",
        language="en",
        subject="Spring sale, {{ customer.language }}",
        body_text="Twenty per cent off this week at {{ shop.name }}.",
    )


@pytest.fixture
def ann(db) -> Customer:
    return Customer.objects.create(
        email="ann@example.com", language="en", time_zone="America/New_York"
    )


def queue(customer: Customer, *, at: datetime) -> Message:
    return message_queue(
        kind="spring_sale",
        category=Category.MARKETING,
        recipient=customer.email,
        medium="email",
        language="en",
        customer=customer,
        due_at=at,
    )


def ny(hour: int, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=NEW_YORK)


def test_without_consent_a_marketing_message_is_suppressed_with_the_reason(promo, ann):
    message = queue(ann, at=ny(12))
    assert message_send(message.pk, now=ny(12)) == S.SUPPRESSED
    message.refresh_from_db()
    assert message.status == S.SUPPRESSED and "No marketing consent for email" in message.reason
    assert mail.outbox == []


def test_consent_withdrawn_after_queueing_is_respected_at_send_time(promo, ann):
    consent_set(ann, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    message = queue(ann, at=ny(12))
    consent_set(ann, medium="email", granted=False, source=ConsentSource.STAFF)
    assert message_send(message.pk, now=ny(12)) == S.SUPPRESSED


def test_over_the_frequency_cap_a_message_is_deferred_not_dropped(promo, ann):
    consent_set(ann, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    first = queue(ann, at=ny(10))
    assert message_send(first.pk, now=ny(10)) == S.SENT
    Message.objects.filter(pk=first.pk).update(sent_at=ny(10))
    second = queue(ann, at=ny(12))
    assert message_send(second.pk, now=ny(12)) == S.QUEUED
    second.refresh_from_db()
    assert second.status == S.QUEUED and "frequency cap of 16 h" in second.reason
    assert second.due_at == ny(10) + timedelta(hours=16)
    assert second.attempts == 0
    # Due at 02:00 New York time, which is quiet: deferred again, to 09:00 there.
    assert messages_send_due(now=second.due_at) == 0
    second.refresh_from_db()
    assert second.due_at == ny(9, day=3)
    assert messages_send_due(now=ny(9, day=3)) == 1
    assert len(mail.outbox) == 2


def test_in_quiet_hours_a_message_waits_for_the_customers_morning_in_their_time_zone(
    promo, ann, settings
):
    assert settings.TIME_ZONE == "UTC"  # the server's zone is not the customer's
    consent_set(ann, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    message = queue(ann, at=ny(3))  # 08:00 UTC: daytime on the server, 03:00 for Ann
    assert message_send(message.pk, now=ny(3)) == S.QUEUED
    message.refresh_from_db()
    assert message.due_at == ny(9) and message.due_at.astimezone(UTC).hour == 14
    assert "quiet hours" in message.reason
    assert messages_send_due(now=ny(8, day=2) + timedelta(minutes=59)) == 0
    assert messages_send_due(now=ny(9)) == 1
    [sent] = mail.outbox
    assert sent.subject == "Spring sale, en"


def test_a_transactional_message_ignores_quiet_hours_and_caps(omni):
    from django.utils import timezone

    from tests.automation_messages.conftest import deliver, web_order

    web_order(omni, [("TEE-RED-M", 1)])
    tokyo = timezone.now().astimezone(ZoneInfo("Asia/Tokyo")) + timedelta(days=1)
    night = tokyo.replace(hour=3, minute=0)
    # 03:00 in Tokyo, the customer's channel: an order confirmation goes out all the same.
    assert deliver(now=night) == 1


def test_marketing_mail_has_a_one_click_unsubscribe_that_records_the_opt_out(
    promo, ann, https_client
):
    consent_set(ann, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    message = queue(ann, at=ny(12))
    assert message_send(message.pk, now=ny(12)) == S.SENT
    [sent] = mail.outbox
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = sent.extra_headers["List-Unsubscribe"].strip("<>")
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = https_client.post(f"/{path}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    consent = Consent.objects.get(customer=ann, medium="email")
    assert consent.granted is False
    assert ann.consent_changes.filter(source=ConsentSource.UNSUBSCRIBE_LINK).exists()


def test_a_message_being_sent_counts_against_the_cap_so_two_workers_cannot_both_send(promo, ann):
    from automation.messages.services import _claim

    consent_set(ann, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    first, second = queue(ann, at=ny(12)), queue(ann, at=ny(12))
    assert _claim(first.pk, ny(12))  # another worker has the first one, not sent yet
    assert message_send(second.pk, now=ny(12)) == S.QUEUED
    second.refresh_from_db()
    assert "frequency cap" in second.reason and second.due_at == ny(12) + timedelta(hours=16)
    assert mail.outbox == []
