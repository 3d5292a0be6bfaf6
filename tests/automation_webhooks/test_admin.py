"""The back office: an endpoint's secret shown once, the actions on endpoints, and retrying
dead letters from the delivery log (selected ones, or every one of the filtered list)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from standardwebhooks.webhooks import Webhook

from automation.models import WebhookDelivery, WebhookEndpoint
from automation.webhooks import services
from tests.automation_webhooks.conftest import Answer, Receiver, delivery_make, endpoint_make

pytestmark = pytest.mark.django_db
D = WebhookDelivery.Status
ENDPOINTS = "/admin/automation/webhookendpoint/"
DELIVERIES = "/admin/automation/webhookdelivery/"


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _dead(receiver: Receiver, endpoint: WebhookEndpoint) -> WebhookDelivery:
    receiver.answer(Answer(503))
    delivery = delivery_make(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(retry_until=delivery.created_at)
    assert services.delivery_attempt(delivery.pk) == D.DEAD
    return delivery


def test_the_secret_is_shown_once_after_creating(superuser_client, plain_static_files, receiver):
    r = superuser_client.post(
        f"{ENDPOINTS}add/",
        {
            "name": "ERP",
            "url": receiver.url,
            "event_types": ["order.paid", "order.refunded"],
            "is_active": "on",
        },
    )
    assert r.status_code == 302, r.content
    endpoint = WebhookEndpoint.objects.get(name="ERP")
    assert endpoint.event_types == ["order.paid", "order.refunded"] and endpoint.is_active
    [shown] = [m for m in _messages(r) if "whsec_" in m]
    assert endpoint.secret in shown

    # The page the admin goes to next shows the message once; nothing shows the secret again.
    assert endpoint.secret in superuser_client.get(r["Location"]).content.decode()
    page = superuser_client.get(f"{ENDPOINTS}{endpoint.pk}/change/").content.decode()
    listing = superuser_client.get(ENDPOINTS).content.decode()
    assert endpoint.secret not in page and endpoint.secret not in listing
    assert "Set (shown only when created or rotated)." in page


def test_an_unknown_url_scheme_is_refused(superuser_client, plain_static_files):
    r = superuser_client.post(
        f"{ENDPOINTS}add/", {"name": "ERP", "url": "ftp://example.com/", "event_types": ["*"]}
    )
    assert r.status_code == 200  # the form again, with the error
    assert not WebhookEndpoint.objects.exists()


def test_rotate_resume_and_ping_actions(superuser_client, plain_static_files, receiver):
    endpoint, old = endpoint_make(receiver)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        paused_at="2026-01-01T00:00:00Z", pause_reason="down", consecutive_failures=20
    )
    listing = superuser_client.get(ENDPOINTS).content.decode()
    assert "Paused since" in listing

    r = superuser_client.post(
        ENDPOINTS, {"action": "rotate_secret", "_selected_action": [endpoint.pk]}
    )
    assert r.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert any(endpoint.secret in m for m in _messages(r))

    superuser_client.post(ENDPOINTS, {"action": "resume", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.paused_at is None and endpoint.consecutive_failures == 0

    superuser_client.post(ENDPOINTS, {"action": "send_ping", "_selected_action": [endpoint.pk]})
    [ping] = WebhookDelivery.objects.filter(endpoint=endpoint, event_type="webhook.ping")
    assert services.delivery_attempt(ping.pk) == D.SUCCEEDED
    [request] = receiver.requests
    assert Webhook(endpoint.secret).verify(request.body, request.headers)["type"] == "webhook.ping"
    Webhook(old).verify(request.body, request.headers)  # still in its grace period


def test_retry_selected_from_the_delivery_log(superuser_client, plain_static_files, receiver):
    endpoint, secret = endpoint_make(receiver)
    dead = _dead(receiver, endpoint)
    page = superuser_client.get(f"{DELIVERIES}{dead.pk}/change/")
    assert page.status_code == 200 and "503" in page.content.decode()

    r = superuser_client.post(
        DELIVERIES, {"action": "retry_selected", "_selected_action": [dead.pk]}
    )
    assert r.status_code == 302
    assert "1 delivery handed to the workers again." in _messages(r)
    retried = WebhookDelivery.objects.get(pk=dead.pk)
    assert retried.status == D.PENDING and retried.attempts == 0

    assert services.delivery_attempt(dead.pk) == D.SUCCEEDED
    Webhook(secret).verify(receiver.requests[-1].body, receiver.requests[-1].headers)


def test_retry_every_dead_letter_of_the_filtered_list(
    superuser_client, plain_static_files, receiver
):
    one, _ = endpoint_make(receiver, name="one")
    other, _ = endpoint_make(receiver, name="other")
    dead_one = [_dead(receiver, one), _dead(receiver, one)]
    dead_other = _dead(receiver, other)
    pending = delivery_make(one)

    listing = superuser_client.get(f"{DELIVERIES}?endpoint__id__exact={one.pk}")
    assert "Retry all dead letters in this list" in listing.content.decode()
    r = superuser_client.post(f"{DELIVERIES}retry-dead/?endpoint__id__exact={one.pk}")
    assert r.status_code == 302 and r["Location"].endswith(f"?endpoint__id__exact={one.pk}")
    assert "2 deliveries handed to the workers again." in _messages(r)

    statuses = dict(WebhookDelivery.objects.values_list("id", "status"))
    assert [statuses[d.pk] for d in dead_one] == [D.PENDING, D.PENDING]
    assert statuses[dead_other.pk] == D.DEAD and statuses[pending.pk] == D.PENDING
    assert superuser_client.get(f"{DELIVERIES}retry-dead/").status_code == 405


def test_staff_without_the_permission_cannot_retry(client, plain_static_files, receiver):
    from django.contrib.auth.models import Permission

    from tests.factories import StaffFactory

    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client.force_login(staff)
    endpoint, _ = endpoint_make(receiver)
    dead = _dead(receiver, endpoint)
    r = client.post(
        f"{DELIVERIES}retry-dead/", HTTP_HOST="testserver", HTTP_X_FORWARDED_PROTO="https"
    )
    assert r.status_code == 403
    assert WebhookDelivery.objects.get(pk=dead.pk).status == D.DEAD
