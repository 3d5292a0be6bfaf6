"""The staff API: endpoints (the secret only in the create and rotate answers), the delivery log
with its filters, and retries; bad input is a 400 naming the field."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from standardwebhooks.webhooks import Webhook

from automation.models import WebhookDelivery, WebhookEndpoint
from automation.webhooks import services
from tests.automation_webhooks.conftest import Answer, Receiver, delivery_make, endpoint_make
from tests.factories import ChannelFactory, StaffFactory

pytestmark = pytest.mark.django_db
D = WebhookDelivery.Status
ENDPOINTS = "/api/v1/staff/webhooks/"
DELIVERIES = "/api/v1/staff/webhook-deliveries/"
PROBLEM = "application/problem+json"


@pytest.fixture
def staff_api(api_client):
    api_client.force_authenticate(StaffFactory(username="root", superuser=True))
    return api_client


def test_create_read_update_delete(staff_api, receiver: Receiver):
    ChannelFactory(web_jp=True)
    r = staff_api.post(
        ENDPOINTS,
        {"name": "ERP", "url": receiver.url, "event_types": ["order.paid"], "channel": "web-jp"},
        format="json",
    )
    assert r.status_code == 201, r.content
    created = r.json()
    secret = created["secret"]
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert secret == endpoint.secret and secret.startswith("whsec_")
    assert created["channel"] == "web-jp" and created["event_types"] == ["order.paid"]

    listed = staff_api.get(ENDPOINTS).json()["results"]
    read = staff_api.get(f"{ENDPOINTS}{endpoint.pk}/").json()
    assert [e["id"] for e in listed] == [endpoint.pk]
    assert "secret" not in listed[0] and "secret" not in read and secret not in str(listed)

    r = staff_api.patch(
        f"{ENDPOINTS}{endpoint.pk}/", {"event_types": ["*"], "channel": None}, format="json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["event_types"] == ["*"] and r.json()["channel"] is None
    assert "secret" not in r.json()

    r = staff_api.post(
        f"{ENDPOINTS}{endpoint.pk}/rotate-secret/", {"grace_hours": 2}, format="json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["secret"] != secret and r.json()["previous_secret_valid_until"]
    endpoint.refresh_from_db()
    assert endpoint.secret == r.json()["secret"] and endpoint.previous_secret == secret

    assert staff_api.delete(f"{ENDPOINTS}{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x", "url": "not a url", "event_types": ["*"]}, "url"),
        ({"name": "x", "url": "ftp://example.com/", "event_types": ["*"]}, "url"),
        (
            {"name": "x", "url": "https://example.com/", "event_types": ["order.nope"]},
            "event_types",
        ),
        ({"name": "x", "url": "https://example.com/", "event_types": []}, "event_types"),
        ({"name": "x", "url": "https://example.com/", "event_types": "order.paid"}, "event_types"),
        ({"name": " ", "url": "https://example.com/", "event_types": ["*"]}, "name"),
        (
            {"name": "x", "url": "https://example.com/", "event_types": ["*"], "channel": "zz"},
            "channel",
        ),
        ({"url": "https://example.com/", "event_types": ["*"]}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(staff_api, body, field):
    r = staff_api.post(ENDPOINTS, body, format="json")
    assert r.status_code == 400, r.content
    assert r["Content-Type"] == PROBLEM and field in r.json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_resume_and_the_delivery_log(staff_api, receiver: Receiver):
    receiver.answer(Answer(410, b"gone"))
    endpoint, secret = endpoint_make(receiver)
    refused = delivery_make(endpoint)
    services.delivery_attempt(refused.pk)
    waiting = delivery_make(endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(paused_at="2026-01-01T00:00:00Z")

    r = staff_api.post(f"{ENDPOINTS}{endpoint.pk}/resume/")
    assert r.status_code == 200 and r.json()["paused_at"] is None

    r = staff_api.get(DELIVERIES, {"status": "failed", "endpoint": endpoint.pk})
    assert [d["id"] for d in r.json()["results"]] == [refused.pk]
    assert r.json()["results"][0]["last_status_code"] == 410
    r = staff_api.get(f"{DELIVERIES}{refused.pk}/")
    [attempt] = r.json()["attempt_log"]
    assert attempt["status_code"] == 410 and attempt["response_excerpt"] == "gone"

    for params, field in [({"status": "nope"}, "status"), ({"endpoint": 999999}, "endpoint")]:
        r = staff_api.get(DELIVERIES, params)
        assert r.status_code == 400 and field in r.json()["errors"], r.content

    r = staff_api.post(f"{DELIVERIES}{waiting.pk}/retry/")
    assert r.status_code == 409 and r.json()["code"] == "not_retryable"
    r = staff_api.post(f"{DELIVERIES}{refused.pk}/retry/")
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["attempts"] == 0
    assert services.delivery_attempt(refused.pk) == D.SUCCEEDED
    Webhook(secret).verify(receiver.requests[-1].body, receiver.requests[-1].headers)


def test_only_staff_with_the_permissions(api_client, receiver: Receiver):
    endpoint, _secret = endpoint_make(receiver)
    assert api_client.get(ENDPOINTS).status_code == 401
    customer = StaffFactory(username="shopper", is_staff=False)
    api_client.force_authenticate(customer)
    assert api_client.get(ENDPOINTS).status_code == 403

    viewer = StaffFactory(username="viewer")
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_webhookendpoint"),
        Permission.objects.get(codename="view_webhookdelivery"),
    )
    api_client.force_authenticate(viewer)
    assert api_client.get(ENDPOINTS).status_code == 200
    assert api_client.get(DELIVERIES).status_code == 200
    assert api_client.post(f"{ENDPOINTS}{endpoint.pk}/rotate-secret/").status_code == 403
    assert api_client.delete(f"{ENDPOINTS}{endpoint.pk}/").status_code == 403
    assert api_client.get(f"{ENDPOINTS}abc/").status_code == 404


def test_the_delivery_list_costs_the_same_queries_for_3_or_12_deliveries(
    staff_api, receiver: Receiver
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    endpoints = [endpoint_make(receiver, name=f"ERP {n}")[0] for n in range(3)]
    for endpoint in endpoints:
        delivery_make(endpoint)
    with CaptureQueriesContext(connection) as few:
        assert staff_api.get("/api/v1/staff/webhook-deliveries/").status_code == 200
    for endpoint in endpoints * 3:
        delivery_make(endpoint)
    with CaptureQueriesContext(connection) as many:
        answer = staff_api.get("/api/v1/staff/webhook-deliveries/")
    assert answer.status_code == 200
    assert len(answer.json()["results"]) == 12
    assert len(many) == len(few)
