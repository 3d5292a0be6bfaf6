"""The demo's messages and webhooks: the seeded orders' notifications sent (to the seed's own
mail outbox, so the console stays readable), store opening hours, a marketing template, the
marketplace's confirmation switched off, and a webhook endpoint at the demo's local receiver.

New orders after the start print their mails in the worker's console (the console e-mail
backend of DEBUG), and the receiver (`demo/webhook_receiver.py`) logs each signed delivery.
"""

from __future__ import annotations

from django.conf import settings
from django.test.utils import override_settings

from automation.messages import kinds
from automation.messages.services import messages_send_due
from automation.models import Message, MessageTemplate, NotificationSetting, WebhookEndpoint
from automation.webhooks.services import endpoint_create
from commerce.models import Channel
from inventory.models import StockLocation

DEMO_WEBHOOK_SECRET = "whsec_ZGVtby13ZWJob29rLXNlY3JldC1ub3QtZm9yLXByb2R1Y3Rpb24="
DEMO_ENDPOINT_NAME = "Demo 3PL (local receiver)"
DEMO_WEBHOOK_EVENTS = ["order.paid", "fulfilment.created", "fulfilment.shipped"]
OPENING_HOURS = {
    "store-shibuya": "10:00-21:00, every day",
    "store-umeda": "10:00-20:00, closed on Wednesdays",
}


def seed_messaging_settings() -> None:
    """Before the seed's events are dispatched: what decides which messages they make."""
    for code, hours in OPENING_HOURS.items():
        StockLocation.objects.filter(code=code).update(opening_hours=hours)
    for marketplace in Channel.objects.filter(kind=Channel.Kind.MARKETPLACE):
        # The marketplace confirms its own orders; a second mail from us would confuse buyers.
        NotificationSetting.objects.update_or_create(
            channel=marketplace, kind=kinds.ORDER_CONFIRMATION, defaults={"enabled": False}
        )
    for language, subject, text in (
        (
            "en",
            "New season teas at {{ shop.name }}",
            "Our spring harvest has arrived: {{ shop.url }}",
        ),
        ("ja", "【{{ shop.name }}】新茶のご案内", "今年の新茶が入荷しました。{{ shop.url }}"),
    ):
        MessageTemplate.objects.update_or_create(
            kind="new_season_tea",
            medium="email",
            language=language,
            channel=None,
            defaults={"subject": subject, "body_text": text},
        )


def seed_messaging() -> str:
    """After the seed's events are dispatched: their messages sent, the webhook endpoint."""
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        sent = 0
        while True:
            batch = messages_send_due(batch=500)
            sent += batch
            if not batch:
                break
    endpoint = WebhookEndpoint.objects.filter(name=DEMO_ENDPOINT_NAME).first()
    if endpoint is None:
        endpoint, _secret = endpoint_create(
            name=DEMO_ENDPOINT_NAME,
            url=settings.DEMO_WEBHOOK_URL,
            event_types=DEMO_WEBHOOK_EVENTS,
        )
    # A known secret, so the demo's receiver can check signatures; a real endpoint's is random.
    # The automation rules' fulfilment partner (demo/automation.py) posts to the same receiver.
    WebhookEndpoint.objects.filter(url=settings.DEMO_WEBHOOK_URL).update(secret=DEMO_WEBHOOK_SECRET)
    counts = {s: Message.objects.filter(status=s).count() for s in Message.Status.values}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return f"Messages: {sent} sent for the seeded orders ({shown}); webhook endpoint {endpoint.url}"
