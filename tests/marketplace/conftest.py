"""A marketplace channel on top of `tests.fulfilment`'s omnichannel setup: Rakuten Ichiba
(`rakuten-jp`, JPY, prices with tax), listed like the web shop, served by the Tokyo warehouse
only (50 of every tee, sweater, matcha and lotion variant), shipped by Yamato."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from commerce.models import Channel
from orders.models import ShippingMethod, ShippingRate
from tests.factories import ChannelFactory
from tests.fulfilment.conftest import (
    Omni,
    _copy_listings,
    omni,
    web_order,
)
from tests.orders.conftest import (  # noqa: F401 (fixtures re-used by this package)
    JP_ADDRESS,
    ledger_reconciles,
    shop,
)


@pytest.fixture
def rakuten(omni: Omni) -> Channel:
    channel = ChannelFactory(
        code="rakuten-jp",
        name="Rakuten Ichiba",
        kind=Channel.Kind.MARKETPLACE,
        currency="JPY",
        prices_include_tax=True,
        country="JP",
    )
    channel.time_zone, channel.default_language = "Asia/Tokyo", "ja"
    channel.save()
    _copy_listings(omni.yamato.channel, channel)
    method = ShippingMethod.objects.create(
        channel=channel,
        code="yamato",
        name="Yamato",
        basis="weight",
        carrier=omni.yamato_carrier,
    )
    ShippingRate.objects.create(method=method, country="JP", from_threshold=0, price=D("800"))
    omni.warehouse.channels.add(channel)
    return channel


__all__ = ["JP_ADDRESS", "Omni", "omni", "rakuten", "web_order"]
