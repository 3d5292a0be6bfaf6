"""Every write to stock. Re-exported here so callers import `inventory.services`."""

from inventory.services.ledger import stock_transaction
from inventory.services.purchasing import (
    purchase_order_cancel,
    purchase_order_create,
    purchase_order_draft_for,
    purchase_order_receive,
    purchase_order_send,
)
from inventory.services.replenishment import (
    Suggestion,
    replenishment_create_purchase_orders,
    replenishment_suggestions,
)
from inventory.services.reservations import (
    Destination,
    ReserveLine,
    Route,
    locations_for_channel,
    reservation_expire_holds,
    shortage_error,
    stock_hold_convert,
    stock_reallocate,
    stock_release,
    stock_reserve,
    stock_ship,
)
from inventory.services.stock import StockLevel, location_get, stock_adjust, stock_set_levels
from inventory.services.thresholds import seasonal_threshold_save, seasonal_threshold_validate
from inventory.services.transfers import (
    transfer_cancel,
    transfer_create,
    transfer_dispatch,
    transfer_receive,
)

__all__ = [
    "Destination",
    "ReserveLine",
    "Route",
    "StockLevel",
    "Suggestion",
    "location_get",
    "locations_for_channel",
    "purchase_order_cancel",
    "purchase_order_create",
    "purchase_order_draft_for",
    "purchase_order_receive",
    "purchase_order_send",
    "replenishment_create_purchase_orders",
    "replenishment_suggestions",
    "reservation_expire_holds",
    "seasonal_threshold_save",
    "seasonal_threshold_validate",
    "shortage_error",
    "stock_adjust",
    "stock_hold_convert",
    "stock_reallocate",
    "stock_release",
    "stock_reserve",
    "stock_set_levels",
    "stock_ship",
    "stock_transaction",
    "transfer_cancel",
    "transfer_create",
    "transfer_dispatch",
    "transfer_receive",
]
