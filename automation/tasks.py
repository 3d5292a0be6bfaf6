"""Celery discovers `automation.tasks`; the tasks live beside the code they call."""

from automation.messages.tasks import send_due_messages, send_message
from automation.webhooks.tasks import deliver_due_webhooks, deliver_webhook, prune_webhook_attempts

__all__ = [
    "deliver_due_webhooks",
    "deliver_webhook",
    "prune_webhook_attempts",
    "send_due_messages",
    "send_message",
]
