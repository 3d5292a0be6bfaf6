"""A cart priced now: current channel prices, discounts, shipping and tax, in one place.

The storefront shows this; checkout computes it again and keeps it on the payment (`snapshot`),
and the order is made from that snapshot, so what was charged is what the order says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import ProductChannelListing, ProductVariant, VariantChannelListing
from commerce.errors import ValidationFailed
from commerce.models import Channel
from orders import pricing
from orders.models import Cart, ShippingMethod, ShippingRate
from orders.pricing import discounts as offers

ZERO = Decimal(0)


@dataclass
class QuotedLine:
    variant_id: int
    product_id: int
    sku: str
    product_name: str
    variant_name: str
    tax_class: str
    quantity: int
    weight_grams: int
    unit_price: Decimal | None  # None: no longer sold in the channel
    problem: str = ""
    category_path: str = ""  # for offers on a category and its subcategories
    discount: Decimal = ZERO
    amount: Decimal = ZERO
    tax_rate: Decimal = ZERO
    tax: Decimal = ZERO


@dataclass
class CartQuote:
    currency: str
    prices_include_tax: bool
    lines: list[QuotedLine]
    shipping_method: ShippingMethod | None = None
    shipping_price: Decimal = ZERO  # before shipping discounts
    shipping_discount: Decimal = ZERO
    shipping_tax: Decimal = ZERO
    discounts: list[dict] = field(default_factory=list)
    code_problem: dict | None = None
    subtotal: Decimal = ZERO
    discount_total: Decimal = ZERO
    tax_total: Decimal = ZERO
    total: Decimal = ZERO
    tax_bands: list[dict] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def weight_grams(self) -> int:
        return sum(line.weight_grams * line.quantity for line in self.lines)

    @property
    def shipping_total(self) -> Decimal:
        return self.shipping_price - self.shipping_discount


def destination_for(cart: Cart) -> pricing.Destination:
    """Where tax is due: the shipping address, the pickup store, else the channel's country."""
    if cart.pickup_location_id:
        location = cart.pickup_location
        return pricing.Destination(location.country, location.region)
    if cart.shipping_address:
        return pricing.Destination(
            cart.shipping_address.get("country", ""), cart.shipping_address.get("region", "")
        )
    return pricing.Destination(cart.channel.country or "JP")


def lines_for(channel: Channel, rows: list[tuple[int, int]], *, now: datetime) -> list[QuotedLine]:
    """(variant id, quantity) rows with their current price in the channel: one query for the
    variants with their product, tax class, category, channel price and whether the product is
    on sale now, whatever the number of lines."""
    on_sale = ProductChannelListing.objects.filter(
        Q(available_from__isnull=True) | Q(available_from__lte=now),
        Q(available_until__isnull=True) | Q(available_until__gt=now),
        channel=channel,
        is_published=True,
        product_id=OuterRef("product_id"),
    )
    price = VariantChannelListing.objects.filter(channel=channel, variant_id=OuterRef("pk"))
    variants = {
        v.pk: v
        for v in ProductVariant.objects.select_related("product__tax_class", "product__category")
        .filter(pk__in=[variant_id for variant_id, _quantity in rows])
        .annotate(channel_price=Subquery(price.values("price")[:1]), on_sale=Exists(on_sale))
    }
    lines = []
    for variant_id, quantity in rows:
        variant = variants[variant_id]
        product = variant.product
        sold = variant.channel_price is not None and variant.on_sale
        lines.append(
            QuotedLine(
                variant_id=variant.pk,
                product_id=product.pk,
                sku=variant.sku,
                product_name=product.name,
                variant_name=variant.name,
                tax_class=product.tax_class.code if product.tax_class else "standard",
                quantity=quantity,
                weight_grams=variant.weight_grams or 0,
                unit_price=variant.channel_price if sold else None,
                problem="" if sold else _("No longer sold in this shop."),
                category_path=product.category.path if product.category_id else "",
            )
        )
    return lines


def shipping_price(
    method: ShippingMethod,
    *,
    destination: pricing.Destination,
    weight_grams: int,
    subtotal: Decimal,
) -> Decimal | None:
    """The method's price to a destination, or None when it does not deliver there. The region's
    own rates win over the country's; the highest threshold reached applies."""
    if method.free_over is not None and subtotal >= method.free_over:
        rates = ShippingRate.objects.filter(
            method=method, country=destination.country.upper(), region__in={"", destination.region}
        )
        return ZERO if rates.exists() else None
    measure = Decimal(weight_grams) if method.basis == ShippingMethod.Basis.WEIGHT else subtotal
    candidates = list(
        ShippingRate.objects.filter(
            method=method,
            country=destination.country.upper(),
            region__in={"", destination.region},
            from_threshold__lte=measure,
        ).order_by("-from_threshold")
    )
    if not candidates:
        return None
    own_region = [rate for rate in candidates if rate.region]
    return (own_region or candidates)[0].price


def shipping_options(cart: Cart) -> list[tuple[ShippingMethod, Decimal]]:
    """The channel's methods that deliver to the cart's destination, priced for this cart."""
    quote = cart_quote(cart)
    destination = destination_for(cart)
    goods = sum(
        (line.unit_price * line.quantity for line in quote.lines if line.unit_price is not None),
        ZERO,
    )
    options = []
    for method in ShippingMethod.objects.filter(channel=cart.channel, is_active=True):
        price = shipping_price(
            method, destination=destination, weight_grams=quote.weight_grams, subtotal=goods
        )
        if price is not None:
            options.append((method, price))
    return options


def _cart_lines_for_offers(lines: list[QuotedLine], category_paths: dict[int, str]):
    return [
        offers.CartLine(
            key=line.sku,
            product_id=line.product_id,
            category_path=category_paths.get(line.product_id, ""),
            amount=line.unit_price * line.quantity - line.discount,
            quantity=line.quantity,
        )
        for line in lines
        if line.unit_price is not None
    ]


def cart_quote(cart: Cart, *, now: datetime | None = None) -> CartQuote:
    """Price the cart as it stands. Problems (a line no longer sold, a missing rate, a code that
    does not apply) are reported, not raised: the storefront shows them; checkout refuses."""
    now = now or timezone.now()
    channel = cart.channel
    lines = lines_for(
        channel, [(line.variant_id, line.quantity) for line in cart.lines.all()], now=now
    )
    result = CartQuote(
        currency=channel.currency, prices_include_tax=channel.prices_include_tax, lines=lines
    )
    for line in lines:
        if line.problem:
            result.problems.setdefault(line.sku, []).append(line.problem)
    sellable = [line for line in lines if line.unit_price is not None]
    destination = destination_for(cart)
    goods = sum((line.unit_price * line.quantity for line in sellable), ZERO)

    # Shipping before discounts decide: a free-shipping promotion needs a price to take off.
    if cart.pickup_location_id is None and cart.shipping_method_id is not None:
        result.shipping_method = cart.shipping_method
        price = shipping_price(
            cart.shipping_method,
            destination=destination,
            weight_grams=result.weight_grams,
            subtotal=goods,
        )
        if price is None:
            result.problems.setdefault("shipping_method", []).append(
                _("This shipping method does not deliver to %(country)s.")
                % {"country": destination.country}
            )
        else:
            result.shipping_price = price

    category_paths = {line.product_id: line.category_path for line in sellable}
    customer_id = cart.customer_id
    candidates: list[tuple[object, object]] = [
        (discount, None) for discount in offers.automatic_candidates(channel=channel, now=now)
    ]
    if cart.discount_code:
        try:
            code = offers.code_get(cart.discount_code)
            candidates.append((code.discount, code))
        except offers.DiscountNotApplicable as exc:
            result.code_problem = {"reason": exc.reason, "detail": str(exc.detail)}
    by_sku = {line.sku: line for line in sellable}
    for discount, code in candidates:
        try:
            applied = offers.discount_apply(
                discount,
                channel=channel,
                lines=_cart_lines_for_offers(sellable, category_paths),
                shipping=result.shipping_price - result.shipping_discount,
                code=code,
                customer_id=customer_id,
                email=cart.email,
                now=now,
            )
        except offers.DiscountNotApplicable as exc:
            if code is not None:
                result.code_problem = {"reason": exc.reason, "detail": str(exc.detail)}
                result.code_problem.update({k: v for k, v in exc.extra.items() if k != "reason"})
            continue
        if applied.amount <= 0:
            continue
        for sku, share in applied.lines.items():
            by_sku[sku].discount += share
        result.shipping_discount += applied.shipping
        result.discounts.append(
            {
                "discount_id": discount.pk,
                "code": code.code if code else "",
                "name": discount.name,
                "amount": applied.amount,
            }
        )

    items = [
        pricing.Item(
            line.sku, line.quantity, line.unit_price, line.tax_class, discount=line.discount
        )
        for line in sellable
    ]
    shipping_total = result.shipping_price - result.shipping_discount
    if not items:
        return result
    try:
        quoted = pricing.quote(
            channel=channel,
            items=items,
            destination=destination,
            shipping=shipping_total,
            on=timezone.localdate(now),
        )
    except ValidationFailed as exc:
        for key, messages in exc.errors.items():
            result.problems.setdefault(key, []).extend(messages)
        return result
    for line, priced in zip(sellable, quoted.lines, strict=True):
        line.discount, line.amount = priced.discount, priced.amount
        line.tax_rate, line.tax = priced.tax_rate, priced.tax
    result.shipping_tax = quoted.shipping.tax if quoted.shipping else ZERO
    result.subtotal = quoted.subtotal
    result.discount_total = sum((d["amount"] for d in result.discounts), ZERO)
    result.tax_total = quoted.tax
    result.total = quoted.total
    result.tax_bands = [
        {"rate": band.rate, "net": band.net, "tax": band.tax, "gross": band.gross}
        for band in quoted.bands
    ]
    return result
