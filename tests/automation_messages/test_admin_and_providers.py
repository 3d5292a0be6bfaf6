"""The back office for messages, and the LINE push against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.urls import reverse

from automation.messages import kinds
from automation.messages.services import message_queue, message_send, messages_send_due
from automation.models import Message, MessageTemplate
from customers.models import Customer
from tests.automation_messages.conftest import deliver, web_order

pytestmark = pytest.mark.usefixtures("plain_static_files")

BROKEN = "Dear {{ customer.name }},\n\nYour order:\n{% for line in order.lines %}{{ line.name }}\n"


def test_a_template_with_a_syntax_error_is_refused_at_save_with_its_line(superuser_client):
    response = superuser_client.post(
        reverse("admin:automation_messagetemplate_add"),
        {
            "kind": "shipped",
            "medium": "email",
            "language": "en",
            "subject": "Shipped",
            "body_text": BROKEN,
            "body_html": "",
        },
    )
    assert response.status_code == 200  # the form again, not a redirect
    errors = response.context["adminform"].form.errors
    assert "body_text" in errors
    assert "Line 4" in errors["body_text"][0] and "endfor" in errors["body_text"][0]
    assert not MessageTemplate.objects.exists()


def test_an_error_in_the_subject_names_its_field_and_a_good_template_saves_with_a_version(
    superuser_client,
):
    url = reverse("admin:automation_messagetemplate_add")
    bad = superuser_client.post(
        url,
        {
            "kind": "shipped",
            "medium": "email",
            "language": "en",
            "subject": "Order {{ order.number|no_such_filter }}",
            "body_text": "ok",
        },
    )
    assert "no_such_filter" in bad.context["adminform"].form.errors["subject"][0]
    good = superuser_client.post(
        url,
        {
            "kind": "shipped",
            "medium": "email",
            "language": "en",
            "subject": "Order {{ order.number }} shipped",
            "body_text": "Track: {{ fulfilment.tracking_url }}",
        },
    )
    assert good.status_code == 302
    template = MessageTemplate.objects.get()
    assert template.version == 1
    change = reverse("admin:automation_messagetemplate_change", args=[template.pk])
    superuser_client.post(
        change,
        {
            "kind": "shipped",
            "medium": "email",
            "language": "en",
            "subject": "Order {{ order.number }} is on its way",
            "body_text": "Track: {{ fulfilment.tracking_url }}",
        },
    )
    template.refresh_from_db()
    assert template.version == 2


def test_the_merchants_template_is_used_and_the_message_records_its_version(omni):
    MessageTemplate.objects.create(
        kind=kinds.ORDER_CONFIRMATION,
        medium="email",
        language="ja",
        subject="ご注文 {{ order.number }}",
        body_text="合計 {{ order.total }}",
        version=3,
    )
    order = web_order(omni, [("TEE-RED-M", 1)])
    deliver()
    [sent] = mail.outbox
    assert sent.subject == f"ご注文 {order.number}"
    assert sent.body == f"合計 {order.total:,.0f}円"
    message = Message.objects.get(kind=kinds.ORDER_CONFIRMATION)
    assert message.template_version.endswith(":v3")


def test_the_live_preview_renders_the_form_over_the_latest_real_order(omni, superuser_client):
    order = web_order(omni, [("TEE-RED-M", 2)])
    add = superuser_client.get(
        reverse("admin:automation_messagetemplate_add") + "?kind=shipped&language=en"
    )
    assert add.status_code == 200
    assert (
        add.context["adminform"].form.initial["subject"] == "Order {{ order.number }} is on its way"
    )
    preview = superuser_client.post(
        reverse("admin:automation_messagetemplate_preview"),
        {
            "kind": "order_confirmation",
            "medium": "email",
            "language": "en",
            "subject": "For {{ order.number }}",
            "body_text": "{{ order.total }} {% for l in order.lines %}{{ l.sku }}{% endfor %}",
        },
    )
    answer = preview.json()
    assert answer["order"] == order.number and answer["subject"] == f"For {order.number}"
    assert answer["text"] == f"¥{order.total:,.0f} TEE-RED-M"
    assert "<html" in answer["html"]
    broken = superuser_client.post(
        reverse("admin:automation_messagetemplate_preview"),
        {"kind": "x", "medium": "sms", "language": "en", "body_text": BROKEN},
    )
    assert "Line 4" in broken.json()["errors"]["body_text"][0]


def test_send_me_a_test_queues_a_message_to_the_staff_member(
    omni, superuser_client, django_user_model
):
    order = web_order(omni, [("TEE-RED-M", 1)])
    user = django_user_model.objects.get(username="root")
    user.email = "staff@example.com"
    user.save()
    template = MessageTemplate.objects.create(
        kind=kinds.SHIPPED,
        medium="email",
        language="en",
        subject="Test {{ order.number }}",
        body_text="{{ order.total }}",
    )
    response = superuser_client.post(
        reverse("admin:automation_messagetemplate_changelist"),
        {"action": "send_me_a_test", "_selected_action": [template.pk]},
    )
    assert response.status_code == 302
    assert mail.outbox == []  # never inside the request
    messages_send_due()
    [sent] = [m for m in mail.outbox if m.to == ["staff@example.com"]]
    assert sent.subject == f"Test {order.number}"


def test_the_order_page_and_the_customer_360_show_the_messages(omni, superuser_client):
    customer = Customer.objects.create(email="hanako@example.jp", language="ja")
    order = web_order(omni, [("TEE-RED-M", 1)])
    order.customer = customer
    order.save(update_fields=["customer"])
    deliver()
    message = Message.objects.get(kind=kinds.ORDER_CONFIRMATION)
    page = superuser_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert page.status_code == 200
    assert "Messages to the customer" in page.content.decode()
    assert message.subject in page.content.decode()
    Message.objects.filter(pk=message.pk).update(customer=customer)
    c360 = superuser_client.get(reverse("admin:orders_customer_360", args=[customer.pk]))
    assert c360.status_code == 200 and message.subject in c360.content.decode()
    log = superuser_client.get(reverse("admin:automation_message_changelist") + "?status=sent")
    assert log.status_code == 200 and order.number in log.content.decode()


class LineApi(BaseHTTPRequestHandler):
    received: list[tuple[dict, dict]] = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        LineApi.received.append((dict(self.headers), json.loads(body)))
        self.send_response(LineApi.status)
        self.send_header("x-line-request-id", "req-1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def line_api(settings):
    from automation.messages import providers

    server = ThreadingHTTPServer(("127.0.0.1", 0), LineApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    LineApi.received, LineApi.status = [], 200
    settings.LINE_API_URL = f"http://127.0.0.1:{server.server_port}"
    settings.LINE_CHANNEL_ACCESS_TOKEN = "line-token"
    settings.MESSAGES_PROVIDERS = {
        **settings.MESSAGES_PROVIDERS,
        "line": "automation.messages.providers.LinePushProvider",
    }
    providers._providers.clear()
    yield LineApi
    server.shutdown()
    providers._providers.clear()


def test_a_line_message_is_pushed_through_the_messaging_api(db, line_api):
    message = message_queue(
        kind=kinds.TEST, recipient="U1234567890abcdef", medium="line", language="en"
    )
    assert message_send(message.pk) == Message.Status.SENT
    [(headers, body)] = line_api.received
    assert headers["Authorization"] == "Bearer line-token"
    assert headers["X-Line-Retry-Key"]
    assert body["to"] == "U1234567890abcdef"
    assert body["messages"][0]["type"] == "text" and "test message" in body["messages"][0]["text"]
    message.refresh_from_db()
    assert (message.provider, message.provider_id) == ("line", "req-1")


def test_a_line_refusal_fails_the_message_and_an_outage_retries_it(db, line_api):
    line_api.status = 400
    refused = message_queue(kind=kinds.TEST, recipient="Ubad", medium="line", language="en")
    assert message_send(refused.pk) == Message.Status.FAILED
    line_api.status = 503
    later = message_queue(kind=kinds.TEST, recipient="U2", medium="line", language="en")
    assert message_send(later.pk) == Message.Status.QUEUED
    later.refresh_from_db()
    assert "503" in later.reason and later.attempts == 1


def test_a_failed_message_is_sent_again_from_the_admin(db, superuser_client):
    message = message_queue(
        kind=kinds.TEST, recipient="ops@example.com", medium="email", language="en"
    )
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.FAILED, attempts=5, reason="SMTP down"
    )
    sent = message_queue(
        kind=kinds.TEST, recipient="other@example.com", medium="email", language="en"
    )
    assert message_send(sent.pk) == Message.Status.SENT
    response = superuser_client.post(
        reverse("admin:automation_message_changelist"),
        {"action": "send_again", "_selected_action": [message.pk, sent.pk]},
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.attempts, message.reason) == (Message.Status.QUEUED, 0, "")
    assert messages_send_due() == 1
    assert [m.to for m in mail.outbox] == [["other@example.com"], ["ops@example.com"]]


def test_the_save_service_refuses_a_broken_template_from_any_door(db):
    from automation.messages.services import template_save
    from commerce.errors import ValidationFailed

    template = MessageTemplate(kind="shipped", medium="sms", language="en", body_text=BROKEN)
    with pytest.raises(ValidationFailed) as refused:
        template_save(template, changed=None, actor=None)
    assert "Line 4" in refused.value.errors["body_text"][0]
    assert not MessageTemplate.objects.exists()
    template.body_text = "Shipped: {{ fulfilment.tracking_url }}"
    saved = template_save(template, changed=None, actor=None)
    assert (saved.pk is not None, saved.version) == (True, 1)
    saved.body_text = "On its way: {{ fulfilment.tracking_url }}"
    assert template_save(saved, changed=["body_text"], actor=None).version == 2
    assert template_save(saved, changed=["channel"], actor=None).version == 2
