"""Every write of the orders app, gathered from its parts. Views, admin, commands, tasks and
other apps call these; the parts import each other directly (see docs/architecture.md)."""

from orders.carts.services import (
    cart_attach,
    cart_checkout_start,
    cart_create,
    cart_line_set,
    cart_release,
    cart_update,
)
from orders.channels.assisted import SkuLine, phone_order_place, pos_sale
from orders.channels.marketplace import (
    MarketplaceLine,
    MarketplaceOrder,
    marketplace_file_import,
    marketplace_orders_import,
)
from orders.core.records import order_confirm, order_flag, order_hold, order_release
from orders.fulfilment.routing import order_route
from orders.fulfilment.services import (
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
from orders.payments.card_testing import PaymentClient, TooManyDeclines
from orders.payments.services import (
    PaymentDeclined,
    payment_capture,
    payment_refund,
    payment_settle,
    payments_refresh,
)
from orders.placement.cancellation import order_cancel
from orders.placement.checkout import (
    PaymentInput,
    checkout_complete,
    payment_finish,
    payment_resolve,
)
from orders.placement.editing import order_edit
from orders.placement.notifications import notification_handle
from orders.pricing.discounts import discount_code_issue
from orders.pricing.quotes import cart_quote

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
    "discount_code_issue",
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
