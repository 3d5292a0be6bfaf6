"""Events the inventory publishes (payloads: ids, codes and numbers only)."""

STOCK_LOW = "stock.low"  # {variant_id, sku, location, available, threshold, on_hand}
STOCK_OUT = "stock.out"
STOCK_RESTOCKED = "stock.restocked"
TRANSFER_DISPATCHED = "transfer.dispatched"  # {transfer_id, source, destination}
TRANSFER_RECEIVED = "transfer.received"
PURCHASE_ORDER_SENT = "purchase_order.sent"  # {purchase_order_id, supplier, lines}
PURCHASE_ORDER_RECEIVED = "purchase_order.received"  # {purchase_order_id, state, received}
