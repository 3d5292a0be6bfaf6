"""A small selling setup on top of the shared catalogue: tax rates for Japan and New York, a
warehouse and a pickup store with stock received through the ledger, shipping methods for both
shops, and helpers that run a checkout through the API.

| shop   | method    | basis  | rates                                   | free over |
| web-jp | yamato    | weight | JP 800 (0 g), 1200 (from 2,000 g); Okinawa 1500 | 5000 |
| web-us | ground    | value  | US 9.99 (from 0), 6.99 (from 50.00)     | 100.00    |

Every test that used the database ends with the stock ledger reconciled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal as D

import pytest

from inventory.models import StockLocation
from inventory.selectors import stock_reconcile
from orders.models import ShippingMethod, ShippingRate, TaxRate
from tests.conftest import Catalogue
from tests.factories import TaxClassFactory
from tests.inventory.conftest import StockLocationFactory, receive

JP_ADDRESS = {
    "first_name": "Hanako",
    "last_name": "Yamada",
    "line1": "1-2-3 Jingumae",
    "city": "Shibuya-ku",
    "region": "Tokyo",
    "postal_code": "150-0001",
    "country": "JP",
    "phone": "090-1234-5678",
}
NY_ADDRESS = {
    "first_name": "Ann",
    "last_name": "Lee",
    "line1": "350 Fifth Avenue",
    "city": "New York",
    "region": "NY",
    "postal_code": "10118",
    "country": "US",
}


@dataclass
class Shop:
    catalogue: Catalogue
    warehouse: StockLocation
    store: StockLocation
    yamato: ShippingMethod
    ground: ShippingMethod

    def __getattr__(self, name):
        return getattr(self.catalogue, name)


@pytest.fixture
def shop(catalogue: Catalogue) -> Shop:
    standard = catalogue.standard
    reduced = TaxClassFactory(reduced=True)
    catalogue.matcha.tax_class = reduced
    catalogue.matcha.save(update_fields=["tax_class"])
    for tax_class, country, region, rate in [
        (standard, "JP", "", "0.10"),
        (reduced, "JP", "", "0.08"),
        (standard, "US", "", "0"),
        (reduced, "US", "", "0"),
        (standard, "US", "NY", "0.08875"),
        (reduced, "US", "NY", "0"),
    ]:
        TaxRate.objects.create(tax_class=tax_class, country=country, region=region, rate=D(rate))
    web_jp, web_us = catalogue.tee.channel_listings.get(channel__code="web-jp").channel, None
    web_us = catalogue.tee.channel_listings.get(channel__code="web-us").channel
    warehouse = StockLocationFactory(
        code="tokyo-wh", routing_priority=10, channels=[web_jp, web_us], region="Tokyo"
    )
    store = StockLocationFactory(
        code="shibuya-store", store=True, routing_priority=50, channels=[web_jp], region="Tokyo"
    )
    for variant in catalogue.tee.variants.all():
        receive(variant, warehouse, 50)
        receive(variant, store, 5)
    for product in (catalogue.sweater, catalogue.matcha, catalogue.lotion):
        for variant in product.variants.all():
            receive(variant, warehouse, 50)
    catalogue.tee.variants.update(weight_grams=250)
    yamato = ShippingMethod.objects.create(
        channel=web_jp, code="yamato", name="Yamato", basis="weight", free_over=D("5000")
    )
    ShippingRate.objects.create(method=yamato, country="JP", from_threshold=0, price=D("800"))
    ShippingRate.objects.create(method=yamato, country="JP", from_threshold=2000, price=D("1200"))
    ShippingRate.objects.create(
        method=yamato, country="JP", region="Okinawa", from_threshold=0, price=D("1500")
    )
    ground = ShippingMethod.objects.create(
        channel=web_us, code="ground", name="Ground", basis="value", free_over=D("100")
    )
    ShippingRate.objects.create(method=ground, country="US", from_threshold=0, price=D("9.99"))
    ShippingRate.objects.create(method=ground, country="US", from_threshold=50, price=D("6.99"))
    return Shop(catalogue, warehouse, store, yamato, ground)


@pytest.fixture(autouse=True)
def ledger_reconciles(request: pytest.FixtureRequest) -> Iterator[None]:
    uses_db = request.node.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db"} & set(request.fixturenames)
    )
    if not uses_db:
        yield
        return
    request.getfixturevalue("db")
    yield
    assert stock_reconcile() == []
