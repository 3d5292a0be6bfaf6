"""Products to put in a rule's message: in-stock alternatives to a sold-out variant, and
co-purchase recommendations for a customer ("bought together with what you bought")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count

from catalog.models import ProductVariant
from catalog.selectors import product_list_for_channel
from commerce.models import Channel
from inventory.selectors import product_in_stock_condition
from orders.models import OrderLine

COUNT = 3
PRICE_BAND = Decimal("0.3")  # alternatives within ±30 % of the sold-out product's price


def _row(row: dict[str, Any], currency: str) -> dict[str, Any]:
    return {
        "name": row["name"],
        "slug": row["slug"],
        "url": f"{settings.SITE_URL.rstrip('/')}/products/{row['slug']}/",
        "price": f"{row['price_from']} {currency}" if row.get("price_from") is not None else "",
    }


def alternatives_for(*, variant_id: int, channel_code: Any) -> list[dict[str, Any]]:
    """In-stock products of the same category, priced within the band, this one excluded."""
    channel = (
        Channel.objects.filter(code=channel_code).first() if isinstance(channel_code, str) else None
    )
    variant = ProductVariant.objects.select_related("product").filter(pk=variant_id).first()
    if channel is None or variant is None or variant.product.category_id is None:
        return []
    products = (
        product_list_for_channel(channel=channel)
        .filter(
            product_in_stock_condition(channel=channel), category_id=variant.product.category_id
        )
        .exclude(pk=variant.product_id)
    )
    own = (
        product_list_for_channel(channel=channel)
        .filter(pk=variant.product_id)
        .values_list("price_from", flat=True)
        .first()
    )
    if own:
        products = products.filter(
            price_from__gte=own * (1 - PRICE_BAND), price_from__lte=own * (1 + PRICE_BAND)
        )
    rows = products.order_by("price_from", "pk").values("pk", "name", "slug", "price_from")[:COUNT]
    return [_row(row, channel.currency) for row in rows]


def recommendations_for(
    *, customer_id: int, channel: Channel | None = None
) -> list[dict[str, Any]]:
    """Products most often bought by the customers who bought what this customer bought, that
    this customer has not bought; in stock in the channel when one is given."""
    bought = set(
        OrderLine.objects.filter(order__customer_id=customer_id, variant__isnull=False).values_list(
            "variant__product_id", flat=True
        )
    )
    if not bought:
        return []
    buyers = (
        OrderLine.objects.filter(variant__product_id__in=bought)
        .exclude(order__customer_id=customer_id)
        .exclude(order__customer_id__isnull=True)
        .values("order__customer_id")
    )
    together = (
        OrderLine.objects.filter(order__customer_id__in=buyers, variant__isnull=False)
        .exclude(variant__product_id__in=bought)
        .values("variant__product_id")
        .annotate(n=Count("order__customer_id", distinct=True))
        .order_by("-n", "variant__product_id")[:20]
    )
    product_ids = [row["variant__product_id"] for row in together]
    if not product_ids:
        return []
    if channel is None:
        channel = Channel.objects.order_by("pk").first()
    products = product_list_for_channel(channel=channel).filter(pk__in=product_ids)
    products = products.filter(product_in_stock_condition(channel=channel))
    by_id = {row["pk"]: row for row in products.values("pk", "name", "slug", "price_from")}
    return [_row(by_id[pk], channel.currency) for pk in product_ids if pk in by_id][:COUNT]
