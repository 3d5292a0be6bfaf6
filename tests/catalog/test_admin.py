"""The catalogue back office: pages load at a fixed cost, and saves and actions go through the
services (events, search document, price checks) exactly as the API does."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.forms import CheckboxInput, MultiWidget
from django.test.utils import CaptureQueriesContext

from catalog.models import Product, ProductChannelListing, ProductVariant, VariantChannelListing
from commerce.models import OutboxEvent
from tests.factories import ProductFactory, ProductVariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

PRODUCTS = "/admin/catalog/product/"
VARIANTS = "/admin/catalog/productvariant/"
IMPORT_HEADER = "sku,product_slug,product_name,product_type,category,price:web-jp,published:web-jp"


def form_data(response) -> dict:
    """The POST a browser would send back from an admin change page, unchanged."""
    data: dict = {}

    def add(form) -> None:
        for name, field in form.fields.items():
            key, value = form.add_prefix(name), form[name].value()
            if isinstance(field.widget, CheckboxInput):
                if value:
                    data[key] = "on"
            elif isinstance(field.widget, MultiWidget):
                for index, part in enumerate(field.widget.decompress(value)):
                    data[f"{key}_{index}"] = "" if part is None else part
            elif value is not None:
                data[key] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def upload(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


# --- Pages ---------------------------------------------------------------------------------


def test_admin_catalogue_pages_load(superuser_client, catalogue):
    pages = [
        PRODUCTS,
        f"{PRODUCTS}{catalogue.tee.pk}/change/",
        f"{PRODUCTS}add/",
        f"{VARIANTS}",
        f"{VARIANTS}{catalogue.tee_red.pk}/change/",
        "/admin/catalog/category/",
        f"/admin/catalog/category/{catalogue.t_shirts.pk}/change/",
        "/admin/catalog/attribute/",
        "/admin/catalog/producttype/",
        f"{PRODUCTS}import/",
    ]

    statuses = {page: superuser_client.get(page).status_code for page in pages}

    assert statuses == dict.fromkeys(pages, 200)


def test_admin_category_list_shows_the_tree_indented(superuser_client, catalogue):
    response = superuser_client.get("/admin/catalog/category/")

    names = [(category.name, category.depth) for category in response.context["cl"].result_list]
    assert names == [("Apparel", 0), ("T-shirts", 1), ("Food", 0), ("Tea", 1)]
    assert "— T-shirts" in response.content.decode()


def test_admin_product_changelist_query_count_does_not_grow_with_products(
    superuser_client, catalogue
):
    def changelist_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = superuser_client.get(PRODUCTS)
        assert response.status_code == 200
        return len(response.context["cl"].result_list), len(queries)

    def add_products(count: int) -> None:
        for _ in range(count):
            ProductVariantFactory(product=ProductFactory(category=catalogue.tea))

    add_products(1)  # the catalogue's four, and one
    shown_few, queries_few = changelist_queries()
    add_products(45)
    shown_many, queries_many = changelist_queries()

    assert (shown_few, shown_many) == (5, 50)
    assert queries_many == queries_few


def test_admin_product_changelist_search_finds_a_sku(superuser_client, catalogue):
    by_sku = superuser_client.get(PRODUCTS, {"q": "TEE-BLUE-M"})
    by_partial_sku = superuser_client.get(PRODUCTS, {"q": "MATCHA"})

    assert list(by_sku.context["cl"].result_list) == [catalogue.tee]
    assert list(by_partial_sku.context["cl"].result_list) == [catalogue.matcha]


def test_admin_product_changelist_search_lists_a_product_once(superuser_client, catalogue):
    response = superuser_client.get(PRODUCTS, {"q": "TEE-"})

    assert list(response.context["cl"].result_list) == [catalogue.tee]
    assert response.context["cl"].result_list[0].variant_total == 2


def test_admin_product_changelist_filters_by_channel(superuser_client, catalogue):
    response = superuser_client.get(PRODUCTS, {"published_in": "web-us"})

    assert list(response.context["cl"].result_list) == [catalogue.tee, catalogue.matcha]


# --- Actions ----------------------------------------------------------------------------------


def test_admin_product_publish_action_publishes_in_the_chosen_channel(
    superuser_client, catalogue, web_us
):
    chosen = [catalogue.tee, catalogue.sweater, catalogue.lotion]

    response = superuser_client.post(
        PRODUCTS,
        {
            "action": "publish",
            "_selected_action": [p.pk for p in chosen],
            "channel": web_us.pk,
        },
        follow=True,
    )

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "2 product(s) changed in Web shop US; 1 already were."
    ]
    assert sorted(
        ProductChannelListing.objects.filter(channel=web_us).values_list(
            "product__slug", "is_published"
        )
    ) == [
        ("everyday-tee", True),
        ("merino-sweater", True),
        ("rice-lotion", True),
        ("uji-matcha", True),
    ]
    events = OutboxEvent.objects.filter(
        type="product.publication_changed", payload__channel="web-us"
    )
    assert sorted(e.payload["product_id"] for e in events.filter(payload__is_published=True)) == (
        sorted([catalogue.tee.pk, catalogue.matcha.pk, catalogue.sweater.pk, catalogue.lotion.pk])
    )
    assert events.count() == 4  # two from the fixture, two from the action


def test_admin_product_unpublish_action_unpublishes_only_in_the_chosen_channel(
    superuser_client, catalogue, web_us
):
    superuser_client.post(
        PRODUCTS,
        {"action": "unpublish", "_selected_action": [catalogue.tee.pk], "channel": web_us.pk},
    )

    assert dict(
        ProductChannelListing.objects.filter(product=catalogue.tee).values_list(
            "channel__code", "is_published"
        )
    ) == {"web-jp": True, "web-us": False}
    event = OutboxEvent.objects.filter(type="product.publication_changed").first()
    assert event.payload == {
        "product_id": catalogue.tee.pk,
        "channel": "web-us",
        "is_published": False,
    }


def test_admin_product_publish_action_without_a_channel_changes_nothing(
    superuser_client, catalogue
):
    listings_before = sorted(ProductChannelListing.objects.values_list("pk", "is_published"))
    events_before = OutboxEvent.objects.count()

    response = superuser_client.post(
        PRODUCTS,
        {"action": "publish", "_selected_action": [catalogue.lotion.pk], "channel": ""},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        "Choose a channel next to the action."
    ]
    assert sorted(ProductChannelListing.objects.values_list("pk", "is_published")) == (
        listings_before
    )
    assert OutboxEvent.objects.count() == events_before


def test_admin_product_export_action_exports_the_selected_products(superuser_client, catalogue):
    response = superuser_client.post(
        PRODUCTS, {"action": "export_selected", "_selected_action": [catalogue.tee.pk]}
    )

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == ["TEE-RED-M", "TEE-BLUE-M"]


# --- Import and export ------------------------------------------------------------------------


def test_admin_import_dry_run_shows_the_report_and_writes_nothing(superuser_client, catalogue):
    text = f"{IMPORT_HEADER}\nGEN-1,genmaicha,Genmaicha,food,tea,980,yes\n"
    products_before = Product.objects.count()
    events_before = OutboxEvent.objects.count()

    response = superuser_client.post(
        f"{PRODUCTS}import/",
        {"file": upload("tea.csv", text), "encoding": "utf-8-sig", "dry_run": "on"},
    )

    assert response.status_code == 200
    assert response.context["report"].ok is True
    assert response.context["report"].rows == 1
    assert "1 rows read, 0 bad." in response.content.decode()
    assert "Nothing was written." in response.content.decode()
    assert Product.objects.count() == products_before
    assert OutboxEvent.objects.count() == events_before


def test_admin_import_upload_imports_and_returns_to_the_product_list(superuser_client, catalogue):
    text = (
        f"{IMPORT_HEADER}\n"
        "GEN-1,genmaicha,玄米茶 Genmaicha,food,tea,980,yes\n"
        "GEN-2,genmaicha,玄米茶 Genmaicha,food,tea,1880,yes\n"
    )

    response = superuser_client.post(
        f"{PRODUCTS}import/", {"file": upload("tea.csv", text), "encoding": "utf-8-sig"}
    )

    assert response.status_code == 302
    assert response["Location"] == PRODUCTS
    product = Product.objects.get(slug="genmaicha")
    assert product.name == "玄米茶 Genmaicha"
    assert sorted(product.variants.values_list("sku", flat=True)) == ["GEN-1", "GEN-2"]
    listing = product.channel_listings.get()
    assert (listing.channel.code, listing.is_published, listing.price_from) == ("web-jp", True, 980)
    assert OutboxEvent.objects.filter(type="catalog.imported").count() == 1


def test_admin_import_of_a_bad_file_lists_the_bad_lines_and_writes_nothing(
    superuser_client, catalogue
):
    text = (
        f"{IMPORT_HEADER}\n"
        "GEN-1,genmaicha,Genmaicha,food,tea,980,yes\n"
        "GEN-2,genmaicha,Genmaicha,food,tea,980.5,yes\n"
    )
    products_before = Product.objects.count()

    response = superuser_client.post(
        f"{PRODUCTS}import/", {"file": upload("tea.csv", text), "encoding": "utf-8-sig"}
    )

    assert response.status_code == 200
    [error] = response.context["report"].errors
    assert (error.line, error.sku) == (3, "GEN-2")
    assert error.messages == ["price:web-jp: 980.5 has more decimals than JPY allows."]
    assert "<td>3</td><td>GEN-2</td>" in response.content.decode()
    assert Product.objects.count() == products_before


def test_admin_import_of_a_shift_jis_file_as_utf8_asks_for_the_encoding(
    superuser_client, catalogue
):
    text = f"{IMPORT_HEADER}\nGEN-1,genmaicha,玄米茶,food,tea,980,yes\n"
    sjis = SimpleUploadedFile("tea.csv", text.encode("cp932"), content_type="text/csv")

    response = superuser_client.post(f"{PRODUCTS}import/", {"file": sjis, "encoding": "utf-8-sig"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"encoding": ["The file is not in this encoding."]}
    assert not Product.objects.filter(slug="genmaicha").exists()


def test_admin_export_streams_the_catalogue_as_csv(superuser_client, catalogue):
    response = superuser_client.get(f"{PRODUCTS}export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="catalogue.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["sku", "product_slug", "product_name", "product_type"]
    assert rows[0][12:] == [
        "price:web-jp",
        "compare_at_price:web-jp",
        "published:web-jp",
        "price:web-us",
        "compare_at_price:web-us",
        "published:web-us",
    ]
    assert len(rows) == 1 + 5


# --- Saving ---------------------------------------------------------------------------------


def test_admin_product_save_refreshes_the_search_document(superuser_client, catalogue):
    page = f"{PRODUCTS}{catalogue.tee.pk}/change/"
    data = form_data(superuser_client.get(page))
    [red_form] = [k for k, v in data.items() if v == "TEE-RED-M"]
    data[red_form] = "TEE-CRIMSON-M"
    data["description"] = "Soft organic cotton."

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    catalogue.tee.refresh_from_db()
    assert catalogue.tee.search_document == (
        "Everyday Tee TEE-CRIMSON-M TEE-BLUE-M Soft organic cotton."
    )
    assert ProductVariant.objects.get(pk=catalogue.tee_red.pk).sku == "TEE-CRIMSON-M"


def test_admin_product_save_publishes_product_updated_with_the_changed_fields(
    superuser_client, catalogue
):
    page = f"{PRODUCTS}{catalogue.tee.pk}/change/"
    data = form_data(superuser_client.get(page))
    data["name"] = "Everyday Tee II"

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    [event] = OutboxEvent.objects.filter(type="product.updated")
    assert event.payload == {
        "product_id": catalogue.tee.pk,
        "slug": "everyday-tee",
        "changed": ["name"],
    }


def test_admin_product_save_without_changes_publishes_nothing(superuser_client, catalogue):
    page = f"{PRODUCTS}{catalogue.tee.pk}/change/"
    data = form_data(superuser_client.get(page))
    events_before = OutboxEvent.objects.count()

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    assert OutboxEvent.objects.count() == events_before


def test_admin_product_add_goes_through_the_service(superuser_client, catalogue):
    page = f"{PRODUCTS}add/"
    data = form_data(superuser_client.get(page))
    data.update(
        product_type=catalogue.food_type.pk, name="Sencha", slug="sencha", category=catalogue.tea.pk
    )

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    product = Product.objects.get(slug="sencha")
    assert product.search_document == "Sencha "
    assert (
        OutboxEvent.objects.filter(type="product.created", subject_id=str(product.pk)).count() == 1
    )


def test_admin_variant_price_with_too_many_decimals_is_a_form_error(
    superuser_client, catalogue, web_jp
):
    variant = ProductVariantFactory(product=catalogue.tee, sku="TEE-GREEN-L")
    page = f"{VARIANTS}{variant.pk}/change/"
    data = form_data(superuser_client.get(page))
    data.update(
        {
            "channel_listings-TOTAL_FORMS": "1",
            "channel_listings-0-channel": web_jp.pk,
            "channel_listings-0-price": "1980.5",
            "channel_listings-0-compare_at_price": "",
        }
    )
    events_before = OutboxEvent.objects.count()

    response = superuser_client.post(page, data)

    assert response.status_code == 200
    [prices] = [
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is VariantChannelListing
    ]
    assert prices.errors == [{"price": ["1980.5 has more decimals than JPY allows."]}]
    assert VariantChannelListing.objects.filter(variant=variant).count() == 0
    assert OutboxEvent.objects.count() == events_before


def test_admin_variant_price_save_goes_through_the_service(superuser_client, catalogue, web_jp):
    variant = ProductVariantFactory(product=catalogue.tee, sku="TEE-GREEN-L")
    page = f"{VARIANTS}{variant.pk}/change/"
    data = form_data(superuser_client.get(page))
    data.update(
        {
            "channel_listings-TOTAL_FORMS": "1",
            "channel_listings-0-channel": web_jp.pk,
            "channel_listings-0-price": "1980",
            "channel_listings-0-compare_at_price": "",
        }
    )

    response = superuser_client.post(page, data)

    assert response.status_code == 302
    assert VariantChannelListing.objects.get(variant=variant, channel=web_jp).price == 1980
    # the product's lowest price in the channel moves with it
    assert (
        ProductChannelListing.objects.get(product=catalogue.tee, channel=web_jp).price_from == 1980
    )
    event = OutboxEvent.objects.filter(type="variant.price_changed").first()
    assert event.payload["sku"] == "TEE-GREEN-L"
    assert event.payload["price"] == "1980"


def test_admin_import_reports_a_database_refusal_on_the_form(superuser_client, catalogue):
    text = f"{IMPORT_HEADER}\nREFUSED-1,genmaicha,Genmaicha,food,tea,980,yes\n"
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE catalog_productvariant "
            "ADD CONSTRAINT test_refuse_sku CHECK (sku NOT LIKE 'REFUSED-%')"
        )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    response = superuser_client.post(
        f"{PRODUCTS}import/", {"file": upload("tea.csv", text), "encoding": "utf-8-sig"}
    )

    assert response.status_code == 200
    (message,) = response.context["form"].non_field_errors()
    assert message.startswith("The database refused the import, nothing was written: ")
    assert "test_refuse_sku" in message
    assert not Product.objects.filter(slug="genmaicha").exists()
