from celery import shared_task

from commerce import events


@shared_task(name="commerce.dispatch_event")
def dispatch_event(event_id: int) -> bool:
    return events.dispatch(event_id)


@shared_task(name="commerce.relay_outbox")
def relay_outbox() -> int:
    return events.relay()


@shared_task(name="commerce.record_heartbeat", ignore_result=True)
def record_heartbeat() -> None:
    """Beat sends this every 30 s; the worker that runs it shows it is alive (see health.py)."""
    from commerce.health import heartbeat_record
    from commerce.models import ProcessHeartbeat

    heartbeat_record(process=ProcessHeartbeat.Process.WORKER)
