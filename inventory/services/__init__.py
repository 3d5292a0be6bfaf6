"""Every write to stock. Re-exported here so callers import `inventory.services`."""

from inventory.services.ledger import stock_transaction
from inventory.services.reservations import (
    ReserveLine,
    locations_for_channel,
    reservation_expire_holds,
    stock_release,
    stock_reserve,
    stock_ship,
)
from inventory.services.stock import StockLevel, location_get, stock_adjust, stock_set_levels

__all__ = [
    "ReserveLine",
    "StockLevel",
    "location_get",
    "locations_for_channel",
    "reservation_expire_holds",
    "stock_adjust",
    "stock_release",
    "stock_reserve",
    "stock_set_levels",
    "stock_ship",
    "stock_transaction",
]
