"""The transactional notifications the product sends, and the event that causes each.

Marketing kinds are the merchant's own (a template of any other kind name, sent by an
automation rule); they need the medium's consent and obey caps and quiet hours.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    description: str


ORDER_CONFIRMATION = "order_confirmation"
PAYMENT_RECEIVED = "payment_received"
SHIPPED = "shipped"
DELIVERED = "delivered"
PICKUP_READY = "pickup_ready"
PICKUP_REMINDER = "pickup_reminder"
DELAY_NOTICE = "delay_notice"
ORDER_CANCELLED = "order_cancelled"
REFUNDED = "refunded"
ACCOUNT_CONFIRMATION = "account_confirmation"
PASSWORD_RESET = "password_reset"
TEST = "test"

TRANSACTIONAL: dict[str, Kind] = {
    kind.code: kind
    for kind in (
        Kind(
            ORDER_CONFIRMATION,
            _("Order confirmation"),
            _(
                "order.placed: lines, totals, tax, payment instructions, delivery estimate, related products"
            ),
        ),
        Kind(
            PAYMENT_RECEIVED,
            _("Payment received"),
            _("order.paid of a bank transfer or cash-on-delivery order"),
        ),
        Kind(
            SHIPPED, _("Shipped"), _("fulfilment.shipped, one per parcel, with the tracking link")
        ),
        Kind(DELIVERED, _("Delivered"), _("fulfilment.delivered of a parcel")),
        Kind(
            PICKUP_READY,
            _("Ready for pickup"),
            _("pickup.ready: the pickup code and the store's hours"),
        ),
        Kind(
            PICKUP_REMINDER,
            _("Pickup reminder"),
            _("before a waiting pickup is flagged uncollected"),
        ),
        Kind(
            DELAY_NOTICE,
            _("Delay notice"),
            _("fulfilment.delayed; the order is also flagged for follow-up"),
        ),
        Kind(ORDER_CANCELLED, _("Order cancelled"), _("order.cancelled")),
        Kind(REFUNDED, _("Refunded"), _("order.refunded, with the amount")),
        Kind(ACCOUNT_CONFIRMATION, _("Confirm your e-mail"), _("a storefront registration")),
        Kind(PASSWORD_RESET, _("Password reset"), _("a storefront password reset request")),
        Kind(TEST, _("Test message"), _("sent from the admin or send_test_message")),
    )
}

# Built-in wording for what the ready-made automation rules send (automation/rules/library.py).
# Back-in-stock is transactional: the shopper asked for exactly this message, once.
ABANDONED_CART = "abandoned_cart"
ABANDONED_CART_OFFER = "abandoned_cart_offer"
WELCOME = "welcome"
BACK_IN_STOCK = "back_in_stock"
CAMPAIGN = "campaign"
FOR_RULES: dict[str, Kind] = {
    kind.code: kind
    for kind in (
        Kind(ABANDONED_CART, _("Abandoned cart reminder"), _("cart.abandoned: the items again")),
        Kind(
            ABANDONED_CART_OFFER,
            _("Abandoned cart, second reminder with a code"),
            _("a day later, with a single-use code"),
        ),
        Kind(WELCOME, _("Welcome to the loyalty programme"), _("loyalty.joined, with an offer")),
        Kind(BACK_IN_STOCK, _("Back in stock"), _("to shoppers who asked to be told")),
        Kind(CAMPAIGN, _("Campaign"), _("a scheduled message to a segment")),
    )
}

# Account mails carry a sign-in link: the data for them is kept only until the message is sent.
SENSITIVE = frozenset({ACCOUNT_CONFIRMATION, PASSWORD_RESET})
ORDER_KINDS = frozenset(TRANSACTIONAL) - SENSITIVE - {TEST}
# Order mails that show the related-products block.
WITH_UPSELL = frozenset({ORDER_CONFIRMATION})


def kind_choices() -> list[tuple[str, str]]:
    return [(kind.code, kind.label) for kind in TRANSACTIONAL.values()]
