"""The webhooks queue's tasks: thin, idempotent (a delivery is claimed before it is sent)."""

from __future__ import annotations

from celery import shared_task

from automation.webhooks import services


@shared_task(name="automation.deliver_webhook")
def deliver_webhook(delivery_id: int) -> str | None:
    return services.delivery_attempt(delivery_id)


@shared_task(name="automation.deliver_due_webhooks")
def deliver_due_webhooks() -> int:
    return len(services.deliveries_due())


@shared_task(name="automation.prune_webhook_attempts")
def prune_webhook_attempts() -> dict[str, int]:
    result = services.attempts_prune()
    return {"succeeded": result.succeeded, "failed": result.failed}
