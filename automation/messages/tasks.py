from celery import shared_task

from automation.messages import services


@shared_task(name="automation.send_message")
def send_message(message_id: int) -> str:
    return services.message_send(message_id)


@shared_task(name="automation.send_due_messages")
def send_due_messages() -> int:
    return services.messages_send_due()
