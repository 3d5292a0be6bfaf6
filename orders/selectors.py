"""Reads the orders app's views, admin and API share, each in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import F, Prefetch, QuerySet

from catalog.models import BundleComponent
from inventory.models import StockLocation
from orders.models import Cart, Fulfilment, FulfilmentLine, Order, OrderLine, Transaction

TO_PICK = [Fulfilment.State.PENDING, Fulfilment.State.PICKING]


def fulfilments_with_lines() -> QuerySet[Fulfilment]:
    """Fulfilments with their order, location, carrier and lines, soonest promise first."""
    return (
        Fulfilment.objects.select_related("order", "location", "carrier")
        .prefetch_related(
            Prefetch(
                "lines", queryset=FulfilmentLine.objects.select_related("order_line").order_by("id")
            )
        )
        .order_by(F("ship_by").asc(nulls_last=True), "id")
    )


@dataclass
class PickRow:
    sku: str
    product_name: str
    variant_name: str
    quantity: int = 0
    fulfilments: list[str] = field(default_factory=list)
    contains: list[str] = field(default_factory=list)  # a bundle: "2 x SKU" per component


@dataclass
class PickList:
    fulfilments: list[Fulfilment]
    skus: list[PickRow]


def pick_list(location: StockLocation) -> PickList:
    """What to pick at a location: its open fulfilments (pending or picking) and their units
    summed per SKU with the fulfilments each goes to. A bundle is listed as sold, with what
    one of it is made of (the picker takes the components). Three queries."""
    fulfilments = list(fulfilments_with_lines().filter(location=location, state__in=TO_PICK))
    by_sku: dict[str, PickRow] = {}
    variant_of: dict[str, int | None] = {}
    for fulfilment in fulfilments:
        for line in fulfilment.lines.all():
            order_line = line.order_line
            row = by_sku.setdefault(
                order_line.sku,
                PickRow(order_line.sku, order_line.product_name, order_line.variant_name),
            )
            variant_of[order_line.sku] = order_line.variant_id
            row.quantity += line.quantity
            if fulfilment.number not in row.fulfilments:
                row.fulfilments.append(fulfilment.number)
    parts: dict[int, list[str]] = defaultdict(list)
    for component in (
        BundleComponent.objects.filter(bundle_id__in=set(variant_of.values()) - {None})
        .select_related("component")
        .order_by("component__sku")
    ):
        parts[component.bundle_id].append(f"{component.quantity} x {component.component.sku}")
    for sku, row in by_sku.items():
        row.contains = parts.get(variant_of[sku], [])
    return PickList(fulfilments, [by_sku[sku] for sku in sorted(by_sku)])


# --- Orders and carts, as the API shows them -------------------------------------------------


def orders_with_lines() -> QuerySet[Order]:
    """Orders with their channel, pickup store and lines (in the order placed): two queries
    for any number of orders."""
    return Order.objects.select_related("channel", "pickup_location").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
    )


def order_with_lines(order: Order) -> Order:
    """`order` ready to show; one just placed already has its lines and channel at hand."""
    if "lines" in getattr(order, "_prefetched_objects_cache", {}):
        return order
    return orders_with_lines().get(pk=order.pk)


def orders_of_customer(customer_id: int) -> QuerySet[Order]:
    """A customer's orders in every channel, newest first."""
    return orders_with_lines().filter(customer_id=customer_id).order_by("-placed_at", "-id")


def order_for_guest(*, number: str, email: str) -> Order | None:
    """The order with this number placed with this e-mail (any letter case), or None."""
    return orders_with_lines().filter(number=number.strip(), email__iexact=email.strip()).first()


def order_transactions(order: Order) -> QuerySet[Transaction]:
    return Transaction.objects.filter(payment__order=order).order_by("id")


def order_fulfilments(order: Order) -> QuerySet[Fulfilment]:
    """The order's fulfilments with their location, carrier and lines (three queries)."""
    return (
        order.fulfilments.select_related("location", "carrier")
        .prefetch_related(
            Prefetch(
                "lines", queryset=FulfilmentLine.objects.select_related("order_line").order_by("id")
            )
        )
        .order_by("id")
    )


def cart_by_token(token: str) -> Cart | None:
    """The cart with everything its answer shows (channel, customer, shipping, pickup store)."""
    return (
        Cart.objects.select_related("channel", "customer", "shipping_method", "pickup_location")
        .filter(token=token)
        .first()
    )
