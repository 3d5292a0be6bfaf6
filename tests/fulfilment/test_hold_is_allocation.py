"""One planner: over random stock layouts, the cart's checkout hold lands on the same locations,
line by line, as an order's allocation made afresh for the same lines and address, and the
order placed from the cart takes the hold over unchanged (no unit moves between the hold and
the allocation). Refusals agree too: a cart that cannot be held is an order that cannot be
allocated, naming the same SKU."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest
from django.db import transaction

from catalog.models import ProductVariant
from commerce.errors import Conflict
from inventory.errors import InsufficientStock
from inventory.models import Reservation, Stock, StockLocation
from inventory.services import stock_adjust, stock_release
from orders import services
from orders.models import Order, OrderLine
from tests.fulfilment.conftest import OSAKA_ADDRESS, Omni
from tests.orders.conftest import JP_ADDRESS

pytestmark = pytest.mark.django_db

LAYOUTS = 40
SKUS = ["TEE-RED-M", "TEE-BLUE-M", "SKN-LOT-150"]


def _layout(rng: random.Random, variants: list[ProductVariant], locations: list[StockLocation]):
    """Set every (variant, location) on hand to 0 to 6 units, through the ledger."""
    for variant in variants:
        for location in locations:
            stock = Stock.objects.filter(variant=variant, location=location).first()
            delta = rng.randint(0, 6) - (stock.on_hand if stock else 0)
            if delta:
                stock_adjust(
                    variant_id=variant.pk, location_id=location.pk, delta=delta, reason="adjustment"
                )


def _taken(reference: str) -> list[tuple[str, str, int]]:
    return sorted(
        Reservation.objects.filter(reference=reference, state="active").values_list(
            "variant__sku", "location__code", "quantity"
        )
    )


def _fresh_allocation(omni: Omni, lines, address) -> tuple[list[tuple[str, str, int]], str]:
    """Allocate an order with these lines afresh (no hold to take over), as an order that
    does not come from a cart is; returns what it took and the short SKU, if refused."""
    order = Order.objects.create(
        channel=omni.yamato.channel,
        currency="JPY",
        prices_include_tax=True,
        subtotal=D(0),
        discount_total=D(0),
        shipping_total=D(0),
        tax_total=D(0),
        total=D(0),
        shipping_address=address,
        shipping_method=omni.yamato,
    )
    order.number = f"P{order.pk}"
    order.save(update_fields=["number"])
    for variant, quantity in lines:
        OrderLine.objects.create(
            order=order,
            variant=variant,
            sku=variant.sku,
            product_name=variant.product.name,
            variant_name=variant.name,
            tax_class="standard",
            quantity=quantity,
            unit_price=D(1),
            discount=D(0),
            amount=D(quantity),
            tax_rate=D(0),
            tax=D(0),
        )
    try:
        with transaction.atomic():
            services.order_route(order)
    except InsufficientStock as exc:
        return [], exc.extra.get("sku", "")
    taken = _taken(order.reference)
    stock_release(reference=order.reference)
    return taken, ""


def test_the_hold_and_the_allocation_land_on_the_same_locations_over_random_layouts(
    omni: Omni,
):
    variants = list(ProductVariant.objects.filter(sku__in=SKUS).select_related("product"))
    assert len(variants) == len(SKUS)
    locations = [omni.warehouse, omni.osaka, omni.umeda]
    rng = random.Random(20261203)
    outcomes = {"held": 0, "split": 0, "refused": 0}
    for example in range(LAYOUTS):
        with transaction.atomic():
            _layout(rng, variants, locations)
            address = rng.choice([JP_ADDRESS, OSAKA_ADDRESS])
            lines = [(v, rng.randint(1, 6)) for v in rng.sample(variants, rng.randint(1, 3))]

            cart = services.cart_create(channel=omni.yamato.channel, email="p@example.jp")
            in_cart = []
            for variant, quantity in lines:
                try:  # the cart itself refuses more than the channel has anywhere
                    services.cart_line_set(cart, sku=variant.sku, quantity=quantity)
                    in_cart.append((variant, quantity))
                except Conflict:
                    pass
            lines = in_cart
            if not lines:
                transaction.set_rollback(True)
                continue
            services.cart_update(cart, shipping_address=address, shipping_method="yamato")
            try:
                services.cart_checkout_start(cart)
                held, held_refusal = _taken(cart.reference), ""
            except InsufficientStock as exc:
                held, held_refusal = [], exc.extra.get("sku", "")
            services.cart_release(cart)

            fresh, fresh_refusal = _fresh_allocation(omni, lines, address)
            context = f"example {example}: lines {[(v.sku, q) for v, q in lines]}"
            assert (held, held_refusal) == (fresh, fresh_refusal), context

            if held:
                order = services.checkout_complete(
                    cart, payment=services.PaymentInput(method="card", token="tok_visa")
                )
                assert _taken(order.reference) == held, context
                assert order.routing[-1].get("held_at"), context
                units = sorted(
                    (line.order_line.sku, fulfilment.location.code, line.quantity)
                    for fulfilment in order.fulfilments.all()
                    for line in fulfilment.lines.select_related("order_line")
                )
                assert units == held, context
                outcomes["split" if len({loc for _, loc, _ in held}) > 1 else "held"] += 1
            else:
                outcomes["refused"] += 1
            transaction.set_rollback(True)
    # The layouts exercise every branch of the planner: one location, a split, a refusal.
    assert all(count >= 3 for count in outcomes.values()), outcomes
