"""The storefront's cached product cards are never stale (catalog.storefront_cache).

Each test warms the cache with the list page and the product page first, so that a stale card
would be what the second read returns."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import services as catalog_services
from catalog import storefront_cache
from catalog.models import ProductChannelListing
from inventory.services import stock_reserve
from tests.factories import ProductFactory, listed_product, variant_price_set
from tests.inventory.conftest import bundle_of, line, receive

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not storefront_cache.enabled(), reason="needs Redis (REDIS_URL)"),
]


def _list(client, channel):
    response = client.get(f"/api/v1/channels/{channel.code}/products/")
    assert response.status_code == 200, response.content
    return {p["id"]: p for p in response.json()["results"]}


def _detail(client, channel, product):
    return client.get(f"/api/v1/channels/{channel.code}/products/{product.pk}/")


def _warm(client, channel, product):
    listed = _list(client, channel)
    detail = _detail(client, channel, product)
    assert detail.status_code == 200
    # The second read comes from the cache: no query but the page's stock.
    with CaptureQueriesContext(connection) as queries:
        assert _list(client, channel) == listed
    assert len(queries) == 1
    return listed[product.pk], detail.json()


def test_a_price_change_shows_at_once(api_client, channel, warehouse):
    product = listed_product(channel, 1200)
    receive(product.variants.get(), warehouse, 3)
    card, detail = _warm(api_client, channel, product)
    assert card["price_from"]["amount"] == detail["variants"][0]["price"]["amount"] == "1200"

    variant_price_set(product.variants.get(), channel, 990)

    assert _list(api_client, channel)[product.pk]["price_from"]["amount"] == "990"
    assert _detail(api_client, channel, product).json()["variants"][0]["price"]["amount"] == "990"


def test_unpublishing_takes_the_product_off_the_list_and_its_page(api_client, channel, warehouse):
    product = listed_product(channel, 1200)
    other = listed_product(channel, 800)
    _warm(api_client, channel, product)

    catalog_services.product_listing_set(product=product, channel=channel, is_published=False)

    assert set(_list(api_client, channel)) == {other.pk}
    assert _detail(api_client, channel, product).status_code == 404

    catalog_services.product_listing_set(product=product, channel=channel, is_published=True)

    assert set(_list(api_client, channel)) == {product.pk, other.pk}
    assert _detail(api_client, channel, product).status_code == 200


def test_a_listing_window_that_closes_ends_the_cached_page(api_client, channel):
    product = listed_product(channel, 1200, available_until=timezone.now() + timedelta(seconds=2))
    stays = listed_product(channel, 800)
    _warm(api_client, channel, product)

    time.sleep(2.2)  # no write: only the records' expiry can take it off

    assert set(_list(api_client, channel)) == {stays.pk}
    assert _detail(api_client, channel, product).status_code == 404


def test_stock_crossing_zero_flips_in_stock(api_client, channel, warehouse):
    product = listed_product(channel, 1200)
    variant = product.variants.get()
    receive(variant, warehouse, 1)
    card, detail = _warm(api_client, channel, product)
    assert (card["in_stock"], card["variants"][0]["available"]) == (True, 1)

    stock_reserve(channel=channel, lines=[line(variant, 1)], reference="cart:last-one")

    card = _list(api_client, channel)[product.pk]
    detail = _detail(api_client, channel, product).json()
    assert (card["in_stock"], card["variants"][0]["available"]) == (False, 0)
    assert (detail["in_stock"], detail["variants"][0]["in_stock"]) == (False, False)

    receive(variant, warehouse, 4)

    card = _list(api_client, channel)[product.pk]
    assert (card["in_stock"], card["variants"][0]["available"]) == (True, 4)


def test_a_bundle_is_out_when_a_component_sells_out(api_client, channel, warehouse):
    tee = listed_product(channel, 1000).variants.get()
    mug = listed_product(channel, 500).variants.get()
    gift_set = bundle_of({tee: 1, mug: 2}, product=ProductFactory(name="gift set"))
    variant_price_set(gift_set, channel, 1800)
    catalog_services.product_listing_set(
        product=gift_set.product, channel=channel, is_published=True
    )
    receive(tee, warehouse, 5)
    receive(mug, warehouse, 2)
    card, _ = _warm(api_client, channel, gift_set.product)
    assert (card["in_stock"], card["variants"][0]["available"]) == (True, 1)

    stock_reserve(channel=channel, lines=[line(mug, 1)], reference="cart:one-mug")

    card = _list(api_client, channel)[gift_set.product_id]
    detail = _detail(api_client, channel, gift_set.product).json()
    assert (card["in_stock"], card["variants"][0]["available"]) == (False, 0)
    assert detail["in_stock"] is False
    # The tee itself is still in stock: only the bundle is out.
    assert _list(api_client, channel)[tee.product_id]["in_stock"] is True


def test_a_write_that_sends_no_signal_shows_once_its_writer_bumps_the_cache(api_client, channel):
    """Bulk writes send no model signal; their writers bump the cache themselves (the
    catalogue import does). This is what a forgotten bump would look like, and its remedy."""
    product = listed_product(channel, 1200)
    _warm(api_client, channel, product)

    ProductChannelListing.objects.filter(product=product).update(visible_in_listings=False)
    assert product.pk in _list(api_client, channel)  # stale: nobody said so

    storefront_cache.products_changed([product.pk])
    assert product.pk not in _list(api_client, channel)


def test_a_card_built_from_rows_read_before_a_change_is_not_used(channel):
    """The race the tags close: a reader looks up (tags read), the catalogue changes and bumps
    the version, then the reader stores the card it built from the old rows."""
    product = listed_product(channel, 1200)
    lookup = storefront_cache.cards_lookup(channel.code, [product.pk], detail=False)
    assert lookup.cards == {}
    card = storefront_cache.card_build(
        {"id": product.pk, "images": [], "variants": []},
        product_id=product.pk,
        channel_id=channel.pk,
        components={},
    )

    storefront_cache.products_changed([product.pk])
    storefront_cache.cards_store(
        channel.code, [card], lookup=lookup, detail=False, expires={product.pk: None}
    )

    assert storefront_cache.cards_lookup(channel.code, [product.pk], detail=False).cards == {}


def test_pages_are_built_from_postgresql_while_redis_does_not_answer(
    api_client, channel, warehouse, settings, monkeypatch
):
    product = listed_product(channel, 1200)
    receive(product.variants.get(), warehouse, 2)
    warm = _list(api_client, channel)
    settings.STOREFRONT_CACHE_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    storefront_cache._client.cache_clear()
    try:
        assert _list(api_client, channel) == warm
        assert _detail(api_client, channel, product).json()["variants"][0]["available"] == 2
    finally:
        storefront_cache._client.cache_clear()  # the real one again, once settings are back
