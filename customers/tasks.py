"""Beat tasks: thin, idempotent, safe to retry."""

from celery import shared_task

from customers.segments import rfm_recompute, segments_recompute_all
from customers.services import points_expire_due


@shared_task(name="customers.recompute_segments")
def recompute_segments() -> dict:
    rfm = rfm_recompute()
    return {
        "scored": rfm.scored,
        "changed": rfm.changed,
        "prospects": rfm.prospects,
        "segments": segments_recompute_all(),
    }


@shared_task(name="customers.expire_points")
def expire_points() -> int:
    return points_expire_due()
