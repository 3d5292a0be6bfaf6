"""Orders taken by staff: a call-centre agent on the phone, a till in a store. Both build a cart
in their channel and check it out with the same services as the web shop (prices, discounts,
tax, stock holds, payment, routing), so an order behaves the same whichever door it came in by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from commerce.errors import ValidationFailed
from commerce.models import Channel
from customers.models import Customer
from inventory.models import StockLocation
from inventory.selectors import location_by_code
from orders.carts.services import cart_create, cart_line_set, cart_update
from orders.core.records import history_add
from orders.fulfilment.services import fulfilment_hand_over
from orders.models import Cart, Fulfilment, Order, PaymentMethod
from orders.payments.services import payment_settle
from orders.placement.checkout import PaymentInput, checkout_complete, checkout_ready


@dataclass(frozen=True)
class SkuLine:
    sku: str
    quantity: int


def _channel_of_kind(channel: Channel | str, kind: str) -> Channel:
    if isinstance(channel, str):
        found = Channel.objects.filter(code=channel.strip(), is_active=True).first()
        if found is None:
            raise ValidationFailed(
                {"channel": [_("There is no active channel %(code)s.") % {"code": channel}]}
            )
        channel = found
    if channel.kind != kind:
        raise ValidationFailed(
            {
                "channel": [
                    _("%(code)s is not a %(kind)s channel.")
                    % {"code": channel.code, "kind": Channel.Kind(kind).label}
                ]
            }
        )
    return channel


def _fill(cart: Cart, lines: Sequence[SkuLine]) -> None:
    if not lines:
        raise ValidationFailed({"lines": [_("Add at least one SKU.")]})
    for index, line in enumerate(lines):
        try:
            cart_line_set(cart, sku=line.sku, quantity=line.quantity, add=True)
        except ValidationFailed as error:
            # Name the row, so the agent or the till knows which line to fix (as `sku`, the
            # field they typed, where the cart says `variant`).
            raise ValidationFailed(
                {
                    f"lines[{index}].{'sku' if field == 'variant' else field}": messages
                    for field, messages in error.errors.items()
                }
            ) from error


def phone_order_place(
    *,
    channel: Channel | str,
    lines: Sequence[SkuLine],
    payment: PaymentInput,
    customer: Customer | None = None,
    email: str = "",
    phone: str = "",
    shipping_address: dict[str, Any] | None = None,
    shipping_method: str = "",
    pickup_store: str = "",
    note: str = "",
    actor: AbstractBaseUser | None = None,
) -> Order:
    """An order taken by phone: card through the gateway (the agent keys it into the payment
    form, which gives a token), cash on delivery or bank transfer. A refused line, address or
    payment method leaves nothing behind; a declined card leaves the cart open as on the web."""
    channel = _channel_of_kind(channel, Channel.Kind.PHONE)
    with transaction.atomic():
        cart = cart_create(channel=channel, customer=customer, email=email)
        _fill(cart, lines)
        details: dict[str, Any] = {"note": note}
        if phone:
            details["phone"] = phone
        if pickup_store:
            details["pickup_location"] = pickup_store
        else:
            details["shipping_address"] = shipping_address
            details["shipping_method"] = shipping_method
        cart = cart_update(cart, **details)
        checkout_ready(cart, payment)
    order = checkout_complete(cart, payment=payment)
    history_add(
        order,
        "phone_order",
        _("Taken by phone by %(agent)s.")
        % {"agent": getattr(actor, "username", "") or _("an agent")},
        actor=actor,
    )
    return order


def _store_for_till(store: StockLocation | str, channel: Channel) -> StockLocation:
    if isinstance(store, str):
        found = location_by_code(store)
        if found is None:
            raise ValidationFailed({"store": [_("There is no store %(code)s.") % {"code": store}]})
        store = found
    if not (
        store.is_active
        and store.kind == StockLocation.Kind.STORE
        and store.channels.filter(pk=channel.pk).exists()
    ):
        raise ValidationFailed(
            {
                "store": [
                    _("%(code)s is not a store of channel %(channel)s.")
                    % {"code": store.code, "channel": channel.code}
                ]
            }
        )
    return store


def pos_sale(
    *,
    channel: Channel | str,
    store: StockLocation | str,
    lines: Sequence[SkuLine],
    payment: PaymentInput,
    customer: Customer | None = None,
    email: str = "",
    phone: str = "",
    ship_to: dict[str, Any] | None = None,
    shipping_method: str = "",
    actor: AbstractBaseUser | None = None,
) -> Order:
    """A sale rung up at a store's till, paid there (cash, or card through the gateway).

    Without `ship_to` the customer takes the goods: only the store's stock counts, and the
    order is fulfilled at once from it. With `ship_to` (the endless aisle: what this store does
    not hold) the order is routed like a web order and shipped to the customer."""
    channel = _channel_of_kind(channel, Channel.Kind.POS)
    store = _store_for_till(store, channel)
    if payment.method not in (PaymentMethod.CASH, PaymentMethod.CARD):
        raise ValidationFailed({"payment.method": [_("A till takes cash or a card.")]})
    with transaction.atomic():
        cart = cart_create(channel=channel, customer=customer, email=email)
        if ship_to is None:
            # Set directly: a till sells from its own store whether or not it offers pickup.
            Cart.objects.filter(pk=cart.pk).update(pickup_location=store)
            cart.pickup_location = store
        _fill(cart, lines)
        details: dict[str, Any] = {}
        if phone:
            details["phone"] = phone
        if ship_to is not None:
            details["shipping_address"] = ship_to
            details["shipping_method"] = shipping_method
        if details:
            cart = cart_update(cart, **details)
        checkout_ready(cart, payment)
    order = checkout_complete(cart, payment=payment)
    history_add(
        order,
        "pos_sale",
        _("Sold at %(store)s by %(staff)s.")
        % {"store": store.name, "staff": getattr(actor, "username", "") or _("the till")},
        actor=actor,
        store=store.code,
    )
    if payment.method == PaymentMethod.CASH:
        payment_settle(order, note=_("Cash at the till"), actor=actor)
    if ship_to is None:
        for fulfilment in order.fulfilments.filter(kind=Fulfilment.Kind.IN_STORE):
            fulfilment_hand_over(fulfilment, actor=actor)
    return Order.objects.get(pk=order.pk)
