"""Celery discovers `automation.tasks`; the tasks live beside the code they call."""

from automation.messages.tasks import send_due_messages, send_message
from automation.rules.tasks import prune_runs, run_due, sweep_abandoned_carts, time_rules
from automation.webhooks.tasks import deliver_due_webhooks, deliver_webhook, prune_webhook_attempts

__all__ = [
    "deliver_due_webhooks",
    "deliver_webhook",
    "prune_runs",
    "prune_webhook_attempts",
    "run_due",
    "send_due_messages",
    "send_message",
    "sweep_abandoned_carts",
    "time_rules",
]
