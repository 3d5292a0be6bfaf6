from celery import shared_task

from orders.core.idempotency import idempotency_purge
from orders.fulfilment.services import fulfilments_detect_delays, pickups_flag_uncollected
from orders.placement.reconcile import payments_without_order


@shared_task(name="orders.finish_unfinished_payments")
def finish_unfinished_payments() -> int:
    """Payments a dead process left without an order: attach each to its cart's order or void
    it. Idempotent (the gateway de-duplicates on the payment's key; a cart has one order)."""
    return len(payments_without_order(fix=True))


@shared_task(name="orders.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    return idempotency_purge()


@shared_task(name="orders.detect_late_fulfilments")
def detect_late_fulfilments() -> int:
    """`fulfilment.delayed` once for each fulfilment past its promised dispatch."""
    return fulfilments_detect_delays()


@shared_task(name="orders.flag_uncollected_pickups")
def flag_uncollected_pickups() -> int:
    return pickups_flag_uncollected()
