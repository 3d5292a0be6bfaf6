"""The storefront product API: what a channel shows, in its currency, and how it filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import (
    AttributeFactory,
    ChannelFactory,
    ProductFactory,
    ProductImageFactory,
    ProductVariantFactory,
    listed_product,
    product_listing_set,
    variant_price_set,
)

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def products_url(channel: str) -> str:
    return f"/api/v1/channels/{channel}/products/"


def names(response) -> list[str]:
    return [product["name"] for product in response.json()["results"]]


# --- What a channel shows ---------------------------------------------------------------------


def test_storefront_product_list_shows_only_published_products_in_window_and_priced(
    api_client, catalogue, web_jp, web_us
):
    now = timezone.now()
    listed_product(web_jp, "1000", name="Draft Tote", is_published=False)
    listed_product(web_jp, "1000", name="Coming Soon Tote", available_from=now + timedelta(days=1))
    listed_product(web_jp, "1000", name="Expired Tote", available_until=now - timedelta(minutes=1))
    listed_product(
        web_jp,
        "1000",
        name="Current Tote",
        available_from=now - timedelta(days=1),
        available_until=now + timedelta(days=1),
    )
    listed_product(web_us, "10.00", name="US-only Tote")
    unpriced = ProductFactory(name="Unpriced Tote")
    ProductVariantFactory(product=unpriced)
    product_listing_set(unpriced, web_jp)
    unlisted = ProductFactory(name="Unlisted Tote")
    variant_price_set(ProductVariantFactory(product=unlisted), web_jp, "1000")

    response = api_client.get(products_url("web-jp"))

    assert response.status_code == 200
    assert response.json()["count"] == 5
    assert names(response) == [
        "Current Tote",
        "Everyday Tee",
        "Merino Sweater",
        "Rice Lotion",
        "宇治抹茶 Uji Matcha",
    ]


def test_storefront_product_list_shows_prices_in_the_jpy_channel_without_decimals(
    api_client, catalogue
):
    response = api_client.get(products_url("web-jp"), {"q": "TEE-RED-M"})

    assert response.status_code == 200
    [tee] = response.json()["results"]
    assert tee["id"] == catalogue.tee.pk
    assert tee["slug"] == "everyday-tee"
    assert tee["category"] == {"id": catalogue.t_shirts.pk, "slug": "t-shirts", "name": "T-shirts"}
    assert tee["product_type"] == "apparel"
    assert tee["price_from"] == {"amount": "2980", "currency": "JPY"}
    assert tee["prices_include_tax"] is True
    assert tee["attributes"] == [
        {
            "code": "material",
            "name": "Material",
            "type": "choice",
            "value": "cotton",
            "display": "Cotton",
        }
    ]
    assert [(v["sku"], v["price"], v["compare_at_price"]) for v in tee["variants"]] == [
        ("TEE-RED-M", {"amount": "2980", "currency": "JPY"}, None),
        ("TEE-BLUE-M", {"amount": "3280", "currency": "JPY"}, None),
    ]
    assert tee["variants"][0]["attributes"] == [
        {"code": "color", "name": "Colour", "type": "choice", "value": "red", "display": "Red"}
    ]
    assert "description" not in tee


def test_storefront_product_list_shows_prices_in_the_usd_channel_with_cents(api_client, catalogue):
    response = api_client.get(products_url("web-us"))

    assert response.status_code == 200
    assert names(response) == ["Everyday Tee", "宇治抹茶 Uji Matcha"]
    tee, matcha = response.json()["results"]
    assert tee["price_from"] == {"amount": "19.99", "currency": "USD"}
    assert tee["prices_include_tax"] is False
    assert [v["price"]["amount"] for v in tee["variants"]] == ["19.99", "21.99"]
    assert matcha["price_from"] == {"amount": "10.80", "currency": "USD"}


def test_storefront_product_list_prices_differ_per_channel(api_client, catalogue):
    jp = api_client.get(products_url("web-jp"), {"q": "Matcha"}).json()["results"]
    us = api_client.get(products_url("web-us"), {"q": "Matcha"}).json()["results"]

    assert [p["price_from"] for p in jp] == [{"amount": "1620", "currency": "JPY"}]
    assert [p["price_from"] for p in us] == [{"amount": "10.80", "currency": "USD"}]


def test_storefront_product_list_shows_compare_at_price(api_client, web_jp):
    product = ProductFactory(name="Sale Tote")
    variant_price_set(ProductVariantFactory(product=product), web_jp, "1980", "2480")
    product_listing_set(product, web_jp)

    response = api_client.get(products_url("web-jp"))

    [variant] = response.json()["results"][0]["variants"]
    assert variant["price"] == {"amount": "1980", "currency": "JPY"}
    assert variant["compare_at_price"] == {"amount": "2480", "currency": "JPY"}


def test_storefront_product_list_hides_variants_not_priced_in_the_channel(api_client, web_jp):
    product = ProductFactory(name="Tote")
    variant_price_set(ProductVariantFactory(product=product, sku="TOTE-SOLD"), web_jp, "1000")
    ProductVariantFactory(product=product, sku="TOTE-NOT-SOLD-HERE")
    product_listing_set(product, web_jp)

    response = api_client.get(products_url("web-jp"))

    [card] = response.json()["results"]
    assert [v["sku"] for v in card["variants"]] == ["TOTE-SOLD"]


def test_storefront_product_list_hides_products_not_visible_in_listings(api_client, web_jp):
    listed_product(web_jp, "1000", name="Shown")
    hidden = listed_product(web_jp, "1000", name="Hidden", slug="hidden", visible_in_listings=False)

    listing = api_client.get(products_url("web-jp"))
    by_id = api_client.get(f"{products_url('web-jp')}{hidden.pk}/")
    by_slug = api_client.get(f"{products_url('web-jp')}by-slug/hidden/")

    assert names(listing) == ["Shown"]
    assert by_id.status_code == 200
    assert by_id.json()["name"] == "Hidden"
    assert by_slug.status_code == 200
    assert by_slug.json()["id"] == hidden.pk


# --- Detail -----------------------------------------------------------------------------------


def test_storefront_product_detail_by_id_includes_description_and_variant_details(
    api_client, web_jp
):
    product = ProductFactory(name="Tote", description="Heavy canvas.")
    variant = ProductVariantFactory(
        product=product, sku="TOTE-1", barcode="4900000000017", weight_grams=320
    )
    variant_price_set(variant, web_jp, "4400")
    product_listing_set(product, web_jp)

    response = api_client.get(f"{products_url('web-jp')}{product.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == product.pk
    assert body["description"] == "Heavy canvas."
    assert body["price_from"] == {"amount": "4400", "currency": "JPY"}
    [variant_json] = body["variants"]
    assert variant_json["sku"] == "TOTE-1"
    assert variant_json["barcode"] == "4900000000017"
    assert variant_json["weight_grams"] == 320


def test_storefront_product_detail_by_slug_finds_the_product(api_client, catalogue):
    response = api_client.get(f"{products_url('web-us')}by-slug/uji-matcha/")

    assert response.status_code == 200
    assert response.json()["id"] == catalogue.matcha.pk
    assert response.json()["price_from"] == {"amount": "10.80", "currency": "USD"}


def test_storefront_product_detail_shows_image_urls(api_client, web_jp):
    product = listed_product(web_jp, "1000")
    ProductImageFactory(product=product, image="products/tote-back.jpg", alt="Back", position=1)
    ProductImageFactory(product=product, image="products/tote-front.jpg", alt="Front")

    response = api_client.get(f"{products_url('web-jp')}{product.pk}/")

    assert response.json()["images"] == [
        {"url": "https://testserver/media/products/tote-front.jpg", "alt": "Front"},
        {"url": "https://testserver/media/products/tote-back.jpg", "alt": "Back"},
    ]


@pytest.mark.parametrize(
    "listing",
    [
        pytest.param({"is_published": False}, id="unpublished"),
        pytest.param({"available_from": timedelta(hours=1)}, id="not-yet-available"),
        pytest.param({"available_until": timedelta(seconds=-1)}, id="no-longer-available"),
    ],
)
def test_storefront_product_detail_is_404_when_not_on_sale(api_client, web_jp, listing):
    now = timezone.now()
    window = {k: now + v if isinstance(v, timedelta) else v for k, v in listing.items()}
    product = listed_product(web_jp, "1000", slug="tote", **window)

    by_id = api_client.get(f"{products_url('web-jp')}{product.pk}/")
    by_slug = api_client.get(f"{products_url('web-jp')}by-slug/tote/")

    for response in (by_id, by_slug):
        assert response.status_code == 404
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "not_found"
        assert response.json()["status"] == 404
        assert response.json()["detail"] == "No such product in this channel."


def test_storefront_product_detail_is_404_in_a_channel_that_does_not_list_it(api_client, catalogue):
    response = api_client.get(f"{products_url('web-us')}{catalogue.sweater.pk}/")

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("path", ["", "1/", "by-slug/everyday-tee/"])
def test_storefront_products_are_404_in_an_unknown_channel(api_client, catalogue, path):
    response = api_client.get(f"{products_url('web-xx')}{path}")

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "urn:problem-type:not_found",
        "title": "Not found",
        "status": 404,
        "code": "not_found",
        "detail": "There is no active channel web-xx.",
    }


def test_storefront_products_are_404_in_an_inactive_channel(api_client, db):
    closed = ChannelFactory(code="popup-2023", inactive=True)
    listed_product(closed, "1000")

    response = api_client.get(products_url("popup-2023"))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- Filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("apparel", ["Everyday Tee", "Merino Sweater"]),
        ("t-shirts", ["Everyday Tee"]),
        ("food", ["宇治抹茶 Uji Matcha"]),
    ],
)
def test_storefront_product_list_category_filter_includes_subcategories(
    api_client, catalogue, category, expected
):
    response = api_client.get(products_url("web-jp"), {"category": category})

    assert response.status_code == 200
    assert names(response) == expected


def test_storefront_product_list_category_filter_accepts_an_id(api_client, catalogue):
    response = api_client.get(products_url("web-jp"), {"category": catalogue.apparel.pk})

    assert names(response) == ["Everyday Tee", "Merino Sweater"]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (["color:red"], ["Everyday Tee"]),
        (["color:green"], ["Merino Sweater"]),
        (["color:red|blue"], ["Everyday Tee"]),
        (["color:blue|green"], ["Everyday Tee", "Merino Sweater"]),
        (["material:wool"], ["Merino Sweater"]),
        (["material:cotton|wool", "color:green"], ["Merino Sweater"]),
        (["material:cotton", "color:green"], []),
        (["volume_ml:150"], ["Rice Lotion"]),
        (["volume_ml:100..200"], ["Rice Lotion"]),
        (["volume_ml:..149"], []),
        (["volume_ml:151.."], []),
        (["organic:true"], ["宇治抹茶 Uji Matcha"]),
        (["organic:false"], []),
    ],
)
def test_storefront_product_list_attribute_filter(api_client, catalogue, specs, expected):
    response = api_client.get(products_url("web-jp"), {"attr": specs})

    assert response.status_code == 200
    assert names(response) == expected


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"price_min": "3000"}, ["Merino Sweater", "Rice Lotion"]),
        ({"price_max": "2980"}, ["Everyday Tee", "宇治抹茶 Uji Matcha"]),
        ({"price_min": "2000", "price_max": "4000"}, ["Everyday Tee", "Rice Lotion"]),
        ({"price_min": "20000"}, []),
    ],
)
def test_storefront_product_list_price_filter_uses_the_lowest_variant_price(
    api_client, catalogue, bounds, expected
):
    response = api_client.get(products_url("web-jp"), bounds)

    assert response.status_code == 200
    assert names(response) == expected


def test_storefront_product_list_price_filter_compares_in_the_channel_currency(
    api_client, catalogue
):
    response = api_client.get(products_url("web-us"), {"price_min": "11", "price_max": "19.99"})

    assert names(response) == ["Everyday Tee"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        pytest.param("matcha", ["宇治抹茶 Uji Matcha"], id="word in the name"),
        pytest.param("Merino Sweater", ["Merino Sweater"], id="two words"),
        pytest.param("抹茶", ["宇治抹茶 Uji Matcha"], id="Japanese word inside the name"),
        pytest.param("TEE-BLUE-M", ["Everyday Tee"], id="SKU"),
        pytest.param("blue-m", ["Everyday Tee"], id="partial SKU, other case"),
        pytest.param("LOT-1", ["Rice Lotion"], id="partial SKU"),
        pytest.param("kombucha", [], id="no match"),
    ],
)
def test_storefront_product_list_search(api_client, catalogue, q, expected):
    response = api_client.get(products_url("web-jp"), {"q": q})

    assert response.status_code == 200
    assert names(response) == expected


def test_storefront_product_list_search_finds_a_barcode_and_the_description(api_client, web_jp):
    product = ProductFactory(name="Tote", description="Hand-woven in Kurashiki.")
    variant_price_set(
        ProductVariantFactory(product=product, barcode="4912345678904"), web_jp, "1000"
    )
    product_listing_set(product, web_jp)
    listed_product(web_jp, "1000", name="Other")

    by_barcode = api_client.get(products_url("web-jp"), {"q": "4912345678904"})
    by_description = api_client.get(products_url("web-jp"), {"q": "kurashiki"})

    assert names(by_barcode) == ["Tote"]
    assert names(by_description) == ["Tote"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price", ["宇治抹茶 Uji Matcha", "Everyday Tee", "Rice Lotion", "Merino Sweater"]),
        ("-price", ["Merino Sweater", "Rice Lotion", "Everyday Tee", "宇治抹茶 Uji Matcha"]),
        ("name", ["Everyday Tee", "Merino Sweater", "Rice Lotion", "宇治抹茶 Uji Matcha"]),
        ("-name", ["宇治抹茶 Uji Matcha", "Rice Lotion", "Merino Sweater", "Everyday Tee"]),
        ("newest", ["Rice Lotion", "宇治抹茶 Uji Matcha", "Merino Sweater", "Everyday Tee"]),
    ],
)
def test_storefront_product_list_sort(api_client, catalogue, sort, expected):
    response = api_client.get(products_url("web-jp"), {"sort": sort})

    assert response.status_code == 200
    assert names(response) == expected


def test_storefront_product_list_filters_combine(api_client, catalogue):
    response = api_client.get(
        products_url("web-jp"),
        {"category": "apparel", "attr": "color:red|green", "price_max": "5000", "sort": "-price"},
    )

    assert names(response) == ["Everyday Tee"]


def test_storefront_product_list_paginates_with_page_size(api_client, catalogue):
    first = api_client.get(products_url("web-jp"), {"page_size": 3, "sort": "price"})
    second = api_client.get(products_url("web-jp"), {"page_size": 3, "sort": "price", "page": 2})

    assert first.json()["count"] == 4
    assert names(first) == ["宇治抹茶 Uji Matcha", "Everyday Tee", "Rice Lotion"]
    assert first.json()["previous"] is None
    assert first.json()["next"] == (
        "https://testserver/api/v1/channels/web-jp/products/?page=2&page_size=3&sort=price"
    )
    assert names(second) == ["Merino Sweater"]
    assert second.json()["next"] is None


def test_storefront_product_list_page_size_is_capped_at_100(api_client, web_jp):
    for _ in range(101):
        listed_product(web_jp, "1000")

    response = api_client.get(products_url("web-jp"), {"page_size": 500})

    assert response.json()["count"] == 101
    assert len(response.json()["results"]) == 100


def test_storefront_product_list_page_out_of_range_is_404(api_client, catalogue):
    response = api_client.get(products_url("web-jp"), {"page": 9})

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"category": "nope"}, "category", "No category nope."),
        ({"category": "999999"}, "category", "No category 999999."),
        ({"attr": "flavour:sweet"}, "attr", "No filterable attribute flavour."),
        ({"attr": "color"}, "attr", "Use code:value, e.g. color:red (got color)."),
        ({"attr": "volume_ml:big"}, "attr", "big is not a number or range."),
        ({"attr": "volume_ml:1..x"}, "attr", "1..x is not a number or range."),
        ({"price_min": "cheap"}, "price_min", "Enter a number."),
        (
            {"sort": "cheapest"},
            "sort",
            "Select a valid choice. cheapest is not one of the available choices.",
        ),
    ],
)
def test_storefront_product_list_rejects_bad_filters_naming_the_field(
    api_client, catalogue, params, field, message
):
    response = api_client.get(products_url("web-jp"), params)

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid"
    assert body["status"] == 400
    assert body["errors"] == {field: [message]}


def test_storefront_product_list_rejects_an_attribute_that_is_not_filterable(api_client, catalogue):
    AttributeFactory(code="internal_note", text=True, not_filterable=True)

    response = api_client.get(products_url("web-jp"), {"attr": "internal_note:x"})

    assert response.status_code == 400
    assert response.json()["errors"] == {"attr": ["No filterable attribute internal_note."]}


# --- Cost ---------------------------------------------------------------------------------------


def _rich_products(channel, count: int, catalogue) -> None:
    """Products as a real shop has them: three variants with attributes, images, attributes."""
    for index in range(count):
        product = ProductFactory(
            product_type=catalogue.apparel_type,
            category=catalogue.t_shirts,
            attributes={"material": "cotton"},
        )
        for number, color in enumerate(["red", "blue", "green"]):
            variant = ProductVariantFactory(
                product=product, attributes={"color": color}, position=number
            )
            variant_price_set(variant, channel, 1000 + index + number)
        ProductImageFactory(product=product)
        ProductImageFactory(product=product)
        product_listing_set(product, channel)


@pytest.mark.parametrize(
    ("params", "queries"),
    [
        # Cold cache: channel, count, the page's ids, the next availability-window change;
        # the products' cards: products, variants, their attributes, product attributes,
        # images, bundle components; and the page's stock with cart holds.
        pytest.param({}, 11, id="default"),
        # plus the category and the attribute looked up by the filters
        pytest.param(
            {"category": "apparel", "attr": "color:red", "q": "product", "sort": "price"},
            13,
            id="filtered",
        ),
    ],
)
def test_storefront_product_list_query_count_does_not_grow_with_the_page(
    api_client, catalogue, params, queries
):
    app = ChannelFactory(code="app-us", currency="USD", prices_include_tax=False)
    _rich_products(app, 100, catalogue)

    with CaptureQueriesContext(connection) as page_of_10:
        small = api_client.get(products_url("app-us"), {**params, "page_size": 10})
    with CaptureQueriesContext(connection) as page_of_100:
        large = api_client.get(products_url("app-us"), {**params, "page_size": 100})

    assert small.status_code == large.status_code == 200
    assert len(small.json()["results"]) == 10
    assert len(large.json()["results"]) == 100
    assert all(len(p["variants"]) == 3 and len(p["images"]) == 2 for p in large.json()["results"])
    assert all(p["attributes"][0]["value"] == "cotton" for p in large.json()["results"])
    # The first also counts the filter's facets (categories, attribute values, price bands),
    # which every page size of the same filter then shares, as it shares the filter's count.
    assert len(page_of_10) == queries + 3
    assert len(page_of_100) == queries - 1
    assert not [q for q in page_of_100.captured_queries if "COUNT(" in q["sql"]]

    # Warm: the composition and the cards come from the cache; only the stock is read.
    with CaptureQueriesContext(connection) as warm:
        again = api_client.get(products_url("app-us"), {**params, "page_size": 100})
    assert again.json() == large.json()
    assert [q["sql"].split()[0] for q in warm.captured_queries] == ["SELECT"]


def test_a_new_page_of_a_counted_filter_is_not_counted_again_and_the_count_follows_the_catalogue(
    api_client, catalogue
):
    app = ChannelFactory(code="app-us", currency="USD", prices_include_tax=False)
    _rich_products(app, 5, catalogue)
    first = api_client.get(products_url("app-us"), {"page_size": 2})
    assert first.json()["count"] == 5

    with CaptureQueriesContext(connection) as second_page:
        second = api_client.get(products_url("app-us"), {"page_size": 2, "page": 2})
    assert second.json()["count"] == 5
    assert not [q for q in second_page.captured_queries if "COUNT(" in q["sql"]]

    # A product published in the channel is a catalogue write: the count is counted again.
    _rich_products(app, 1, catalogue)
    third = api_client.get(products_url("app-us"), {"page_size": 2, "page": 3})
    assert third.json()["count"] == 6
    assert len(third.json()["results"]) == 2


# --- Facets -------------------------------------------------------------------------------------


def test_the_list_counts_categories_attribute_values_and_price_bands_for_its_filter(
    api_client, catalogue
):
    everything = api_client.get(products_url("web-jp"), {"page_size": 1}).json()["facets"]

    assert [(c["slug"], c["count"]) for c in everything["categories"]] == [
        ("apparel", 1),
        ("t-shirts", 1),
        ("tea", 1),
    ]
    by_code = {a["code"]: a for a in everything["attributes"]}
    assert set(by_code) == {"color", "material"}  # choice attributes only
    # The tee has red and blue on its variants: it counts once for each, not once per variant.
    assert [(v["value"], v["count"]) for v in by_code["color"]["values"]] == [
        ("red", 1),
        ("blue", 1),
        ("green", 1),
    ]
    assert [(v["value"], v["count"]) for v in by_code["material"]["values"]] == [
        ("cotton", 1),
        ("wool", 1),
    ]
    bands = [
        (b["min"]["amount"], b["max"] and b["max"]["amount"], b["count"])
        for b in everything["price_bands"]
    ]
    # price_from: matcha 1620, tee 2980, lotion 3850, sweater 12800
    assert bands == [
        ("0", "1000", 0),
        ("1000", "3000", 2),
        ("3000", "5000", 1),
        ("5000", "10000", 0),
        ("10000", "30000", 1),
        ("30000", None, 0),
    ]

    apparel = api_client.get(products_url("web-jp"), {"category": "apparel"}).json()["facets"]
    assert [(c["slug"], c["count"]) for c in apparel["categories"]] == [
        ("apparel", 1),
        ("t-shirts", 1),
    ]
    assert sum(b["count"] for b in apparel["price_bands"]) == 2


def test_facets_follow_a_catalogue_change_and_every_page_of_a_filter_shares_them(
    api_client, catalogue, web_jp
):
    first = api_client.get(products_url("web-jp"), {"page_size": 2, "page": 1}).json()
    second = api_client.get(products_url("web-jp"), {"page_size": 2, "page": 2}).json()
    assert first["facets"] == second["facets"]

    product_listing_set(catalogue.sweater, web_jp, is_published=False)

    facets = api_client.get(products_url("web-jp"), {"page_size": 2, "page": 1}).json()["facets"]
    assert [(c["slug"], c["count"]) for c in facets["categories"]] == [
        ("t-shirts", 1),
        ("tea", 1),
    ]
    colors = {a["code"]: a for a in facets["attributes"]}["color"]["values"]
    assert [v["value"] for v in colors] == ["red", "blue"]
