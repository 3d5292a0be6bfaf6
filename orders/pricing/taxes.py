"""Line and order totals, taxes and rounding: the one place money is computed for selling.

Rules (tested in tests/orders/test_pricing.py):

1. A line's amount is unit price x quantity - its discount, in the channel's basis: tax
   included when the channel shows prices with tax (Japan), excluded otherwise (US). Prices are
   already in the currency's minor units; discounts are rounded to them half up.
2. Tax is computed once per tax rate over the whole order, not per line: the rule of Japan's
   qualified-invoice system (one rounding per rate per invoice), and what keeps the printed
   total equal to the sum of its bands. Tax-included: tax = gross x r / (1 + r); tax-excluded:
   tax = net x r.
3. Tax is rounded to the minor unit with ORDERS_TAX_ROUNDING per currency: JPY rounds down
   (切り捨て, what most Japanese merchants print), other currencies half up.
4. Each line's share of its band's tax (kept on order lines) is split in proportion to line
   amounts by the largest remainder, so line taxes add up to the band exactly.
5. Shipping is taxed like goods of ORDERS_SHIPPING_TAX_CLASS.
6. A rate is the tax class's rate for the destination's region if there is one, else for its
   country, the latest valid on the day; no rate is an error naming the SKU, never a silent 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce.errors import ValidationFailed
from commerce.models import Channel
from commerce.money import currency_exponent
from orders.models import TaxRate

ZERO = Decimal(0)
SHIPPING = "shipping"


@dataclass(frozen=True)
class Item:
    """What is being bought, priced as the channel lists it."""

    key: str  # the SKU, or `shipping`
    quantity: int
    unit_price: Decimal
    tax_class: str
    discount: Decimal = ZERO  # on the whole line, same basis as unit_price


@dataclass(frozen=True)
class Destination:
    country: str
    region: str = ""


@dataclass(frozen=True)
class PricedLine:
    key: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    amount: Decimal  # unit_price x quantity - discount, channel basis
    tax_rate: Decimal
    tax: Decimal
    net: Decimal
    gross: Decimal


@dataclass(frozen=True)
class TaxBand:
    rate: Decimal
    net: Decimal
    tax: Decimal
    gross: Decimal


@dataclass(frozen=True)
class Quote:
    currency: str
    prices_include_tax: bool
    lines: list[PricedLine]
    shipping: PricedLine | None
    bands: list[TaxBand] = field(default_factory=list)

    @property
    def net(self) -> Decimal:
        return sum((b.net for b in self.bands), ZERO)

    @property
    def tax(self) -> Decimal:
        return sum((b.tax for b in self.bands), ZERO)

    @property
    def total(self) -> Decimal:
        """What the customer pays."""
        return sum((b.gross for b in self.bands), ZERO)

    @property
    def subtotal(self) -> Decimal:
        """The goods after discounts, as the channel shows prices (with or without tax)."""
        return sum((line.amount for line in self.lines), ZERO)


def _unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_exponent(currency))


def tax_rounding(currency: str) -> str:
    modes = settings.ORDERS_TAX_ROUNDING
    return {"ROUND_DOWN": ROUND_DOWN, "ROUND_HALF_UP": ROUND_HALF_UP}[
        modes.get(currency, modes["*"])
    ]


def rates_for(
    tax_classes: Iterable[str], destination: Destination, *, on: date | None = None
) -> dict[str, Decimal]:
    """Each tax class's rate at the destination on a day (one query)."""
    on = on or timezone.localdate()
    found: dict[str, tuple[int, date, Decimal]] = {}
    rows = TaxRate.objects.filter(
        tax_class__code__in=set(tax_classes),
        country=destination.country.upper(),
        region__in={"", destination.region},
        valid_from__lte=on,
    ).values_list("tax_class__code", "region", "valid_from", "rate")
    for code, region, valid_from, rate in rows:
        rank = (1 if region else 0, valid_from)  # the region's own rate first, then the latest
        if code not in found or rank > found[code][:2]:
            found[code] = (*rank, rate)
    return {code: value[2] for code, value in found.items()}


def quote(
    *,
    channel: Channel,
    items: Sequence[Item],
    destination: Destination,
    shipping: Decimal = ZERO,
    on: date | None = None,
) -> Quote:
    currency, inclusive = channel.currency, channel.prices_include_tax
    unit = _unit(currency)
    every = list(items)
    if shipping:
        every.append(Item(SHIPPING, 1, shipping, settings.ORDERS_SHIPPING_TAX_CLASS))
    rates = rates_for({i.tax_class for i in every}, destination, on=on)
    errors = {
        i.key: [
            _("No %(tax_class)s tax rate for %(country)s: add one under Orders → Tax rates.")
            % {"tax_class": i.tax_class, "country": destination.country}
        ]
        for i in every
        if i.tax_class not in rates
    }
    if errors:
        raise ValidationFailed(errors)

    amounts = []
    for item in every:
        discount = item.discount.quantize(unit, rounding=ROUND_HALF_UP)
        amount = item.unit_price * item.quantity - discount
        if amount < 0:
            raise ValidationFailed({item.key: [_("The discount is more than the line.")]})
        amounts.append((item, discount, amount, rates[item.tax_class]))

    by_rate: dict[Decimal, list[int]] = defaultdict(list)
    for index, (_item, _discount, _amount, rate) in enumerate(amounts):
        by_rate[rate].append(index)
    rounding = tax_rounding(currency)
    line_tax = [ZERO] * len(amounts)
    bands = []
    for rate, indexes in sorted(by_rate.items()):
        base = sum((amounts[i][2] for i in indexes), ZERO)
        exact = base * rate / (1 + rate) if inclusive else base * rate
        tax = exact.quantize(unit, rounding=rounding)
        for i, share in zip(
            indexes, split(tax, [amounts[i][2] for i in indexes], unit), strict=True
        ):
            line_tax[i] = share
        net, gross = (base - tax, base) if inclusive else (base, base + tax)
        bands.append(TaxBand(rate=rate, net=net, tax=tax, gross=gross))

    priced = []
    for (item, discount, amount, rate), tax in zip(amounts, line_tax, strict=True):
        net, gross = (amount - tax, amount) if inclusive else (amount, amount + tax)
        priced.append(
            PricedLine(
                key=item.key,
                quantity=item.quantity,
                unit_price=item.unit_price,
                discount=discount,
                amount=amount,
                tax_rate=rate,
                tax=tax,
                net=net,
                gross=gross,
            )
        )
    shipping_line = priced.pop() if shipping else None
    return Quote(
        currency=currency,
        prices_include_tax=inclusive,
        lines=priced,
        shipping=shipping_line,
        bands=bands,
    )


def split(total: Decimal, weights: list[Decimal], unit: Decimal) -> list[Decimal]:
    """`total` in proportion to `weights`, in whole minor units that add up to `total`
    (largest remainder; ties to the earlier line)."""
    whole = sum(weights, ZERO)
    if whole == 0:
        return [ZERO] * len(weights)
    steps = int(total / unit)
    exact = [steps * w / whole for w in weights]
    floors = [int(e) for e in exact]
    left = steps - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [unit * f for f in floors]
