"""The pricing rules of orders/pricing.py, on the two demo tax regimes: Japan (prices with tax,
10 % standard and 8 % reduced, tax rounded down once per rate) and a US state (prices before
tax, rounded half up)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from commerce.errors import ValidationFailed
from orders.models import TaxRate
from orders.pricing import Destination, Item, quote
from tests.factories import ChannelFactory, TaxClassFactory

TOKYO = Destination("JP", "Tokyo")
NEW_YORK = Destination("US", "NY")


@pytest.fixture
def rates(db):
    standard, reduced = TaxClassFactory(standard=True), TaxClassFactory(reduced=True)
    TaxRate.objects.create(tax_class=standard, country="JP", rate=D("0.10"))
    TaxRate.objects.create(tax_class=reduced, country="JP", rate=D("0.08"))
    TaxRate.objects.create(tax_class=standard, country="US", rate=D("0.04"))  # a state's share
    TaxRate.objects.create(tax_class=standard, country="US", region="NY", rate=D("0.08875"))
    TaxRate.objects.create(tax_class=reduced, country="US", region="NY", rate=D("0"))
    return standard, reduced


@pytest.fixture
def jp(rates):
    return ChannelFactory(web_jp=True)


@pytest.fixture
def us(rates):
    return ChannelFactory(web_us=True)


def test_tax_included_prices_split_into_one_band_per_rate(jp):
    result = quote(
        channel=jp,
        items=[
            Item("TEA-1", 2, D(1080), "reduced"),
            Item("CUP-1", 1, D(3300), "standard"),
        ],
        destination=TOKYO,
    )

    assert [(b.rate, b.net, b.tax, b.gross) for b in result.bands] == [
        (D("0.08"), D(2000), D(160), D(2160)),
        (D("0.10"), D(3000), D(300), D(3300)),
    ]
    assert (result.subtotal, result.tax, result.total) == (D(5460), D(460), D(5460))
    assert [(line.key, line.tax, line.net) for line in result.lines] == [
        ("TEA-1", D(160), D(2000)),
        ("CUP-1", D(300), D(3000)),
    ]


def test_yen_tax_is_rounded_down_once_per_rate_not_per_line(jp):
    result = quote(
        channel=jp,
        items=[Item(f"MUG-{n}", 1, D(1000), "standard") for n in range(3)],
        destination=TOKYO,
    )

    # 3,000 x 10/110 = 272.7 -> 272; per line it would have been 3 x 90 = 270.
    assert result.tax == D(272)
    assert [line.tax for line in result.lines] == [D(91), D(91), D(90)]
    assert sum(line.net for line in result.lines) == D(3000) - D(272)
    assert result.total == D(3000)


def test_the_rounding_of_a_currency_can_be_changed(jp, settings):
    settings.ORDERS_TAX_ROUNDING = {**settings.ORDERS_TAX_ROUNDING, "JPY": "ROUND_HALF_UP"}

    result = quote(channel=jp, items=[Item("MUG-1", 3, D(1000), "standard")], destination=TOKYO)

    assert result.tax == D(273)


def test_tax_excluded_prices_add_the_regions_rate_rounded_half_up(us):
    result = quote(
        channel=us,
        items=[Item("TEA-1", 3, D("19.99"), "standard"), Item("SNACK-1", 1, D("4.50"), "reduced")],
        destination=NEW_YORK,
    )

    # 59.97 x 8.875 % = 5.3223 -> 5.32 (the state's own rate, not the country-wide one).
    assert [(b.rate, b.net, b.tax, b.gross) for b in result.bands] == [
        (D("0"), D("4.50"), D("0.00"), D("4.50")),
        (D("0.08875"), D("59.97"), D("5.32"), D("65.29")),
    ]
    assert (result.subtotal, result.total) == (D("64.47"), D("69.79"))


def test_a_region_without_its_own_rate_uses_the_countrys(us):
    result = quote(
        channel=us,
        items=[Item("TEA-1", 1, D("10.00"), "standard")],
        destination=Destination("US", "OR"),
    )

    assert result.tax == D("0.40")


def test_discounts_come_off_the_line_before_tax(jp):
    result = quote(
        channel=jp,
        items=[Item("CUP-1", 2, D(3300), "standard", discount=D("660.4"))],
        destination=TOKYO,
    )

    [line] = result.lines
    assert (line.discount, line.amount, line.tax) == (D(660), D(5940), D(540))


def test_a_discount_larger_than_its_line_is_refused_naming_the_line(jp):
    with pytest.raises(ValidationFailed) as raised:
        quote(
            channel=jp,
            items=[Item("CUP-1", 1, D(3300), "standard", discount=D(4000))],
            destination=TOKYO,
        )

    assert list(raised.value.errors) == ["CUP-1"]


def test_shipping_is_taxed_as_standard_goods_and_kept_apart(jp):
    result = quote(
        channel=jp,
        items=[Item("TEA-1", 1, D(1080), "reduced")],
        destination=TOKYO,
        shipping=D(550),
    )

    assert [line.key for line in result.lines] == ["TEA-1"]
    assert (result.shipping.amount, result.shipping.tax) == (D(550), D(50))
    assert (result.subtotal, result.tax, result.total) == (D(1080), D(130), D(1630))


def test_no_rate_for_the_destination_is_an_error_naming_each_sku(jp):
    with pytest.raises(ValidationFailed) as raised:
        quote(
            channel=jp,
            items=[Item("TEA-1", 1, D(1080), "reduced"), Item("CUP-1", 1, D(3300), "standard")],
            destination=Destination("FR"),
        )

    assert sorted(raised.value.errors) == ["CUP-1", "TEA-1"]
    assert "FR" in raised.value.errors["TEA-1"][0]


def test_the_rate_valid_on_the_day_applies(jp, rates):
    standard, _reduced = rates
    TaxRate.objects.filter(tax_class=standard, country="JP").update(valid_from=date(2019, 10, 1))
    TaxRate.objects.create(
        tax_class=standard, country="JP", rate=D("0.08"), valid_from=date(2014, 4, 1)
    )
    items = [Item("CUP-1", 1, D(1080), "standard")]

    before = quote(channel=jp, items=items, destination=TOKYO, on=date(2019, 9, 30))
    after = quote(channel=jp, items=items, destination=TOKYO, on=date(2019, 10, 1))

    assert (before.tax, after.tax) == (D(80), D(98))
