"""The order draft: everything placement needs to make an order, priced and checked.

Checkout (and so the call centre and the till) builds one from a cart's quote, the marketplace
import from a marketplace's own prices; subscriptions will build theirs. It travels as JSON on
the payment (`Payment.snapshot`) between checkout's steps, because the payment is what a
gateway's late answer or `reconcile_payments` finds and finishes; `OrderDraft.from_json` reads
it back, also from payments written before the draft had a type (the same keys).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True)
class DraftLine:
    variant_id: int | None
    sku: str
    product_name: str
    variant_name: str
    tax_class: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    amount: Decimal
    tax_rate: Decimal
    tax: Decimal

    @classmethod
    def of(cls, line: Any) -> DraftLine:
        """From anything with these attributes (a cart quote's line)."""
        return cls(**{f.name: getattr(line, f.name) for f in fields(cls)})

    def as_fields(self) -> dict[str, Any]:
        """The `OrderLine` fields this line becomes."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DraftLine:
        return cls(
            variant_id=data.get("variant_id"),
            sku=data["sku"],
            product_name=data.get("product_name", ""),
            variant_name=data.get("variant_name", ""),
            tax_class=data.get("tax_class", ""),
            quantity=int(data["quantity"]),
            **{
                name: _money(data.get(name, 0))
                for name in ("unit_price", "discount", "amount", "tax_rate", "tax")
            },
        )


@dataclass(frozen=True)
class OrderDraft:
    cart_id: int
    channel_id: int
    currency: str
    prices_include_tax: bool
    lines: tuple[DraftLine, ...]
    subtotal: Decimal
    discount_total: Decimal
    shipping_total: Decimal
    shipping_tax: Decimal
    tax_total: Decimal
    total: Decimal
    customer_id: int | None = None
    email: str = ""
    phone: str = ""
    language: str = ""
    note: str = ""
    tax_bands: list[dict[str, Any]] = field(default_factory=list)
    discounts: list[dict[str, Any]] = field(default_factory=list)
    shipping_address: dict[str, Any] | None = None
    billing_address: dict[str, Any] | None = None
    shipping_method_id: int | None = None
    shipping_method_name: str = ""
    pickup_location_id: int | None = None
    destination: dict[str, str] = field(default_factory=dict)
    # A marketplace order keeps the marketplace's id and its time of sale.
    external_id: str = ""
    placed_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """For `Payment.snapshot` (its encoder writes the Decimals and the time)."""
        data = asdict(self)
        data["lines"] = [asdict(line) for line in self.lines]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderDraft:
        placed_at = data.get("placed_at")
        if isinstance(placed_at, str):
            placed_at = parse_datetime(placed_at)
        return cls(
            cart_id=data["cart_id"],
            channel_id=data["channel_id"],
            currency=data["currency"],
            prices_include_tax=bool(data["prices_include_tax"]),
            lines=tuple(DraftLine.from_json(line) for line in data["lines"]),
            **{
                name: _money(data.get(name, 0))
                for name in (
                    "subtotal",
                    "discount_total",
                    "shipping_total",
                    "shipping_tax",
                    "tax_total",
                    "total",
                )
            },
            customer_id=data.get("customer_id"),
            email=data.get("email") or "",
            phone=data.get("phone") or "",
            language=data.get("language") or "",
            note=data.get("note") or "",
            tax_bands=list(data.get("tax_bands") or []),
            discounts=list(data.get("discounts") or []),
            shipping_address=data.get("shipping_address"),
            billing_address=data.get("billing_address"),
            shipping_method_id=data.get("shipping_method_id"),
            shipping_method_name=data.get("shipping_method_name") or "",
            pickup_location_id=data.get("pickup_location_id"),
            destination=dict(data.get("destination") or {}),
            external_id=data.get("external_id") or "",
            placed_at=placed_at,
        )
