"""The orders app's data, one module per concern; import from `orders.models`."""

from orders.models.carts import Cart, CartLine
from orders.models.orders import Order, OrderHistory, OrderLine, PaymentMethod
from orders.models.payments import (
    IdempotencyRecord,
    Payment,
    PaymentNotification,
    TestGatewayOperation,
    Transaction,
)
from orders.models.pricing import Discount, DiscountCode, DiscountRedemption, TaxRate
from orders.models.shipping import ShippingMethod, ShippingRate

__all__ = [
    "Cart",
    "CartLine",
    "Discount",
    "DiscountCode",
    "DiscountRedemption",
    "IdempotencyRecord",
    "Order",
    "OrderHistory",
    "OrderLine",
    "Payment",
    "PaymentMethod",
    "PaymentNotification",
    "ShippingMethod",
    "ShippingRate",
    "TaxRate",
    "TestGatewayOperation",
    "Transaction",
]
