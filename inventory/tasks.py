from celery import shared_task

from inventory import services


@shared_task(name="inventory.expire_cart_holds")
def expire_cart_holds() -> int:
    """Tidy expired cart holds (they already stopped counting) and signal what they free."""
    total = 0
    while closed := services.reservation_expire_holds():
        total += closed
    return total
