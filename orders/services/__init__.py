"""Every write of the orders app. Views, admin, commands and tasks call these."""

from orders.services.carts import (
    cart_attach,
    cart_checkout_start,
    cart_create,
    cart_line_set,
    cart_release,
    cart_update,
)
from orders.services.channels import SkuLine, phone_order_place, pos_sale
from orders.services.checkout import (
    PaymentInput,
    checkout_complete,
    payment_finish,
    payment_resolve,
)
from orders.services.checkout_limits import PaymentClient, TooManyDeclines
from orders.services.editing import order_edit
from orders.services.fulfilments import (
    TrackingUpdate,
    fulfilment_collect,
    fulfilment_deliver,
    fulfilment_get,
    fulfilment_hand_over,
    fulfilment_prepare,
    fulfilment_ready,
    fulfilment_reroute,
    fulfilment_ship,
    fulfilments_detect_delays,
    pickups_flag_uncollected,
    tracking_for,
    tracking_record,
)
from orders.services.marketplace import (
    MarketplaceLine,
    MarketplaceOrder,
    marketplace_file_import,
    marketplace_orders_import,
)
from orders.services.orders import (
    order_cancel,
    order_confirm,
    order_flag,
    order_hold,
    order_release,
)
from orders.services.payments import (
    PaymentDeclined,
    notification_handle,
    payment_capture,
    payment_refund,
    payment_settle,
    payments_refresh,
)
from orders.services.quotes import cart_quote
from orders.services.routing import order_route

__all__ = [
    "MarketplaceLine",
    "MarketplaceOrder",
    "PaymentClient",
    "PaymentDeclined",
    "PaymentInput",
    "SkuLine",
    "TooManyDeclines",
    "TrackingUpdate",
    "cart_attach",
    "cart_checkout_start",
    "cart_create",
    "cart_line_set",
    "cart_quote",
    "cart_release",
    "cart_update",
    "checkout_complete",
    "fulfilment_collect",
    "fulfilment_deliver",
    "fulfilment_get",
    "fulfilment_hand_over",
    "fulfilment_prepare",
    "fulfilment_ready",
    "fulfilment_reroute",
    "fulfilment_ship",
    "fulfilments_detect_delays",
    "marketplace_file_import",
    "marketplace_orders_import",
    "notification_handle",
    "order_cancel",
    "order_confirm",
    "order_edit",
    "order_flag",
    "order_hold",
    "order_release",
    "order_route",
    "payment_capture",
    "payment_finish",
    "payment_refund",
    "payment_resolve",
    "payment_settle",
    "payments_refresh",
    "phone_order_place",
    "pickups_flag_uncollected",
    "pos_sale",
    "tracking_for",
    "tracking_record",
]
