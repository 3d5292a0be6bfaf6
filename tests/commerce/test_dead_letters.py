"""Dead letters: an event whose consumer keeps failing stops being retried after
OUTBOX_MAX_ATTEMPTS, waits in the admin, and a retry there brings it back."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from commerce import events
from commerce.models import OutboxEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("broker_queue")]


def make_due(event: OutboxEvent) -> None:
    OutboxEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.fixture
def broken_event(consumers, settings):
    """An event whose one consumer fails while `broken` is set, with 3 tries allowed."""
    settings.OUTBOX_MAX_ATTEMPTS = 3
    broken = threading.Event()
    broken.set()
    consumers.add("outbox-test-flaky", "test.dead_letter", fail=broken)
    event = events.publish(type="test.dead_letter", subject_type="test", subject_id=7)
    return event, broken


def test_dispatch_dead_letters_an_event_after_max_attempts_and_relay_skips_it(broken_event):
    event, _broken = broken_event

    for _ in range(2):
        make_due(event)
        assert events.relay() == 0
    event.refresh_from_db()
    assert event.attempts == 2
    assert event.dead_lettered_at is None

    make_due(event)
    before = timezone.now()
    assert events.relay() == 0

    event.refresh_from_db()
    assert event.attempts == 3
    assert event.dead_lettered_at is not None
    assert event.dead_lettered_at >= before
    assert event.dispatched_at is None
    assert event.last_error == "outbox-test-flaky: RuntimeError('outbox-test-flaky is broken')"

    # Due again, but dead: the relay no longer takes it, nor does a late delivery.
    make_due(event)
    assert events.relay() == 0
    assert events.dispatch(event.pk) is False
    event.refresh_from_db()
    assert event.attempts == 3
    assert event.dispatched_at is None


def test_outbox_admin_retry_action_brings_a_dead_letter_back_to_dispatch(
    broken_event,
    consumers,
    superuser_client,
    plain_static_files,
    django_capture_on_commit_callbacks,
):
    event, broken = broken_event
    for _ in range(3):
        make_due(event)
        events.relay()
    event.refresh_from_db()
    assert event.dead_lettered_at is not None
    other = events.publish(type="test.dead_letter_other", subject_type="test", subject_id=8)
    changelist = reverse("admin:commerce_outboxevent_changelist")

    listed = superuser_client.get(changelist, {"state": "dead"})
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [event]
    assert "outbox-test-flaky: RuntimeError(" in listed.content.decode()

    broken.clear()  # the consumer is fixed
    with django_capture_on_commit_callbacks(execute=False) as handed_off:
        response = superuser_client.post(
            changelist,
            {"action": "retry_dead_letters", "_selected_action": [event.pk, other.pk]},
            follow=True,
        )

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert shown == [
        f"1 event handed to the workers again: {event.pk}.",
        f"Not dead letters, so left as they are (dispatched, or still retrying): {other.pk}.",
    ]
    assert len(handed_off) == 1  # the hand-off to the broker, after commit
    event.refresh_from_db()
    assert event.dead_lettered_at is None
    assert event.attempts == 0
    assert event.next_attempt_at <= timezone.now()

    assert events.relay() == 1
    event.refresh_from_db()
    assert event.dispatched_at is not None
    assert consumers.effects(event, "outbox-test-flaky") == 1


def test_outbox_admin_retry_action_needs_the_change_permission(
    broken_event, https_client, plain_static_files
):
    from django.contrib.auth.models import Permission

    from tests.factories import StaffFactory

    event, _broken = broken_event
    for _ in range(3):
        make_due(event)
        events.relay()
    viewer = StaffFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxevent"))
    https_client.force_login(viewer)
    changelist = reverse("admin:commerce_outboxevent_changelist")

    page = https_client.get(changelist)
    response = https_client.post(
        changelist, {"action": "retry_dead_letters", "_selected_action": [event.pk]}
    )

    assert page.status_code == 200
    assert "retry_dead_letters" not in page.content.decode()
    assert response.status_code in (200, 302)
    event.refresh_from_db()
    assert event.dead_lettered_at is not None
