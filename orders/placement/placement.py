"""Placing an order: from the draft a payment carries (`core.drafts`), in the caller's
transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import services as customers
from customers.models import Customer
from orders.core.drafts import OrderDraft
from orders.core.records import (
    ORDER_PAID,
    ORDER_PLACED,
    S,
    history_add,
    order_publish,
    remember_lines,
)
from orders.fulfilment.routing import order_route
from orders.models import (
    Cart,
    Discount,
    DiscountCode,
    DiscountRedemption,
    Order,
    OrderLine,
    Payment,
    PaymentMethod,
)
from orders.payments.services import payments_refresh
from orders.pricing.discounts import DiscountNotApplicable, code_check


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _redeem(
    order: Order, draft: OrderDraft, customer: Customer | None, *, priced_at: datetime
) -> None:
    """Count the order's discounts against their limits, the rows locked so two last uses of a
    code cannot both pass.

    A code is checked again here (`code_check`): whose it is, by the draft's customer and
    e-mail (the cart's, as the quote saw them), and its expiry at `priced_at`, when the buyer
    was shown and charged the discounted total: a code that runs out while the card is being
    charged still holds for that payment."""
    for applied in draft.discounts:
        discount = Discount.objects.select_for_update().get(pk=applied["discount_id"])
        code = None
        if applied.get("code"):
            code = (
                DiscountCode.objects.select_for_update(of=("self",))
                .select_related("customer")
                .get(discount=discount, code=applied["code"])
            )
            code_check(
                code,
                customer_id=draft.customer_id,
                email=draft.email,
                now=priced_at,
                time_zone=order.channel.time_zone,
            )
            if code.single_use and code.times_used > 0:
                raise DiscountNotApplicable("used_up", _("This code has already been used."))
        if discount.usage_limit is not None and discount.times_used >= discount.usage_limit:
            raise DiscountNotApplicable("used_up", _("This offer has been used up."))
        if discount.per_customer_limit is not None and customer is not None:
            used = DiscountRedemption.objects.filter(discount=discount, customer=customer).count()
            if used >= discount.per_customer_limit:
                raise DiscountNotApplicable(
                    "customer_used_up", _("You have already used this offer.")
                )
        Discount.objects.filter(pk=discount.pk).update(times_used=F("times_used") + 1)
        if code is not None:
            DiscountCode.objects.filter(pk=code.pk).update(times_used=F("times_used") + 1)
        DiscountRedemption.objects.create(
            discount=discount,
            code=code,
            customer=customer,
            reference=order.number,
            amount=_d(applied["amount"]),
        )


def _customer_for(draft: OrderDraft, channel) -> Customer | None:
    if draft.customer_id:
        customer = Customer.objects.filter(pk=draft.customer_id).first()
        return customers.customer_resolve(customer) if customer else None
    if not (draft.email or draft.phone):
        return None
    address = draft.billing_address or draft.shipping_address or {}
    names = {
        name: address.get(name, "")
        for name in ("first_name", "last_name", "first_name_reading", "last_name_reading")
        if address.get(name)
    }
    customer, _created = customers.customer_find_or_create(
        email=draft.email or None,
        phone=draft.phone or address.get("phone") or None,
        channel=channel,
        actor="checkout",
        **names,
    )
    return customer


def order_place(payment: Payment, *, cart: Cart | None = None) -> Order:
    """Make the order a payment was for, from its draft, in the caller's transaction: the
    cart's stock hold becomes the order's allocation, discounts are counted, the customer is
    found or created, and `order.placed` (and `order.paid` if captured) is published.

    The caller holds the cart's row lock (`cart`, when it has it at hand, with its channel)
    and has checked that the cart has no order yet.
    Raises `InsufficientStock` when the hold ran out and the stock went elsewhere, or
    `DiscountNotApplicable` when a code was used up meanwhile: the caller voids the payment."""
    draft = OrderDraft.from_json(payment.snapshot)
    if cart is None:
        cart = Cart.objects.select_related("channel", "shipping_method").get(pk=payment.cart_id)
    channel = cart.channel
    customer = _customer_for(draft, channel)
    manual = payment.method != "card"
    order = Order.objects.create(
        channel=channel,
        cart=cart,
        customer=customer,
        email=draft.email,
        phone=draft.phone,
        language=draft.language,
        status=Order.Status.UNCONFIRMED if payment.method == "bank_transfer" else S.UNFULFILLED,
        payment_method=payment.method,
        currency=draft.currency,
        prices_include_tax=draft.prices_include_tax,
        subtotal=draft.subtotal,
        discount_total=draft.discount_total,
        shipping_total=draft.shipping_total,
        tax_total=draft.tax_total,
        total=draft.total,
        tax_bands=draft.tax_bands,
        discounts=draft.discounts,
        shipping_address=draft.shipping_address,
        billing_address=draft.billing_address or draft.shipping_address,
        shipping_method_id=draft.shipping_method_id,
        shipping_method_name=draft.shipping_method_name,
        pickup_location_id=draft.pickup_location_id,
        note=draft.note,
        # An imported order keeps the marketplace's id (unique per channel: a second import
        # of it fails here, before any stock moves) and its time of sale.
        external_id=draft.external_id,
        placed_at=draft.placed_at or timezone.now(),
    )

    order.number = str(settings.ORDERS_NUMBER_START + order.pk)
    order.save(update_fields=["number"])
    lines = OrderLine.objects.bulk_create(
        OrderLine(order=order, **line.as_fields()) for line in draft.lines
    )
    remember_lines(order, lines)
    if cart.shipping_method_id and cart.shipping_method_id == draft.shipping_method_id:
        order.shipping_method = cart.shipping_method  # read with the cart: routing needs it
    order_route(order, replaces_reference=cart.reference, held_route=cart.hold_route)
    _redeem(order, draft, customer, priced_at=payment.created_at)
    payment.order = order
    payment.save(update_fields=["order", "updated_at"])
    Cart.objects.filter(pk=cart.pk).update(
        state=Cart.State.COMPLETED, completed_at=timezone.now(), hold_expires_at=None
    )
    history_add(
        order,
        "placed",
        _("Order placed in %(channel)s (%(method)s).")
        % {"channel": channel.name, "method": payment.get_method_display()},
        payment_id=payment.pk,
    )
    # Totals first, so `order.placed` carries the payment state; then `order.paid` after it.
    payments_refresh(order, announce=False)
    order_publish(order, ORDER_PLACED)
    if order.paid_at is not None:
        history_add(order, "paid", _("Paid in full."))
        order_publish(order, ORDER_PAID, paid_at=order.paid_at)
    if manual and payment.method not in (PaymentMethod.CASH, PaymentMethod.MARKETPLACE):
        history_add(order, "awaiting_payment", _("Awaiting payment (settled by staff)."))
    return order
