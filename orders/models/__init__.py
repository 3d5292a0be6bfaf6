"""The orders app's data, one module per concern; import from `orders.models`."""

from orders.models.carts import Cart, CartLine
from orders.models.fulfilments import Fulfilment, FulfilmentLine, TrackingEvent
from orders.models.orders import Order, OrderHistory, OrderLine, PaymentMethod
from orders.models.payments import (
    IdempotencyRecord,
    Payment,
    PaymentAttempt,
    PaymentNotification,
    TestGatewayOperation,
    Transaction,
)
from orders.models.pricing import Discount, DiscountCode, DiscountRedemption, TaxRate
from orders.models.shipping import Carrier, ShippingMethod, ShippingRate

__all__ = [
    "Carrier",
    "Cart",
    "CartLine",
    "Discount",
    "DiscountCode",
    "DiscountRedemption",
    "Fulfilment",
    "FulfilmentLine",
    "IdempotencyRecord",
    "Order",
    "OrderHistory",
    "OrderLine",
    "Payment",
    "PaymentAttempt",
    "PaymentMethod",
    "PaymentNotification",
    "ShippingMethod",
    "ShippingRate",
    "TaxRate",
    "TestGatewayOperation",
    "TrackingEvent",
    "Transaction",
]
