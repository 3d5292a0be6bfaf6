"""The staff catalogue API: who may call it, what it writes, and the events it leaves."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from catalog.models import Product, ProductChannelListing, ProductVariant, VariantChannelListing
from commerce.models import OutboxEvent
from tests.conftest import HTTPS
from tests.factories import (
    ProductFactory,
    ProductTypeFactory,
    ProductVariantFactory,
    StaffFactory,
    UserFactory,
    token_for,
    variant_price_set,
)

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
PRODUCTS = "/api/v1/staff/products/"
VARIANTS = "/api/v1/staff/variants/"
CATALOGUE_MANAGER = [
    "catalog.view_product",
    "catalog.add_product",
    "catalog.change_product",
    "catalog.view_productvariant",
    "catalog.add_productvariant",
    "catalog.change_productvariant",
]


@pytest.fixture
def manager():
    return StaffFactory(username="manager", permissions=CATALOGUE_MANAGER)


@pytest.fixture
def staff_api(api_client, manager) -> APIClient:
    """Signed in with an API token, the way an ERP or PIM integration calls."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(manager)}")
    return api_client


def events_of(type_: str) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=type_).order_by("id"))


def new_product_body(**overrides) -> dict:
    return {"product_type": "apparel", "name": "Linen Shirt", "slug": "linen-shirt", **overrides}


# --- Who may call -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", PRODUCTS), ("post", PRODUCTS), ("get", VARIANTS), ("post", f"{VARIANTS}1/prices/")],
)
def test_staff_api_anonymous_is_401_with_www_authenticate(api_client, method, path):
    response = getattr(api_client, method)(path, {})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_authenticated"
    assert response.json()["status"] == 401


def test_staff_api_bad_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api_client.get(PRODUCTS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "authentication_failed"


def test_staff_api_signed_in_customer_is_403_even_with_catalogue_permissions(api_client, db):
    customer = UserFactory(permissions=CATALOGUE_MANAGER)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(customer)}")

    listing = api_client.get(PRODUCTS)
    creation = api_client.post(PRODUCTS, new_product_body())

    for response in (listing, creation):
        assert response.status_code == 403
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "permission_denied"
    assert Product.objects.count() == 0


def test_staff_api_staff_without_permissions_is_403(api_client, db):
    ProductTypeFactory(slug="apparel")
    api_client.force_authenticate(StaffFactory())

    listing = api_client.get(PRODUCTS)
    creation = api_client.post(PRODUCTS, new_product_body())

    assert listing.status_code == 403
    assert creation.status_code == 403
    assert creation.json()["code"] == "permission_denied"
    assert Product.objects.count() == 0


def test_staff_api_staff_who_may_only_view_cannot_create(api_client, db):
    ProductTypeFactory(slug="apparel")
    api_client.force_authenticate(StaffFactory(permissions=["catalog.view_product"]))

    listing = api_client.get(PRODUCTS)
    creation = api_client.post(PRODUCTS, new_product_body())

    assert listing.status_code == 200
    assert creation.status_code == 403
    assert Product.objects.count() == 0
    assert OutboxEvent.objects.count() == 0


# --- Products ----------------------------------------------------------------------------------


def test_staff_product_create_with_token_returns_201_and_publishes_product_created(
    staff_api, catalogue
):
    response = staff_api.post(
        PRODUCTS,
        new_product_body(
            category="t-shirts",
            tax_class="standard",
            description="Breathable.",
            attributes={"material": "cotton"},
        ),
    )

    assert response.status_code == 201
    product = Product.objects.get(slug="linen-shirt")
    body = response.json()
    assert body["id"] == product.pk
    assert body["name"] == "Linen Shirt"
    assert body["product_type"] == "apparel"
    assert body["category"] == "t-shirts"
    assert body["tax_class"] == "standard"
    assert body["attributes"] == {"material": "Cotton"}
    assert body["variants"] == []
    assert body["channel_listings"] == []
    assert product.search_document == "Linen Shirt Breathable."
    [event] = events_of("product.created")[-1:]
    assert event.subject_type == "product"
    assert event.subject_id == str(product.pk)
    assert event.payload == {"product_id": product.pk, "slug": "linen-shirt", "name": "Linen Shirt"}


def test_staff_product_create_with_session_returns_201(api_client, manager, catalogue):
    api_client.force_login(manager)

    response = api_client.post(PRODUCTS, new_product_body())

    assert response.status_code == 201
    assert Product.objects.filter(slug="linen-shirt").count() == 1


def test_staff_product_create_with_session_needs_the_csrf_token(manager, catalogue):
    browser = APIClient(enforce_csrf_checks=True, **HTTPS)
    browser.force_login(manager)
    products_before = Product.objects.count()

    response = browser.post(PRODUCTS, new_product_body())

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert response.json()["detail"].startswith("CSRF Failed")
    assert Product.objects.count() == products_before


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            new_product_body(product_type="furniture"),
            {"product_type": ["Object with slug=furniture does not exist."]},
        ),
        (
            new_product_body(slug="everyday-tee"),
            {"slug": ["A product with this slug already exists."]},
        ),
        (new_product_body(name=""), {"name": ["This field may not be blank."]}),
        (
            new_product_body(attributes={"color": "red"}),
            {"attributes": ["Not an attribute of this product type: color."]},
        ),
        (
            new_product_body(attributes={"material": "silk"}),
            {"attributes.material": ["silk is not a choice of material."]},
        ),
        (
            new_product_body(product_type="cosmetics", attributes={"volume_ml": "1e20"}),
            {"attributes.volume_ml": ["1e20 is too large or has more than 4 decimals."]},
        ),
        (
            new_product_body(product_type="cosmetics", attributes={"volume_ml": "12.34567"}),
            {"attributes.volume_ml": ["12.34567 is too large or has more than 4 decimals."]},
        ),
        (
            new_product_body(product_type="cosmetics", attributes={"volume_ml": "lots"}),
            {"attributes.volume_ml": ["lots is not a number."]},
        ),
    ],
)
def test_staff_product_create_rejects_bad_input_and_writes_nothing(
    staff_api, catalogue, body, errors
):
    products_before = Product.objects.count()
    events_before = OutboxEvent.objects.count()

    response = staff_api.post(PRODUCTS, body)

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "invalid"
    assert response.json()["errors"] == errors
    assert Product.objects.count() == products_before
    assert OutboxEvent.objects.count() == events_before


def test_staff_product_update_publishes_the_changed_fields(staff_api, catalogue):
    response = staff_api.patch(
        f"{PRODUCTS}{catalogue.tee.pk}/", {"name": "Everyday Tee II", "slug": "everyday-tee"}
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Everyday Tee II"
    catalogue.tee.refresh_from_db()
    assert catalogue.tee.search_document.startswith("Everyday Tee II ")
    [event] = events_of("product.updated")
    assert event.payload == {
        "product_id": catalogue.tee.pk,
        "slug": "everyday-tee",
        "changed": ["name"],
    }


def test_staff_product_list_shows_variants_prices_and_listings(staff_api, catalogue):
    response = staff_api.get(PRODUCTS, {"product_type__slug": "apparel"})

    assert response.status_code == 200
    tee, sweater = response.json()["results"]
    assert tee["slug"] == "everyday-tee"
    assert sweater["slug"] == "merino-sweater"
    assert [v["sku"] for v in tee["variants"]] == ["TEE-RED-M", "TEE-BLUE-M"]
    assert sorted(tee["variants"][0]["prices"], key=lambda p: p["channel"]) == [
        {
            "channel": "web-jp",
            "price": {"amount": "2980", "currency": "JPY"},
            "compare_at_price": None,
        },
        {
            "channel": "web-us",
            "price": {"amount": "19.99", "currency": "USD"},
            "compare_at_price": None,
        },
    ]
    assert sorted(listing["channel"] for listing in tee["channel_listings"]) == ["web-jp", "web-us"]


# --- Variants and prices -----------------------------------------------------------------------


def test_staff_variant_create_returns_201_and_makes_the_sku_searchable(staff_api, catalogue):
    response = staff_api.post(
        VARIANTS,
        {
            "product": catalogue.tee.pk,
            "sku": "TEE-GREEN-L",
            "name": "Green / L",
            "barcode": "4901234567894",
            "weight_grams": 210,
            "attributes": {"color": "green"},
        },
    )

    assert response.status_code == 201
    variant = ProductVariant.objects.get(sku="TEE-GREEN-L")
    assert response.json() == {
        "id": variant.pk,
        "product": catalogue.tee.pk,
        "sku": "TEE-GREEN-L",
        "name": "Green / L",
        "barcode": "4901234567894",
        "weight_grams": 210,
        "position": 0,
        "attributes": {"color": "Green"},
        "prices": [],
    }
    catalogue.tee.refresh_from_db()
    assert "TEE-GREEN-L 4901234567894" in catalogue.tee.search_document


def test_staff_variant_create_rejects_a_duplicate_sku(staff_api, catalogue):
    variants_before = ProductVariant.objects.count()

    response = staff_api.post(VARIANTS, {"product": catalogue.sweater.pk, "sku": "TEE-RED-M"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["errors"] == {"sku": ["SKU TEE-RED-M is already used."]}
    assert ProductVariant.objects.count() == variants_before
    assert catalogue.tee_red.product_id == catalogue.tee.pk


def test_staff_variant_price_set_in_jpy_publishes_variant_price_changed(
    staff_api, catalogue, web_jp
):
    variant = ProductVariantFactory(product=catalogue.tee, sku="TEE-GREEN-L")

    response = staff_api.post(
        f"{VARIANTS}{variant.pk}/prices/", {"channel": "web-jp", "price": "1980"}
    )

    assert response.status_code == 200
    assert response.json()["prices"] == [
        {
            "channel": "web-jp",
            "price": {"amount": "1980", "currency": "JPY"},
            "compare_at_price": None,
        }
    ]
    assert VariantChannelListing.objects.get(variant=variant, channel=web_jp).price == 1980
    # The tee's lowest web-jp price was 2980; the new variant makes it 1980.
    assert (
        ProductChannelListing.objects.get(product=catalogue.tee, channel=web_jp).price_from == 1980
    )
    [event] = events_of("variant.price_changed")[-1:]
    assert event.subject_type == "variant"
    assert event.subject_id == str(variant.pk)
    assert event.payload == {
        "variant_id": variant.pk,
        "sku": "TEE-GREEN-L",
        "channel": "web-jp",
        "currency": "JPY",
        "price": "1980",
        "previous": None,
        "source": "api",
        "reference": "",
    }


def test_staff_variant_price_change_carries_the_previous_price(staff_api, catalogue):
    events_before = len(events_of("variant.price_changed"))

    response = staff_api.post(
        f"{VARIANTS}{catalogue.tee_red.pk}/prices/",
        {"channel": "web-jp", "price": "2480", "compare_at_price": "2980"},
    )

    assert response.status_code == 200
    [web_jp_price] = [p for p in response.json()["prices"] if p["channel"] == "web-jp"]
    assert web_jp_price["compare_at_price"] == {"amount": "2980", "currency": "JPY"}
    events = events_of("variant.price_changed")
    assert len(events) == events_before + 1
    assert events[-1].payload["price"] == "2480"
    assert events[-1].payload["previous"] == "2980"


def test_staff_variant_price_set_to_the_same_price_publishes_nothing(staff_api, catalogue):
    events_before = OutboxEvent.objects.count()

    response = staff_api.post(
        f"{VARIANTS}{catalogue.tee_red.pk}/prices/",
        {"channel": "web-jp", "price": "2980", "compare_at_price": "3980"},
    )

    assert response.status_code == 200
    assert OutboxEvent.objects.count() == events_before


def test_staff_variant_price_set_in_usd_keeps_cents(staff_api, catalogue, web_us):
    response = staff_api.post(
        f"{VARIANTS}{catalogue.tee_red.pk}/prices/", {"channel": "web-us", "price": "17.5"}
    )

    assert response.status_code == 200
    [web_us_price] = [p for p in response.json()["prices"] if p["channel"] == "web-us"]
    assert web_us_price["price"] == {"amount": "17.50", "currency": "USD"}
    stored = VariantChannelListing.objects.get(variant=catalogue.tee_red, channel=web_us)
    assert stored.price == Decimal("17.50")
    assert events_of("variant.price_changed")[-1].payload["price"] == "17.50"
    assert events_of("variant.price_changed")[-1].payload["previous"] == "19.99"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"channel": "web-jp", "price": "1980.5"},
            {"price": ["1980.5 has more decimals than JPY allows."]},
        ),
        (
            {"channel": "web-us", "price": "19.999"},
            {"price": ["19.999 has more decimals than USD allows."]},
        ),
        ({"channel": "web-jp", "price": "abc"}, {"price": ["abc is not a number."]}),
        ({"channel": "web-jp", "price": "-1"}, {"price": ["Must be zero or more."]}),
        (
            {"channel": "web-jp", "price": "2980", "compare_at_price": "2480"},
            {"compare_at_price": ["Must not be below the price."]},
        ),
        (
            {"channel": "web-xx", "price": "2980"},
            {"channel": ["Object with code=web-xx does not exist."]},
        ),
        ({"channel": "web-jp"}, {"price": ["This field is required."]}),
    ],
)
def test_staff_variant_price_set_rejects_bad_prices_and_changes_nothing(
    staff_api, catalogue, body, errors
):
    prices_before = sorted(
        VariantChannelListing.objects.values_list("pk", "price", "compare_at_price")
    )
    events_before = OutboxEvent.objects.count()

    response = staff_api.post(f"{VARIANTS}{catalogue.tee_red.pk}/prices/", body)

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "invalid"
    assert response.json()["errors"] == errors
    assert sorted(VariantChannelListing.objects.values_list("pk", "price", "compare_at_price")) == (
        prices_before
    )
    assert OutboxEvent.objects.count() == events_before


def test_staff_variant_price_set_for_a_new_variant_in_jpy_with_decimals_creates_no_price(
    staff_api, catalogue
):
    variant = ProductVariantFactory(product=catalogue.tee)

    response = staff_api.post(
        f"{VARIANTS}{variant.pk}/prices/", {"channel": "web-jp", "price": "99.9"}
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["price"]
    assert VariantChannelListing.objects.filter(variant=variant).count() == 0


# --- Publication -------------------------------------------------------------------------------


def test_staff_product_publish_makes_it_appear_in_the_storefront(staff_api, catalogue, web_jp):
    product = ProductFactory(product_type=catalogue.food_type, name="Hojicha", slug="hojicha")
    variant_price_set(ProductVariantFactory(product=product), web_jp, "1080")
    storefront = APIClient(**HTTPS)
    before = storefront.get("/api/v1/channels/web-jp/products/", {"q": "hojicha"})

    response = staff_api.post(
        f"{PRODUCTS}{product.pk}/channel-listings/", {"channel": "web-jp", "is_published": True}
    )

    assert response.status_code == 200
    assert response.json()["channel_listings"] == [
        {
            "channel": "web-jp",
            "is_published": True,
            "visible_in_listings": True,
            "available_from": None,
            "available_until": None,
        }
    ]
    after = storefront.get("/api/v1/channels/web-jp/products/", {"q": "hojicha"})
    assert before.json()["count"] == 0
    assert [p["slug"] for p in after.json()["results"]] == ["hojicha"]
    assert after.json()["results"][0]["price_from"] == {"amount": "1080", "currency": "JPY"}
    [event] = events_of("product.publication_changed")[-1:]
    assert event.subject_id == str(product.pk)
    assert event.payload == {"product_id": product.pk, "channel": "web-jp", "is_published": True}


def test_staff_product_unpublish_removes_it_from_the_storefront(staff_api, catalogue):
    response = staff_api.post(
        f"{PRODUCTS}{catalogue.tee.pk}/channel-listings/",
        {"channel": "web-us", "is_published": False},
    )

    assert response.status_code == 200
    storefront = APIClient(**HTTPS).get("/api/v1/channels/web-us/products/")
    assert [p["slug"] for p in storefront.json()["results"]] == ["uji-matcha"]
    assert events_of("product.publication_changed")[-1].payload == {
        "product_id": catalogue.tee.pk,
        "channel": "web-us",
        "is_published": False,
    }


def test_staff_product_listing_rejects_a_window_that_ends_before_it_starts(staff_api, catalogue):
    events_before = OutboxEvent.objects.count()

    response = staff_api.post(
        f"{PRODUCTS}{catalogue.lotion.pk}/channel-listings/",
        {
            "channel": "web-us",
            "is_published": True,
            "available_from": "2030-01-02T00:00:00Z",
            "available_until": "2030-01-01T00:00:00Z",
        },
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"available_until": ["Must be after available from."]}
    assert not ProductChannelListing.objects.filter(
        product=catalogue.lotion, channel__code="web-us"
    ).exists()
    assert OutboxEvent.objects.count() == events_before


@pytest.mark.parametrize(
    ("permissions", "expected_status"),
    [
        (["catalog.view_productvariant", "catalog.change_productvariant"], 200),
        (["catalog.view_productvariant", "catalog.add_productvariant"], 403),
    ],
)
def test_staff_variant_price_needs_the_change_permission(
    api_client, web_jp, permissions, expected_status
):
    editor = StaffFactory(username="editor", permissions=permissions)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(editor)}")
    variant = ProductVariantFactory()

    response = api_client.post(
        f"{VARIANTS}{variant.pk}/prices/",
        {"channel": web_jp.code, "price": "1500"},
        format="json",
    )

    assert response.status_code == expected_status
    assert VariantChannelListing.objects.filter(variant=variant).exists() == (
        expected_status == 200
    )


@pytest.mark.parametrize(
    ("permissions", "expected_status"),
    [
        (["catalog.view_product", "catalog.change_product"], 200),
        (["catalog.view_product", "catalog.add_product"], 403),
    ],
)
def test_staff_publication_needs_the_change_permission(
    api_client, web_jp, permissions, expected_status
):
    editor = StaffFactory(username="publisher", permissions=permissions)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(editor)}")
    product = ProductFactory()

    response = api_client.post(
        f"{PRODUCTS}{product.pk}/channel-listings/",
        {"channel": web_jp.code, "is_published": True},
        format="json",
    )

    assert response.status_code == expected_status
    assert ProductChannelListing.objects.filter(product=product).exists() == (
        expected_status == 200
    )
