"""Pricing: what a cart or an order costs.

`taxes` is the arithmetic (lines, tax bands, rounding per currency, shipping tax), `discounts`
the promotions and codes, `quotes` a cart priced now (the lines, shipping, discounts and
taxes together). Below carts, payments and placement; reads the catalogue and its own tables
only. The arithmetic's names are re-exported here (`pricing.quote`, `pricing.Destination`).
"""

from orders.pricing.taxes import (
    SHIPPING,
    Destination,
    Item,
    PricedLine,
    Quote,
    TaxBand,
    quote,
    rates_for,
    split,
    tax_rounding,
)

__all__ = [
    "SHIPPING",
    "Destination",
    "Item",
    "PricedLine",
    "Quote",
    "TaxBand",
    "quote",
    "rates_for",
    "split",
    "tax_rounding",
]
