"""Shared fixtures: HTTPS clients, the two web shops, and a small published catalogue.

Tests run with production settings (DEBUG off): the clients speak HTTPS the way the load
balancer does in production (X-Forwarded-Proto, see SECURE_PROXY_SSL_HEADER), so the SSL
redirect and secure cookies stay on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from _pytest.nodeid import NodeId
from django.test import Client
from rest_framework.test import APIClient

from catalog import storefront_cache
from catalog.models import (
    Attribute,
    Category,
    Product,
    ProductType,
    ProductVariant,
    TaxClass,
)
from commerce.models import Channel
from tests.factories import (
    AttributeChoiceFactory,
    AttributeFactory,
    CategoryFactory,
    ChannelFactory,
    ProductFactory,
    ProductTypeFactory,
    ProductVariantFactory,
    StaffFactory,
    TaxClassFactory,
    product_listing_set,
    variant_price_set,
)

# What the browser and the TLS-terminating proxy send in production.
HTTPS = {"HTTP_HOST": "testserver", "HTTP_X_FORWARDED_PROTO": "https"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test has an id of its own.

    schemathesis makes one test per API operation, but under pytest 9 they all get the bare
    function's id (its items carry the operation in their name, not as a parameter). pytest-xdist
    hands work out by id, so the parallel run made one of the 120 operations' tests and reported
    success. The operation goes into the id here, and a collection whose ids still repeat stops
    the run instead of losing tests quietly.
    """
    for item in items:
        if getattr(item, "operation_label", None) and "[" not in item.nodeid:
            item._id = NodeId.parse(f"{item.parent.nodeid}::{item.name}")
    counts = Counter(item.nodeid for item in items)
    repeated = sorted(nodeid for nodeid, count in counts.items() if count > 1)
    if repeated:
        raise pytest.UsageError(f"tests share an id, so some would not run: {repeated[:5]}")


@pytest.fixture(autouse=True)
def _empty_storefront_cache() -> None:
    """Each test starts with no cached product card: the database rolls back, Redis does not."""
    storefront_cache.reset()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient(**HTTPS)


@pytest.fixture
def https_client() -> Client:
    return Client(**HTTPS)


@pytest.fixture
def superuser_client(db, https_client: Client) -> Client:
    https_client.force_login(StaffFactory(username="root", superuser=True))
    return https_client


@pytest.fixture
def plain_static_files(settings) -> None:
    """Admin pages link static files; the test run has no collectstatic manifest to look in."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def web_jp(db) -> Channel:
    """JPY, prices include tax (how Japanese shops show prices)."""
    return ChannelFactory(web_jp=True)


@pytest.fixture
def web_us(db) -> Channel:
    """USD, prices before tax."""
    return ChannelFactory(web_us=True)


@dataclass
class Catalogue:
    color: Attribute
    material: Attribute
    volume: Attribute
    organic: Attribute
    apparel_type: ProductType
    cosmetics_type: ProductType
    food_type: ProductType
    apparel: Category
    t_shirts: Category
    food: Category
    tea: Category
    standard: TaxClass
    tee: Product
    tee_red: ProductVariant
    tee_blue: ProductVariant
    sweater: Product
    matcha: Product
    lotion: Product


@pytest.fixture
def catalogue(web_jp: Channel, web_us: Channel) -> Catalogue:
    """Four products published in web-jp; the tee and the matcha also in web-us.

    | product            | category            | attributes               | web-jp      | web-us       |
    | Everyday Tee       | apparel > t-shirts  | cotton; red, blue        | 2980, 3280  | 19.99, 21.99 |
    | Merino Sweater     | apparel             | wool; green              | 12800       | -            |
    | 宇治抹茶 Uji Matcha | food > tea          | organic                  | 1620        | 10.80        |
    | Rice Lotion        | (none)              | 150 ml                   | 3850        | -            |
    """
    color = AttributeFactory(code="color", name="Colour")
    for position, slug in enumerate(["red", "blue", "green"]):
        AttributeChoiceFactory(attribute=color, slug=slug, position=position)
    material = AttributeFactory(code="material", name="Material")
    for slug in ["cotton", "wool"]:
        AttributeChoiceFactory(attribute=material, slug=slug)
    volume = AttributeFactory(code="volume_ml", name="Volume", number=True, unit="ml")
    organic = AttributeFactory(code="organic", name="Organic", boolean=True)

    apparel_type = ProductTypeFactory(
        slug="apparel", name="Apparel", product_attributes=[material], variant_attributes=[color]
    )
    cosmetics_type = ProductTypeFactory(
        slug="cosmetics", name="Cosmetics", product_attributes=[volume]
    )
    food_type = ProductTypeFactory(slug="food", name="Food", product_attributes=[organic])

    apparel = CategoryFactory(slug="apparel", name="Apparel")
    t_shirts = CategoryFactory(slug="t-shirts", name="T-shirts", parent=apparel)
    food = CategoryFactory(slug="food", name="Food")
    tea = CategoryFactory(slug="tea", name="Tea", parent=food)
    standard = TaxClassFactory(standard=True)

    tee = ProductFactory(
        product_type=apparel_type,
        name="Everyday Tee",
        slug="everyday-tee",
        category=t_shirts,
        tax_class=standard,
        attributes={"material": "cotton"},
    )
    tee_red = ProductVariantFactory(
        product=tee, sku="TEE-RED-M", name="Red / M", attributes={"color": "red"}
    )
    tee_blue = ProductVariantFactory(
        product=tee, sku="TEE-BLUE-M", name="Blue / M", attributes={"color": "blue"}, position=1
    )
    variant_price_set(tee_red, web_jp, "2980")
    variant_price_set(tee_blue, web_jp, "3280")
    variant_price_set(tee_red, web_us, "19.99")
    variant_price_set(tee_blue, web_us, "21.99")
    product_listing_set(tee, web_jp)
    product_listing_set(tee, web_us)

    sweater = ProductFactory(
        product_type=apparel_type,
        name="Merino Sweater",
        slug="merino-sweater",
        category=apparel,
        attributes={"material": "wool"},
    )
    variant_price_set(
        ProductVariantFactory(product=sweater, sku="SWT-GREEN-L", attributes={"color": "green"}),
        web_jp,
        "12800",
    )
    product_listing_set(sweater, web_jp)

    matcha = ProductFactory(
        product_type=food_type,
        name="宇治抹茶 Uji Matcha",
        slug="uji-matcha",
        category=tea,
        attributes={"organic": True},
    )
    matcha_tin = ProductVariantFactory(product=matcha, sku="TEA-MATCHA-100")
    variant_price_set(matcha_tin, web_jp, "1620")
    variant_price_set(matcha_tin, web_us, "10.80")
    product_listing_set(matcha, web_jp)
    product_listing_set(matcha, web_us)

    lotion = ProductFactory(
        product_type=cosmetics_type,
        name="Rice Lotion",
        slug="rice-lotion",
        attributes={"volume_ml": "150"},
    )
    variant_price_set(ProductVariantFactory(product=lotion, sku="SKN-LOT-150"), web_jp, "3850")
    product_listing_set(lotion, web_jp)

    return Catalogue(
        color=color,
        material=material,
        volume=volume,
        organic=organic,
        apparel_type=apparel_type,
        cosmetics_type=cosmetics_type,
        food_type=food_type,
        apparel=apparel,
        t_shirts=t_shirts,
        food=food,
        tea=tea,
        standard=standard,
        tee=tee,
        tee_red=tee_red,
        tee_blue=tee_blue,
        sweater=sweater,
        matcha=matcha,
        lotion=lotion,
    )
