"""Money: a Decimal amount with its currency, rounded to the currency's own minor units."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import format_currency, get_currency_precision, list_currencies


@cache
def currency_exponent(currency: str) -> int:
    """Digits after the decimal point for a currency: 0 for JPY, 2 for EUR, 3 for KWD."""
    return get_currency_precision(currency)


@cache
def known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit (how Japanese and EU shops round a total)."""
    return amount.quantize(Decimal(1).scaleb(-currency_exponent(currency)), rounding=ROUND_HALF_UP)


def has_valid_precision(amount: Decimal, currency: str) -> bool:
    """True when the amount needs no rounding in the currency (e.g. no 'sen' in a JPY price)."""
    try:
        return quantize(amount, currency) == amount
    except InvalidOperation:
        return False


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money amounts are Decimal, never float.")

    def quantized(self) -> Money:
        return Money(quantize(self.amount, self.currency), self.currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        return Money(self.amount * factor, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"Cannot combine {self.currency} with {other.currency}.")

    def as_string(self) -> str:
        """The amount as the API shows it: exact, with the currency's minor digits."""
        return str(quantize(self.amount, self.currency))

    def format(self, locale: str = "en") -> str:
        return format_currency(self.amount, self.currency, locale=locale)
