"""Every write of the orders app. Views, admin, commands and tasks call these."""

from orders.services.carts import (
    cart_attach,
    cart_checkout_start,
    cart_create,
    cart_line_set,
    cart_release,
    cart_update,
)
from orders.services.checkout import (
    PaymentInput,
    checkout_complete,
    payment_finish,
    payment_resolve,
)
from orders.services.editing import order_edit
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

__all__ = [
    "PaymentDeclined",
    "PaymentInput",
    "cart_attach",
    "cart_checkout_start",
    "cart_create",
    "cart_line_set",
    "cart_quote",
    "cart_release",
    "cart_update",
    "checkout_complete",
    "notification_handle",
    "order_cancel",
    "order_confirm",
    "order_edit",
    "order_flag",
    "order_hold",
    "order_release",
    "payment_capture",
    "payment_finish",
    "payment_refund",
    "payment_resolve",
    "payment_settle",
    "payments_refresh",
]
