from celery import shared_task

from commerce import events


@shared_task(name="commerce.dispatch_event")
def dispatch_event(event_id: int) -> bool:
    return events.dispatch(event_id)


@shared_task(name="commerce.relay_outbox")
def relay_outbox() -> int:
    return events.relay()
