"""Discount codes and promotions: how much comes off, and why a code does not apply."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from customers.services import customer_create
from orders.models import Discount, DiscountCode, DiscountRedemption
from orders.pricing.discounts import (
    CODE_ALPHABET,
    CartLine,
    DiscountNotApplicable,
    automatic_discounts,
    code_get,
    codes_generate,
    discount_apply,
)
from tests.factories import CategoryFactory, ChannelFactory, ProductFactory


@pytest.fixture
def jp(db):
    return ChannelFactory(web_jp=True)


@pytest.fixture
def tea(db):
    drinks = CategoryFactory(name="Drinks", slug="drinks")
    green = CategoryFactory(name="Green tea", slug="green-tea", parent=drinks)
    return ProductFactory(category=green)


@pytest.fixture
def mug(db):
    return ProductFactory(category=CategoryFactory(name="Kitchen", slug="kitchen"))


@pytest.fixture
def cart(tea, mug):
    return [
        CartLine("TEA-1", tea.pk, tea.category.path, D(3000)),
        CartLine("MUG-1", mug.pk, mug.category.path, D(2000)),
    ]


def reason(call) -> str:
    with pytest.raises(DiscountNotApplicable) as raised:
        call()
    return raised.value.reason


def test_a_percentage_off_the_order_is_shared_over_the_lines(jp, cart):
    discount = Discount.objects.create(name="10 % off", kind="percentage", value=D(10))
    DiscountCode.objects.create(discount=discount, code="WELCOME10")

    code = code_get(" welcome10 ")
    applied = discount_apply(code.discount, code=code, channel=jp, lines=cart)

    assert applied.amount == D(500)
    assert applied.lines == {"TEA-1": D(300), "MUG-1": D(200)}


def test_a_category_discount_takes_only_from_that_category_and_its_subcategories(jp, cart, tea):
    discount = Discount.objects.create(
        name="Tea week", kind="percentage", value=D(15), target="products"
    )
    discount.categories.add(tea.category.parent)  # "Drinks": green tea is under it

    applied = discount_apply(discount, channel=jp, lines=cart)

    assert (applied.amount, applied.lines) == (D(450), {"TEA-1": D(450)})


def test_a_fixed_amount_never_takes_more_than_the_goods(jp, cart):
    discount = Discount.objects.create(name="Voucher", kind="fixed", value=D(9000), currency="JPY")

    applied = discount_apply(discount, channel=jp, lines=cart)

    assert applied.amount == D(5000)
    assert sum(applied.lines.values()) == D(5000)


def test_free_shipping_over_an_amount_as_an_automatic_promotion(jp, cart):
    Discount.objects.create(
        name="Free shipping over 5,000 JPY",
        kind="percentage",
        value=D(100),
        target="shipping",
        min_subtotal=D(5000),
        currency="JPY",
        automatic=True,
    )

    [applied] = automatic_discounts(channel=jp, lines=cart, shipping=D(550))
    below = automatic_discounts(channel=jp, lines=cart[:1], shipping=D(550))

    assert (applied.shipping, applied.lines) == (D(550), {})
    assert below == []


def test_below_the_minimum_says_how_much_is_missing(jp, cart):
    discount = Discount.objects.create(
        name="500 off 8,000", kind="fixed", value=D(500), currency="JPY", min_subtotal=D(8000)
    )

    with pytest.raises(DiscountNotApplicable) as raised:
        discount_apply(discount, channel=jp, lines=cart)

    assert raised.value.reason == "below_minimum"
    assert raised.value.extra["missing"] == "3000"
    assert "3000 JPY" in str(raised.value.detail)


def test_each_reason_a_code_does_not_apply(jp, cart, mug):
    now = timezone.now()
    us = ChannelFactory(web_us=True)
    make = lambda **kw: Discount.objects.create(  # noqa: E731
        name="x", kind="percentage", value=D(10), **kw
    )

    assert reason(lambda: code_get("NOPE")) == "unknown"
    assert reason(lambda: discount_apply(make(is_active=False), channel=jp, lines=cart)) == (
        "inactive"
    )
    later = make(valid_from=now + timedelta(days=1))
    assert reason(lambda: discount_apply(later, channel=jp, lines=cart)) == "not_started"
    over = make(valid_until=now - timedelta(seconds=1))
    assert reason(lambda: discount_apply(over, channel=jp, lines=cart)) == "expired"
    web_us_only = make()
    web_us_only.channels.add(us)
    assert reason(lambda: discount_apply(web_us_only, channel=jp, lines=cart)) == "wrong_channel"
    dollars = make(currency="USD")
    assert reason(lambda: discount_apply(dollars, channel=jp, lines=cart)) == "wrong_currency"
    spent = make(usage_limit=2, times_used=2)
    assert reason(lambda: discount_apply(spent, channel=jp, lines=cart)) == "used_up"
    no_items = make(target="products")
    assert reason(lambda: discount_apply(no_items, channel=jp, lines=cart)) == ("no_matching_items")
    shipping = make(target="shipping")
    assert reason(lambda: discount_apply(shipping, channel=jp, lines=cart)) == "no_shipping"


def test_a_single_use_code_works_once(jp, cart):
    discount = Discount.objects.create(name="Come back", kind="percentage", value=D(5))
    [code] = codes_generate(discount, count=1)

    assert discount_apply(discount, code=code, channel=jp, lines=cart).amount == D(250)
    DiscountCode.objects.filter(pk=code.pk).update(times_used=1)
    code.refresh_from_db()
    assert reason(lambda: discount_apply(discount, code=code, channel=jp, lines=cart)) == "used_up"


def test_the_per_customer_limit_counts_that_customers_redemptions(jp, cart):
    discount = Discount.objects.create(
        name="First order", kind="percentage", value=D(10), per_customer_limit=1
    )
    hana, ken = customer_create(email="hana@example.jp"), customer_create(email="ken@example.jp")
    DiscountRedemption.objects.create(
        discount=discount, customer=hana, reference="W-1", amount=D(500)
    )

    assert reason(
        lambda: discount_apply(discount, channel=jp, lines=cart, customer_id=hana.pk)
    ) == ("customer_used_up")
    assert discount_apply(discount, channel=jp, lines=cart, customer_id=ken.pk).amount == D(500)


def test_codes_are_generated_unique_single_use_and_easy_to_read(db):
    discount = Discount.objects.create(name="Abandoned cart", kind="percentage", value=D(5))

    codes = codes_generate(discount, count=500, prefix="cart-", batch="2026-11")

    values = [c.code for c in codes]
    assert len(values) == len(set(values)) == 500
    assert (
        DiscountCode.objects.filter(discount=discount, single_use=True, batch="2026-11").count()
        == 500
    )
    assert all(v.startswith("CART-") and set(v[5:]) <= set(CODE_ALPHABET) for v in values)
    assert not any(ch in "".join(values)[5:] for ch in "01OIL")
