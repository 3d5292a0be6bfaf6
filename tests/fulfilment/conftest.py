"""An omnichannel setup on top of `tests.orders`' shop: a second warehouse in Osaka, a second
store in Umeda that may ship (ship-from-store on), the call centre and the Shibuya till as
channels with the web prices, a carrier for Yamato, and helpers that place orders through the
real checkout.

| location      | kind      | region | priority | ships | pickup | serves                 |
| tokyo-wh      | warehouse | Tokyo  | 10       | yes   | no     | web-jp, web-us, phone, pos |
| osaka-wh      | warehouse | Osaka  | 10       | yes   | no     | web-jp, phone, pos     |
| shibuya-store | store     | Tokyo  | 50       | no    | yes    | web-jp, pos-shibuya    |
| umeda-store   | store     | Osaka  | 50       | yes   | yes    | web-jp                 |

Stock: tokyo-wh 50 of every tee, sweater, matcha and lotion variant; shibuya-store 5 of each
tee; osaka-wh and umeda-store start empty (tests receive what they need).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

import pytest

from catalog.models import ProductChannelListing, VariantChannelListing
from commerce.models import Channel
from inventory.models import StockLocation
from orders import services
from orders.models import Carrier, Order, ShippingMethod, ShippingRate
from tests.factories import ChannelFactory
from tests.inventory.conftest import StockLocationFactory, receive
from tests.orders.conftest import (  # noqa: F401 (fixtures re-used by this package)
    JP_ADDRESS,
    NY_ADDRESS,
    Shop,
    ledger_reconciles,
    shop,
)

OSAKA_ADDRESS = {**JP_ADDRESS, "region": "Osaka", "city": "Kita-ku", "postal_code": "530-0001"}


@dataclass
class Omni:
    shop: Shop
    osaka: StockLocation
    umeda: StockLocation
    phone: Channel
    pos: Channel
    yamato_carrier: Carrier
    phone_yamato: ShippingMethod
    pos_yamato: ShippingMethod

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shop, name)


def _copy_listings(source: Channel, target: Channel) -> None:
    for listing in ProductChannelListing.objects.filter(channel=source):
        listing.pk, listing.channel = None, target
        listing.save()
    for listing in VariantChannelListing.objects.filter(channel=source):
        listing.pk, listing.channel = None, target
        listing.save()


def _method(channel: Channel, carrier: Carrier) -> ShippingMethod:
    method = ShippingMethod.objects.create(
        channel=channel, code="yamato", name="Yamato", basis="weight", carrier=carrier
    )
    ShippingRate.objects.create(method=method, country="JP", from_threshold=0, price=D("800"))
    return method


@pytest.fixture
def omni(shop: Shop) -> Omni:  # noqa: F811
    web_jp = shop.yamato.channel
    phone = ChannelFactory(
        code="phone-jp", name="Call centre", kind=Channel.Kind.PHONE, country="JP"
    )
    pos = ChannelFactory(
        code="pos-shibuya", name="Shibuya till", kind=Channel.Kind.POS, country="JP"
    )
    for channel in (phone, pos):
        channel.time_zone, channel.default_language = "Asia/Tokyo", "ja"
        channel.save()
        _copy_listings(web_jp, channel)
    carrier = Carrier.objects.create(
        code="yamato",
        name="Yamato Transport",
        tracking_url_template="https://track.example.jp/yamato?number={number}",
    )
    shop.yamato.carrier = carrier
    shop.yamato.save(update_fields=["carrier"])
    ShippingRate.objects.filter(method=shop.yamato, region="Okinawa").update(transit_days=4)
    shop.warehouse.channels.add(phone, pos)
    shop.store.ships_to_customers = False
    shop.store.save(update_fields=["ships_to_customers"])
    shop.store.channels.add(pos)
    osaka = StockLocationFactory(
        code="osaka-wh", routing_priority=10, region="Osaka", channels=[web_jp, phone, pos]
    )
    umeda = StockLocationFactory(
        code="umeda-store", store=True, routing_priority=50, region="Osaka", channels=[web_jp]
    )
    return Omni(
        shop=shop,
        osaka=osaka,
        umeda=umeda,
        phone=phone,
        pos=pos,
        yamato_carrier=carrier,
        phone_yamato=_method(phone, carrier),
        pos_yamato=_method(pos, carrier),
    )


def web_order(
    omni: Omni,
    lines: list[tuple[str, int]],
    *,
    address: dict[str, str] | None = None,
    pickup: str = "",
    method: str = "card",
) -> Order:
    """An order placed through the web shop's real cart and checkout services."""
    cart = services.cart_create(channel=omni.yamato.channel, email="hanako@example.jp")
    if pickup:
        services.cart_update(cart, pickup_location=pickup)
    for sku, quantity in lines:
        services.cart_line_set(cart, sku=sku, quantity=quantity, add=True)
    if not pickup:
        services.cart_update(cart, shipping_address=address or JP_ADDRESS, shipping_method="yamato")
    return services.checkout_complete(
        cart,
        payment=services.PaymentInput(method=method, token="tok_visa" if method == "card" else ""),
    )


__all__ = ["OSAKA_ADDRESS", "Omni", "omni", "receive", "web_order"]
