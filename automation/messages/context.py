"""The context every message template sees: documented in docs/messages.md, and kept stable.

Built fresh from the database when a message is sent (not from the event), so a shipped mail
shows the tracking number as it is now. Amounts are `Amount`s: `{{ order.total }}` prints
"¥3,780" or "$19.99" in the message's language, `{{ order.total.amount }}` the bare number.
Nothing here writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from catalog.selectors import product_list_for_channel
from commerce.money import quantize
from customers.services.profiles import ADDRESS_FIELDS
from inventory.selectors import product_in_stock_condition
from orders.models import Fulfilment, Order, OrderLine, PaymentMethod
from orders.selectors import order_fulfilments, order_with_lines

UPSELL_COUNT = 3


@dataclass(frozen=True)
class Amount:
    amount: Decimal
    currency: str
    language: str = "en"

    def __str__(self) -> str:
        if self.currency == "JPY" and self.language == "ja":  # as Japanese shops print prices
            return f"{quantize(Decimal(self.amount), 'JPY'):,}円"
        return format_currency(
            quantize(Decimal(self.amount), self.currency), self.currency, locale=self.language
        )


def _locale(language: str) -> str:
    return "ja_JP" if language == "ja" else "en_US"


def local_datetime(moment: datetime | None, zone: str, language: str) -> str:
    if moment is None:
        return ""
    return format_datetime(
        moment.astimezone(ZoneInfo(zone)), format="medium", locale=_locale(language)
    )


def local_date(day: date | None, language: str) -> str:
    return format_date(day, format="long", locale=_locale(language)) if day else ""


def _joined(*parts: str) -> str:
    """Japanese script runs together (東京都渋谷区神南1丁目); romaji keeps its spaces."""
    parts = tuple(p for p in parts if p)
    return ("" if any(not p.isascii() for p in parts) else " ").join(parts)


def _address(address: dict[str, Any] | None, language: str) -> dict[str, Any]:
    if not address:
        return {}
    a = {key: address.get(key, "") or "" for key in ADDRESS_FIELDS}
    if language == "ja":  # as a Japanese label is written: 〒, prefecture first, family name first
        name = " ".join(p for p in (a["last_name"], a["first_name"]) if p)
        lines = [
            f"〒{a['postal_code']}" if a["postal_code"] else "",
            _joined(a["region"], a["city"], a["line1"]),
            a["line2"],
            a["company"],
            f"{name} 様",
        ]
    else:
        name = " ".join(p for p in (a["first_name"], a["last_name"]) if p)
        lines = [
            name,
            a["company"],
            a["line1"],
            a["line2"],
            " ".join(p for p in (a["city"], a["region"], a["postal_code"]) if p),
            a["country"],
        ]
    return {**a, "name": name, "text": "\n".join(line for line in lines if line.strip())}


def shop_context(channel) -> dict[str, Any]:
    return {
        "name": settings.MESSAGES_SHOP_NAME or (channel.name if channel else ""),
        "url": settings.SITE_URL,
        "support_email": settings.MESSAGES_SUPPORT_EMAIL or settings.DEFAULT_FROM_EMAIL,
        "channel": {"code": channel.code, "name": channel.name} if channel else {},
    }


def payment_instructions(order: Order, language: str) -> str:
    with translation.override(language):
        if order.payment_method == PaymentMethod.BANK_TRANSFER and order.paid_total < order.total:
            return _(
                "Please transfer %(amount)s to the account below, quoting order %(number)s.\n%(account)s"
            ) % {
                "amount": Amount(order.total - order.paid_total, order.currency, language),
                "number": order.number,
                "account": settings.MESSAGES_BANK_ACCOUNT,
            }
        if (
            order.payment_method == PaymentMethod.CASH_ON_DELIVERY
            and order.paid_total < order.total
        ):
            return _("Please pay %(amount)s to the driver on delivery (cash or card).") % {
                "amount": Amount(order.total - order.paid_total, order.currency, language)
            }
    return ""


def fulfilment_context(fulfilment: Fulfilment, zone: str, language: str) -> dict[str, Any]:
    location = fulfilment.location
    collect_by = (
        fulfilment.ready_at + timedelta(days=settings.ORDERS_PICKUP_COLLECT_DAYS)
        if fulfilment.ready_at
        else None
    )
    return {
        "number": fulfilment.number,
        "kind": fulfilment.kind,
        "state": fulfilment.state,
        "carrier": fulfilment.carrier.name if fulfilment.carrier_id else "",
        "tracking_number": fulfilment.tracking_number,
        "tracking_url": fulfilment.tracking_url,
        "estimated_delivery": local_date(fulfilment.estimated_delivery, language),
        "shipped_at": local_datetime(fulfilment.shipped_at, zone, language),
        "pickup_code": fulfilment.pickup_code,
        "collect_by": local_datetime(collect_by, location.time_zone, language),
        "lines": [
            {
                "sku": line.order_line.sku,
                "name": line.order_line.product_name,
                "variant": line.order_line.variant_name,
                "quantity": line.quantity,
            }
            for line in fulfilment.lines.all()
        ],
        "location": {
            "name": location.name,
            "address": " ".join(
                p
                for p in (
                    location.postal_code,
                    location.region,
                    location.city,
                    location.address_line,
                )
                if p
            ),
            "opening_hours": location.opening_hours,
        },
    }


_upsell_cache: dict[tuple[int, int], tuple[float, list[dict[str, Any]]]] = {}


def _in_stock_of_category(channel, category_id: int) -> list[dict[str, Any]]:
    """A few in-stock products of a category in a channel, kept UPSELL_CACHE_SECONDS in this
    process: every confirmation of a busy shop would otherwise run the same stock query."""
    key = (channel.pk, category_id)
    cached = _upsell_cache.get(key)
    now = time.monotonic()
    if cached and now - cached[0] < settings.MESSAGES_UPSELL_CACHE_SECONDS:
        return cached[1]
    rows = list(
        product_list_for_channel(channel=channel)
        .filter(product_in_stock_condition(channel=channel), category_id=category_id)
        .order_by("-pk")
        .values("pk", "name", "slug", "price_from")[: UPSELL_COUNT * 3]
    )
    if len(_upsell_cache) > 10_000:
        _upsell_cache.clear()
    _upsell_cache[key] = (now, rows)
    return rows


def upsell(order: Order, language: str) -> list[dict[str, Any]]:
    """A few in-stock products of the categories just bought, not those bought."""
    bought = set(
        OrderLine.objects.filter(order=order, variant__isnull=False).values_list(
            "variant__product_id", "variant__product__category_id"
        )
    )
    bought_products = {product for product, _category in bought}
    chosen: list[dict[str, Any]] = []
    for category_id in sorted({category for _product, category in bought if category}):
        for row in _in_stock_of_category(order.channel, category_id):
            if row["pk"] not in bought_products and row not in chosen:
                chosen.append(row)
    return [
        {
            "name": row["name"],
            "slug": row["slug"],
            "url": f"{settings.SITE_URL.rstrip('/')}/products/{row['slug']}/",
            "price": Amount(row["price_from"], order.currency, language),
        }
        for row in chosen[:UPSELL_COUNT]
    ]


def order_context(order: Order, *, language: str, with_upsell: bool = False) -> dict[str, Any]:
    order = order_with_lines(order)
    zone = order.channel.time_zone

    def amount(value: Decimal) -> Amount:
        return Amount(value, order.currency, language)

    fulfilments = list(
        order_fulfilments(order)
        .select_related("location", "carrier")
        .prefetch_related("lines__order_line")
    )
    with translation.override(language):
        method_label = (
            str(PaymentMethod(order.payment_method).label) if order.payment_method else ""
        )
    estimated = min(
        (f.estimated_delivery for f in fulfilments if f.estimated_delivery), default=None
    )
    context = {
        "shop": shop_context(order.channel),
        "customer": {
            **{
                k: v
                for k, v in _address(
                    order.billing_address or order.shipping_address, language
                ).items()
                if k in ("first_name", "last_name", "name")
            },
            "email": order.email,
            "language": language,
        },
        "order": {
            "number": order.number,
            "placed_at": local_datetime(order.placed_at, zone, language),
            "status": order.get_status_display(),
            "payment_method": order.payment_method,
            "payment_method_label": method_label,
            "currency": order.currency,
            "prices_include_tax": order.prices_include_tax,
            "subtotal": amount(order.subtotal),
            "discount_total": amount(order.discount_total),
            "shipping_total": amount(order.shipping_total),
            "tax_total": amount(order.tax_total),
            "total": amount(order.total),
            "paid_total": amount(order.paid_total),
            "refunded_total": amount(order.refunded_total),
            "tax_bands": [
                {
                    "rate": f"{(Decimal(str(b['rate'])) * 100).normalize():f}%",
                    "net": amount(Decimal(str(b["net"]))),
                    "tax": amount(Decimal(str(b["tax"]))),
                    "gross": amount(Decimal(str(b["gross"]))),
                }
                for b in order.tax_bands or []
            ],
            "lines": [
                {
                    "sku": line.sku,
                    "name": line.product_name,
                    "variant": line.variant_name,
                    "quantity": line.quantity,
                    "unit_price": amount(line.unit_price),
                    "amount": amount(line.amount),
                }
                for line in order.lines.all()
            ],
            "shipping_address": _address(order.shipping_address, language),
            "shipping_method": order.shipping_method_name,
            "is_pickup": order.pickup_location_id is not None,
            "pickup_store": order.pickup_location.name if order.pickup_location_id else "",
            "estimated_delivery": local_date(estimated, language),
            "tracking_page_url": settings.MESSAGES_ORDER_URL.format(number=order.number),
        },
        "payment_instructions": payment_instructions(order, language),
        "payment": {
            "method": order.payment_method,
            "bank_transfer": order.payment_method == PaymentMethod.BANK_TRANSFER,
            "cod": order.payment_method == PaymentMethod.CASH_ON_DELIVERY,
            "due": amount(max(order.total - order.paid_total, Decimal(0))),
            "bank_account": settings.MESSAGES_BANK_ACCOUNT,
        },
        "fulfilments": [fulfilment_context(f, zone, language) for f in fulfilments],
        "upsell": upsell(order, language) if with_upsell else [],
    }
    return context


def sample_context(language: str = "en") -> dict[str, Any]:
    """For checking a template when the shop has no order yet: every key, made-up values."""
    money = Amount(Decimal("3780"), "JPY", language)
    line = {
        "sku": "TEA-1",
        "name": "Uji Matcha",
        "variant": "",
        "quantity": 2,
        "unit_price": money,
        "amount": money,
    }
    fulfilment = {
        "number": "1001-1",
        "kind": "shipment",
        "state": "shipped",
        "carrier": "Yamato",
        "tracking_number": "1234-5678-9012",
        "tracking_url": "https://example.com/t",
        "estimated_delivery": "",
        "shipped_at": "",
        "pickup_code": "ABC123",
        "collect_by": "",
        "lines": [line],
        "location": {"name": "Shibuya store", "address": "", "opening_hours": "10-20"},
    }
    return {
        "shop": {
            "name": "Shop",
            "url": settings.SITE_URL,
            "support_email": "shop@example.com",
            "channel": {"code": "web", "name": "Web"},
        },
        "customer": {
            "first_name": "Hanako",
            "last_name": "Yamada",
            "name": "Hanako Yamada",
            "email": "hanako@example.com",
            "language": language,
        },
        "order": {
            "number": "1001",
            "placed_at": "",
            "status": "",
            "payment_method": "card",
            "payment_method_label": "Card",
            "currency": "JPY",
            "prices_include_tax": True,
            "subtotal": money,
            "discount_total": money,
            "shipping_total": money,
            "tax_total": money,
            "total": money,
            "paid_total": money,
            "refunded_total": money,
            "tax_bands": [{"rate": "10%", "net": money, "tax": money, "gross": money}],
            "lines": [line],
            "shipping_address": {"name": "Hanako Yamada", "text": ""},
            "shipping_method": "Standard",
            "is_pickup": False,
            "pickup_store": "",
            "estimated_delivery": "",
            "tracking_page_url": settings.SITE_URL,
        },
        "payment_instructions": "",
        "payment": {
            "method": "card",
            "bank_transfer": False,
            "cod": False,
            "due": money,
            "bank_account": settings.MESSAGES_BANK_ACCOUNT,
        },
        "fulfilments": [fulfilment],
        "fulfilment": fulfilment,
        "upsell": [
            {"name": "Hojicha", "slug": "hojicha", "url": settings.SITE_URL, "price": money}
        ],
        "refund": {"amount": money},
        "cancellation": {"reason": ""},
        "link": settings.SITE_URL,
        "hours": 24,
        "unsubscribe_url": settings.SITE_URL,
    }
