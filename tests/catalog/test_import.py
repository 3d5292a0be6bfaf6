"""Catalogue CSV import and export: all or nothing, every bad row reported on its line."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection

from catalog.importing import catalog_import, open_text
from catalog.models import (
    Product,
    ProductAttributeValue,
    ProductChannelListing,
    ProductVariant,
    VariantAttributeValue,
    VariantChannelListing,
)
from commerce.models import OutboxEvent
from tests.factories import ProductVariantFactory, variant_price_set

pytestmark = pytest.mark.django_db

HEADER = [
    "sku",
    "product_slug",
    "product_name",
    "product_type",
    "category",
    "tax_class",
    "description",
    "variant_name",
    "barcode",
    "weight_grams",
    "product_attributes",
    "variant_attributes",
    "price:web-jp",
    "compare_at_price:web-jp",
    "published:web-jp",
    "price:web-us",
    "published:web-us",
]


def linen(sku: str = "LIN-RED-M", **cells: str) -> dict[str, str]:
    """A good row of a new product, "Linen Shirt"; `cells` override columns."""
    return {
        "sku": sku,
        "product_slug": "linen-shirt",
        "product_name": "Linen Shirt",
        "product_type": "apparel",
        "category": "t-shirts",
        "tax_class": "standard",
        "description": "Cool in summer.",
        "variant_name": "Red / M",
        "barcode": "",
        "weight_grams": "220",
        "product_attributes": "material=cotton",
        "variant_attributes": "color=red",
        "price:web-jp": "6980",
        "compare_at_price:web-jp": "",
        "published:web-jp": "yes",
        "price:web-us": "",
        "published:web-us": "",
        **cells,
    }


GOOD_ROWS = [
    linen(
        "LIN-RED-M", barcode="4900000000011", **{"price:web-us": "49.00", "published:web-us": "no"}
    ),
    linen(
        "LIN-BLUE-M",
        variant_name="Blue / M",
        barcode="4900000000028",
        weight_grams="225",
        variant_attributes="color=blue",
        **{
            "price:web-jp": "7480",
            "compare_at_price:web-jp": "8980",
            "price:web-us": "52.50",
            "published:web-us": "no",
        },
    ),
    linen(
        "HOJ-100",
        product_slug="hojicha",
        product_name="ほうじ茶 Hojicha",
        product_type="food",
        category="tea",
        tax_class="",
        description="Roasted green tea.",
        variant_name="100 g",
        weight_grams="100",
        product_attributes="organic=yes",
        variant_attributes="",
        **{"price:web-jp": "1080"},
    ),
]


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> str:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def import_file(path: str, **options):
    return catalog_import(open_stream=open_text(path), source="test.csv", **options)


def counts() -> dict[str, int]:
    models = [
        Product,
        ProductVariant,
        ProductAttributeValue,
        VariantAttributeValue,
        VariantChannelListing,
        ProductChannelListing,
        OutboxEvent,
    ]
    return {model.__name__: model.objects.count() for model in models}


def snapshot() -> dict:
    """Everything the CSV format carries, keyed by slug and SKU (ids differ after a re-import)."""

    def values(assignments) -> list[tuple[str, object]]:
        return sorted((a.attribute.code, a.value) for a in assignments)

    products = {
        p.slug: (
            p.name,
            p.product_type.slug,
            p.category.slug if p.category else None,
            p.tax_class.code if p.tax_class else None,
            p.description,
            sorted(p.search_document.split()),
            values(p.attribute_values.select_related("attribute", "choice")),
            sorted(
                (listing.channel.code, listing.is_published, listing.price_from)
                for listing in p.channel_listings.select_related("channel")
            ),
        )
        for p in Product.objects.select_related("product_type", "category", "tax_class")
    }
    variants = {
        v.sku: (
            v.product.slug,
            v.name,
            v.barcode,
            v.weight_grams,
            values(v.attribute_values.select_related("attribute", "choice")),
            sorted(
                (listing.channel.code, listing.price, listing.compare_at_price)
                for listing in v.channel_listings.select_related("channel")
            ),
        )
        for v in ProductVariant.objects.select_related("product")
    }
    return {"products": products, "variants": variants}


# --- A good file ------------------------------------------------------------------------------


def test_catalog_import_creates_products_variants_values_prices_and_listings(
    tmp_path, catalogue, web_jp, web_us
):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)
    before = counts()

    report = import_file(path)

    assert report.errors == []
    assert (report.rows, report.bad_rows, report.written) == (3, 0, True)
    assert (report.products_created, report.products_updated) == (2, 0)
    assert (report.variants_created, report.variants_updated) == (3, 0)
    after = counts()
    assert {name: after[name] - before[name] for name in after} == {
        "Product": 2,
        "ProductVariant": 3,
        "ProductAttributeValue": 2,
        "VariantAttributeValue": 2,
        "VariantChannelListing": 5,
        "ProductChannelListing": 3,
        "OutboxEvent": 1,
    }
    shirt = Product.objects.get(slug="linen-shirt")
    assert (shirt.name, shirt.product_type, shirt.category, shirt.tax_class) == (
        "Linen Shirt",
        catalogue.apparel_type,
        catalogue.t_shirts,
        catalogue.standard,
    )
    assert shirt.search_document == (
        "Linen Shirt LIN-BLUE-M 4900000000028 LIN-RED-M 4900000000011 Cool in summer."
    )
    assert [(a.attribute.code, a.value) for a in shirt.attribute_values.all()] == [
        ("material", "cotton")
    ]
    blue = ProductVariant.objects.get(sku="LIN-BLUE-M")
    assert (blue.product, blue.name, blue.barcode, blue.weight_grams) == (
        shirt,
        "Blue / M",
        "4900000000028",
        225,
    )
    assert [(a.attribute.code, a.value) for a in blue.attribute_values.all()] == [("color", "blue")]
    assert sorted(
        VariantChannelListing.objects.filter(variant__product=shirt).values_list(
            "variant__sku", "channel__code", "price", "compare_at_price"
        )
    ) == [
        ("LIN-BLUE-M", "web-jp", Decimal("7480"), Decimal("8980")),
        ("LIN-BLUE-M", "web-us", Decimal("52.50"), None),
        ("LIN-RED-M", "web-jp", Decimal("6980"), None),
        ("LIN-RED-M", "web-us", Decimal("49.00"), None),
    ]
    assert sorted(
        ProductChannelListing.objects.filter(
            product__slug__in=["linen-shirt", "hojicha"]
        ).values_list("product__slug", "channel__code", "is_published", "price_from")
    ) == [
        ("hojicha", "web-jp", True, Decimal("1080")),
        ("linen-shirt", "web-jp", True, Decimal("6980")),
        ("linen-shirt", "web-us", False, Decimal("49.00")),
    ]
    hojicha = Product.objects.get(slug="hojicha")
    assert hojicha.category == catalogue.tea
    assert hojicha.tax_class is None
    assert [(a.attribute.code, a.value) for a in hojicha.attribute_values.all()] == [
        ("organic", True)
    ]
    event = OutboxEvent.objects.get(type="catalog.imported")
    assert event.payload == {
        "file": "test.csv",
        "rows": 3,
        "bad_rows": 0,
        "products_created": 2,
        "products_updated": 0,
        "variants_created": 3,
        "variants_updated": 0,
    }


def test_catalog_import_makes_published_products_visible_in_the_storefront(
    tmp_path, catalogue, api_client
):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)

    import_file(path)

    jp = api_client.get("/api/v1/channels/web-jp/products/", {"q": "hojicha"}).json()
    us = api_client.get("/api/v1/channels/web-us/products/", {"q": "linen"}).json()
    assert [(p["slug"], p["price_from"]) for p in jp["results"]] == [
        ("hojicha", {"amount": "1080", "currency": "JPY"})
    ]
    assert us["count"] == 0  # priced in web-us, but published: no


def test_catalog_import_in_small_chunks_gives_the_same_result(tmp_path, catalogue):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)
    import_file(path)
    in_one_chunk = snapshot()
    Product.objects.filter(slug__in=["linen-shirt", "hojicha"]).delete()

    report = import_file(path, chunk_size=1)

    # the shirt's two rows fall in two chunks: still one product created, none updated
    assert (report.products_created, report.products_updated) == (2, 0)
    assert (report.variants_created, report.variants_updated) == (3, 0)
    assert snapshot() == in_one_chunk


def test_catalog_import_twice_updates_and_creates_nothing_new(tmp_path, catalogue):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)
    import_file(path)
    before, data_before = counts(), snapshot()

    report = import_file(path)

    assert report.errors == []
    assert (report.products_created, report.products_updated) == (0, 2)
    assert (report.variants_created, report.variants_updated) == (0, 3)
    assert counts() == {**before, "OutboxEvent": before["OutboxEvent"] + 1}
    assert snapshot() == data_before


def test_catalog_import_updates_changed_values(tmp_path, catalogue):
    import_file(write_csv(tmp_path / "v1.csv", GOOD_ROWS))
    changed = [
        {**GOOD_ROWS[0], "product_name": "Linen Shirt II", "price:web-jp": "5980"},
        {**GOOD_ROWS[1], "variant_attributes": "color=green", "published:web-us": "yes"},
        GOOD_ROWS[2],
    ]

    report = import_file(write_csv(tmp_path / "v2.csv", changed))

    assert report.errors == []
    shirt = Product.objects.get(slug="linen-shirt")
    assert shirt.name == "Linen Shirt II"
    assert shirt.search_document.startswith("Linen Shirt II ")
    listings = dict(shirt.channel_listings.values_list("channel__code", "price_from"))
    assert listings == {"web-jp": Decimal("5980"), "web-us": Decimal("49.00")}
    assert shirt.channel_listings.get(channel__code="web-us").is_published is True
    blue = ProductVariant.objects.get(sku="LIN-BLUE-M")
    assert [a.value for a in blue.attribute_values.all()] == ["green"]


def test_catalog_import_price_without_published_column_keeps_the_publication(tmp_path, catalogue):
    """A price without a published column lists the product unpublished, and never unpublishes."""
    rows = [{**GOOD_ROWS[2], "published:web-jp": ""}]

    import_file(write_csv(tmp_path / "a.csv", rows))
    import_file(write_csv(tmp_path / "b.csv", [GOOD_ROWS[2]]))
    import_file(write_csv(tmp_path / "c.csv", rows))

    listing = ProductChannelListing.objects.get(product__slug="hojicha", channel__code="web-jp")
    assert listing.is_published is True


# --- A bad file --------------------------------------------------------------------------------

BAD_ROWS = [
    linen("GOOD-1"),  # line 2
    linen("MISSING-NAME", product_name=""),  # line 3
    linen("GOOD-1", variant_name="Again"),  # line 4
    linen("BAD-PRICE", **{"price:web-jp": "abc"}),  # line 5
    linen("JPY-SEN", **{"price:web-jp": "1980.5"}),  # line 6
    linen("NO-CATEGORY", category="nope"),  # line 7
    linen("PURPLE", variant_attributes="color=purple"),  # line 8
    linen("HEAVY", weight_grams="12.5"),  # line 9
    linen("TEE-RED-M"),  # line 10: the SKU is the Everyday Tee's
    linen("GOOD-2"),  # line 11
]
BAD_ROW_ERRORS = [
    (3, "MISSING-NAME", ["product_name is empty."]),
    (4, "GOOD-1", ["Duplicate SKU GOOD-1 in the file."]),
    (5, "BAD-PRICE", ["price:web-jp: abc is not a number."]),
    (6, "JPY-SEN", ["price:web-jp: 1980.5 has more decimals than JPY allows."]),
    (7, "NO-CATEGORY", ["Unknown category nope."]),
    (8, "PURPLE", ["variant_attributes: purple is not a choice of color."]),
    (9, "HEAVY", ["weight_grams must be a whole number of grams, not 12.5."]),
    (10, "TEE-RED-M", ["SKU TEE-RED-M belongs to product everyday-tee."]),
]


def errors_of(report) -> list[tuple[int, str, list[str]]]:
    return [(e.line, e.sku, e.messages) for e in report.errors]


def test_catalog_import_reports_every_bad_row_on_its_line_and_writes_nothing(tmp_path, catalogue):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    before, data_before = counts(), snapshot()

    report = import_file(path)

    assert errors_of(report) == BAD_ROW_ERRORS
    assert (report.rows, report.bad_rows, report.written) == (10, 8, False)
    assert report.summary() == (
        "10 rows read, 8 bad. Products: 0 new, 0 updated. Variants: 0 new, 0 updated. "
        "Nothing was written."
    )
    assert counts() == before
    assert snapshot() == data_before


def test_catalog_import_skip_bad_rows_imports_only_the_good_rows(tmp_path, catalogue):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    before = counts()

    report = import_file(path, skip_bad_rows=True)

    assert errors_of(report) == BAD_ROW_ERRORS
    assert report.written is True
    assert (report.products_created, report.variants_created) == (1, 2)
    assert sorted(
        ProductVariant.objects.filter(product__slug="linen-shirt").values_list("sku", flat=True)
    ) == ["GOOD-1", "GOOD-2"]
    assert ProductVariant.objects.get(sku="GOOD-1").name == "Red / M"  # not line 4's "Again"
    assert ProductVariant.objects.get(sku="TEE-RED-M").product == catalogue.tee
    after = counts()
    assert after["Product"] == before["Product"] + 1
    assert after["ProductVariant"] == before["ProductVariant"] + 2
    assert after["OutboxEvent"] == before["OutboxEvent"] + 1
    assert OutboxEvent.objects.get(type="catalog.imported").payload["bad_rows"] == 8


def test_catalog_import_dry_run_reports_and_writes_nothing(tmp_path, catalogue):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)
    before = counts()

    report = import_file(path, dry_run=True)

    assert (report.rows, report.bad_rows, report.errors) == (3, 0, [])
    assert (report.dry_run, report.written, report.ok) == (True, False, True)
    assert counts() == before


def test_catalog_import_dry_run_reports_bad_rows(tmp_path, catalogue):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    before = counts()

    report = import_file(path, dry_run=True, skip_bad_rows=True)

    assert errors_of(report) == BAD_ROW_ERRORS
    assert report.written is False
    assert counts() == before


@pytest.mark.parametrize(
    ("header", "messages"),
    [
        # sku says which variant a row is; every other column may be left out (see below)
        ([c for c in HEADER if c != "sku"], ["Missing column sku."]),
        ([*HEADER, "barcode"], ["Column barcode appears twice."]),
        ([*HEADER, "price:web-xx"], ["Column price:web-xx names no channel."]),
        ([*HEADER, "published:app-jp"], ["Column published:app-jp names no channel."]),
        ([*HEADER, "colour"], ["Unknown column colour."]),
    ],
)
def test_catalog_import_rejects_a_bad_header_on_line_1(tmp_path, catalogue, header, messages):
    rows = [{k: v for k, v in row.items() if k in header} for row in GOOD_ROWS]
    path = write_csv(tmp_path / "header.csv", rows, header=header)
    before = counts()

    report = import_file(path, skip_bad_rows=True)

    assert errors_of(report) == [(1, "", messages)]
    assert report.rows == 0
    assert report.written is False
    assert counts() == before


def test_catalog_import_rejects_an_empty_file(tmp_path, catalogue):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")

    report = import_file(str(path))

    assert errors_of(report) == [(1, "", ["The file is empty."])]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"product_name": "N" * 251}, "product_name is longer than 250 characters."),
        ({"variant_name": "V" * 251}, "variant_name is longer than 250 characters."),
        ({"barcode": "4" * 33}, "barcode is longer than 32 characters."),
        ({"sku": "S" * 65}, "sku is longer than 64 characters."),
        ({"product_slug": "s" * 256}, "product_slug is longer than 255 characters."),
        (
            {"product_slug": "linen shirt"},
            "product_slug linen shirt may only hold letters, digits, - and _.",
        ),
        (
            {"weight_grams": "2147483648"},
            "weight_grams must be a whole number of grams, not 2147483648.",
        ),
        ({"weight_grams": "-5"}, "weight_grams must be a whole number of grams, not -5."),
        ({"product_type": "furniture"}, "Unknown product type furniture."),
        ({"tax_class": "luxury"}, "Unknown tax class luxury."),
        (
            {"product_attributes": "color=red"},
            "product_attributes: color is not an attribute of this product type.",
        ),
        ({"variant_attributes": "color"}, "variant_attributes: color is not code=value."),
        ({"published:web-jp": "maybe"}, "published:web-jp must be yes or no, not maybe."),
        ({"price:web-us": "19.999"}, "price:web-us: 19.999 has more decimals than USD allows."),
        (
            {"compare_at_price:web-jp": "5000"},
            "compare_at_price:web-jp: Must not be below the price.",
        ),
        (
            {"compare_at_price:web-jp": "7000", "price:web-jp": ""},
            "price:web-jp: A price is required.",
        ),
    ],
)
def test_catalog_import_reports_a_bad_value_on_its_line(tmp_path, catalogue, cells, message):
    rows = [GOOD_ROWS[2], linen(**cells)]
    path = write_csv(tmp_path / "bad.csv", rows)
    before = counts()

    report = import_file(path)

    assert [(e.line, e.messages) for e in report.errors] == [(3, [message])]
    assert counts() == before


def test_catalog_import_reports_a_row_with_more_cells_than_columns(tmp_path, catalogue):
    path = tmp_path / "extra.csv"
    path.write_text(
        "sku,product_slug,product_name,product_type\nA-1,a,A,food\nA-2,a,A,food,surplus\n",
        encoding="utf-8",
    )

    report = import_file(str(path))

    assert errors_of(report) == [(3, "A-2", ["The row has 5 cells; the header has 4 columns."])]


def test_catalog_import_reports_the_number_of_a_number_attribute_out_of_range(tmp_path, catalogue):
    rows = [
        {
            **linen("LOT-1"),
            "product_type": "cosmetics",
            "product_attributes": "volume_ml=1e20",
            "variant_attributes": "",
        }
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    before = counts()

    report = import_file(path)

    assert [(e.line, e.messages) for e in report.errors] == [
        (2, ["product_attributes: 1e20 is too large or has more than 4 decimals."])
    ]
    assert counts() == before


def test_catalog_import_reports_a_barcode_owned_by_another_variant(tmp_path, catalogue):
    ProductVariantFactory(product=catalogue.sweater, sku="SWT-RED-L", barcode="4900000000011")
    path = write_csv(tmp_path / "bad.csv", [linen("LIN-RED-M", barcode="4900000000011")])

    report = import_file(path)

    assert errors_of(report) == [
        (2, "LIN-RED-M", ["Barcode 4900000000011 belongs to SKU SWT-RED-L."])
    ]


def test_catalog_import_keeps_line_numbers_after_a_multi_line_description(tmp_path, catalogue):
    rows = [
        linen("ML-1", description="First line.\nSecond line.\n\nFourth line, after a blank."),
        linen("ML-2"),
        linen("ML-3", category="nope"),
        linen("ML-4", description="One\nTwo"),
        linen("ML-5", weight_grams="heavy"),
    ]
    path = write_csv(tmp_path / "multi.csv", rows)
    # header = line 1; ML-1 = lines 2-5; ML-2 = 6; ML-3 = 7; ML-4 = 8-9; ML-5 = 10
    assert Path(path).read_text(encoding="utf-8").splitlines()[6].startswith("ML-3,")
    assert Path(path).read_text(encoding="utf-8").splitlines()[9].startswith("ML-5,")

    report = import_file(path, skip_bad_rows=True)

    assert errors_of(report) == [
        (7, "ML-3", ["Unknown category nope."]),
        (10, "ML-5", ["weight_grams must be a whole number of grams, not heavy."]),
    ]
    assert Product.objects.get(slug="linen-shirt").description == (
        "First line.\nSecond line.\n\nFourth line, after a blank."
    )


def test_catalog_import_reads_excel_shift_jis_files(tmp_path, catalogue):
    path = tmp_path / "excel.csv"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(GOOD_ROWS[2])
    path.write_bytes(buffer.getvalue().encode("cp932"))

    report = catalog_import(open_stream=open_text(str(path), encoding="cp932"))

    assert report.errors == []
    assert Product.objects.get(slug="hojicha").name == "ほうじ茶 Hojicha"


# --- Failing half-way ------------------------------------------------------------------------


def test_catalog_import_failing_while_writing_leaves_nothing(tmp_path, catalogue):
    """The database refuses a row that validation passed (here: a constraint the importer does
    not know about, as another application's rule or a newer migration would add). Chunks of one
    row: earlier rows were already written when the failure comes, and must go too."""
    rows = [linen(f"LIN-{n}", product_slug=f"linen-{n}") for n in range(1, 6)]
    rows[3]["sku"] = "REFUSED-4"
    path = write_csv(tmp_path / "good.csv", rows)
    with connection.cursor() as cursor:
        # The fixture's deferred foreign-key checks must run before the table can be altered.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE catalog_productvariant "
            "ADD CONSTRAINT test_refuse_sku CHECK (sku NOT LIKE 'REFUSED-%')"
        )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    before, data_before = counts(), snapshot()

    with pytest.raises(IntegrityError, match="test_refuse_sku"):
        import_file(path, chunk_size=1)

    assert counts() == before
    assert snapshot() == data_before
    assert not Product.objects.filter(slug__startswith="linen-").exists()


# --- The command ---------------------------------------------------------------------------


def test_import_catalog_command_imports_a_good_file(tmp_path, catalogue):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)
    out, err = io.StringIO(), io.StringIO()

    call_command("import_catalog", path, stdout=out, stderr=err)

    assert out.getvalue() == (
        "3 rows read, 0 bad. Products: 2 new, 0 updated. Variants: 3 new, 0 updated. Written.\n"
    )
    assert err.getvalue() == ""
    assert Product.objects.filter(slug__in=["linen-shirt", "hojicha"]).count() == 2
    event = OutboxEvent.objects.get(type="catalog.imported")
    assert (event.subject_type, event.subject_id) == ("catalog", "good.csv")
    assert event.payload["file"] == path


def test_import_catalog_command_fails_on_a_bad_file_printing_every_error(tmp_path, catalogue):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    out, err = io.StringIO(), io.StringIO()
    before = counts()

    with pytest.raises(CommandError, match=r"^8 bad row\(s\); nothing was imported\.$"):
        call_command("import_catalog", path, stdout=out, stderr=err)

    assert err.getvalue().splitlines() == [
        "line 3 (MISSING-NAME): product_name is empty.",
        "line 4 (GOOD-1): Duplicate SKU GOOD-1 in the file.",
        "line 5 (BAD-PRICE): price:web-jp: abc is not a number.",
        "line 6 (JPY-SEN): price:web-jp: 1980.5 has more decimals than JPY allows.",
        "line 7 (NO-CATEGORY): Unknown category nope.",
        "line 8 (PURPLE): variant_attributes: purple is not a choice of color.",
        "line 9 (HEAVY): weight_grams must be a whole number of grams, not 12.5.",
        "line 10 (TEE-RED-M): SKU TEE-RED-M belongs to product everyday-tee.",
    ]
    assert "Nothing was written." in out.getvalue()
    assert counts() == before


def test_import_catalog_command_exits_non_zero_on_a_bad_file(tmp_path, catalogue):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)

    with pytest.raises(CommandError) as error:
        call_command("import_catalog", path, stderr=io.StringIO())

    # manage.py exits with the error's return code
    assert error.value.returncode == 1


def test_import_catalog_command_skip_bad_rows_succeeds_and_prints_the_errors(tmp_path, catalogue):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    out, err = io.StringIO(), io.StringIO()

    call_command("import_catalog", path, "--skip-bad-rows", stdout=out, stderr=err)

    assert len(err.getvalue().splitlines()) == 8
    assert out.getvalue() == (
        "10 rows read, 8 bad. Products: 1 new, 0 updated. Variants: 2 new, 0 updated. Written.\n"
    )


def test_import_catalog_command_dry_run_writes_nothing(tmp_path, catalogue):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)
    out = io.StringIO()
    before = counts()

    call_command("import_catalog", path, "--dry-run", stdout=out)

    assert out.getvalue().startswith("3 rows read, 0 bad.")
    assert out.getvalue().endswith("Nothing was written.\n")
    assert counts() == before


def test_import_catalog_command_fails_on_a_missing_file(tmp_path, db):
    with pytest.raises(CommandError, match=r"^No such file: .*missing\.csv$"):
        call_command("import_catalog", str(tmp_path / "missing.csv"))


def test_import_catalog_command_fails_on_the_wrong_encoding(tmp_path, catalogue):
    path = tmp_path / "sjis.csv"
    path.write_bytes(
        ("sku,product_slug,product_name,product_type\nA-1,a,抹茶,food\n").encode("cp932")
    )

    err = io.StringIO()

    with pytest.raises(CommandError, match=r"^1 bad row\(s\); nothing was imported\.$"):
        call_command("import_catalog", str(path), stdout=io.StringIO(), stderr=err)

    assert err.getvalue() == (
        "line 2 (A-1): product_name is not valid utf-8-sig text; is the file in another encoding?\n"
    )
    assert not Product.objects.filter(slug="a").exists()


# --- Export ----------------------------------------------------------------------------------


def test_export_catalog_writes_the_import_header_and_one_row_per_variant(tmp_path, catalogue):
    path = tmp_path / "export.csv"

    call_command("export_catalog", "-o", str(path))

    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == [
        *HEADER[:12],
        "price:web-jp",
        "compare_at_price:web-jp",
        "published:web-jp",
        "price:web-us",
        "compare_at_price:web-us",
        "published:web-us",
    ]
    assert [row["sku"] for row in rows] == [
        "TEE-RED-M",
        "TEE-BLUE-M",
        "SWT-GREEN-L",
        "TEA-MATCHA-100",
        "SKN-LOT-150",
    ]
    tee_red = rows[0]
    assert tee_red["price:web-jp"] == "2980"
    assert tee_red["price:web-us"] == "19.99"
    assert tee_red["published:web-us"] == "yes"
    assert tee_red["variant_attributes"] == "color=red"
    assert rows[2]["price:web-us"] == rows[2]["published:web-us"] == ""


def test_export_then_import_round_trip_gives_identical_data(tmp_path, catalogue, web_jp, web_us):
    variant_price_set(catalogue.tee_blue, web_jp, "3280", "3980")
    ProductVariantFactory(product=catalogue.sweater, sku="SWT-RED-L", attributes={"color": "red"})
    path = tmp_path / "export.csv"
    call_command("export_catalog", "-o", str(path))
    data_before = snapshot()
    ProductVariant.objects.all().delete()
    Product.objects.all().delete()

    report = import_file(str(path))

    assert report.errors == []
    assert (report.products_created, report.variants_created) == (4, 6)
    assert snapshot() == data_before


def test_export_then_import_into_the_same_catalogue_changes_nothing(tmp_path, catalogue):
    path = tmp_path / "export.csv"
    call_command("export_catalog", "-o", str(path))
    data_before = snapshot()

    report = import_file(str(path))

    assert report.errors == []
    assert (report.products_created, report.variants_created) == (0, 0)
    assert (report.products_updated, report.variants_updated) == (4, 5)
    assert snapshot() == data_before


# --- Only the columns the file has ------------------------------------------------------------


def rows_of(model, **filters) -> dict:
    """Every stored column of the rows of `model`, keyed by id."""
    names = [f.attname for f in model._meta.concrete_fields]
    return {row["id"]: row for row in model.objects.filter(**filters).values(*names)}


def whole_catalogue() -> dict:
    return {
        model.__name__: rows_of(model)
        for model in (
            Product,
            ProductVariant,
            ProductAttributeValue,
            VariantAttributeValue,
            VariantChannelListing,
            ProductChannelListing,
        )
    }


@pytest.fixture
def rich_tee(catalogue, web_jp):
    """The Everyday Tee with every field the CSV format carries filled in."""
    Product.objects.filter(pk=catalogue.tee.pk).update(description="Heavy cotton, boxy fit.")
    ProductVariant.objects.filter(pk=catalogue.tee_red.pk).update(
        barcode="4900000000998", weight_grams=180
    )
    ProductVariant.objects.filter(pk=catalogue.tee_blue.pk).update(
        barcode="4900000000999", weight_grams=185
    )
    variant_price_set(catalogue.tee_red, web_jp, "2980", "3980")
    return catalogue


def test_catalog_import_of_some_columns_renames_and_changes_no_other_field(tmp_path, rich_tee):
    # Given a file that only renames the tee (the example)
    header = ["sku", "product_slug", "product_name", "product_type"]
    rows = [
        {"sku": "TEE-RED-M", "product_slug": "everyday-tee", "product_name": "Everyday Tee II"},
        {"sku": "TEE-BLUE-M", "product_slug": "everyday-tee", "product_name": "Everyday Tee II"},
    ]
    for row in rows:
        row["product_type"] = "apparel"
    path = write_csv(tmp_path / "rename.csv", rows, header=header)
    before = whole_catalogue()

    # When it is imported
    report = import_file(path)

    # Then the name (and what is derived from it) is all that changed, in every table
    assert report.errors == []
    assert (report.products_updated, report.variants_updated) == (1, 2)
    after = whole_catalogue()
    tee_id = rich_tee.tee.pk
    changed_tee = after["Product"][tee_id]
    assert changed_tee["name"] == "Everyday Tee II"
    assert changed_tee["search_document"].startswith("Everyday Tee II ")
    expected = {**before, "Product": {**before["Product"]}}
    expected["Product"][tee_id] = {
        **before["Product"][tee_id],
        "name": "Everyday Tee II",
        "search_document": changed_tee["search_document"],
        "updated_at": changed_tee["updated_at"],
    }
    assert after == expected
    tee = Product.objects.get(pk=tee_id)
    assert (tee.category, tee.tax_class, tee.description) == (
        rich_tee.t_shirts,
        rich_tee.standard,
        "Heavy cotton, boxy fit.",
    )
    red = ProductVariant.objects.get(sku="TEE-RED-M")
    assert (red.name, red.barcode, red.weight_grams) == ("Red / M", "4900000000998", 180)


def test_catalog_import_by_sku_alone_updates_only_the_given_variant_columns(tmp_path, rich_tee):
    path = write_csv(
        tmp_path / "barcodes.csv",
        [{"sku": "TEE-RED-M", "barcode": "4900000000111", "price:web-jp": "2780"}],
        header=["sku", "barcode", "price:web-jp"],
    )
    before = whole_catalogue()

    report = import_file(path)

    assert report.errors == []
    assert (report.products_created, report.products_updated) == (0, 1)
    after = whole_catalogue()
    red = ProductVariant.objects.get(sku="TEE-RED-M")
    red_listing = VariantChannelListing.objects.get(variant=red, channel__code="web-jp")
    tee_listing = ProductChannelListing.objects.get(product=red.product, channel__code="web-jp")
    expected = {name: dict(table) for name, table in before.items()}
    expected["ProductVariant"][red.pk] = {
        **before["ProductVariant"][red.pk],
        "barcode": "4900000000111",
    }
    # no compare_at_price column: the "was" price stays
    expected["VariantChannelListing"][red_listing.pk] = {
        **before["VariantChannelListing"][red_listing.pk],
        "price": Decimal("2780.000"),
    }
    expected["ProductChannelListing"][tee_listing.pk] = {
        **before["ProductChannelListing"][tee_listing.pk],
        "price_from": Decimal("2780.000"),
    }
    expected["Product"][red.product_id] = {
        **before["Product"][red.product_id],
        "search_document": after["Product"][red.product_id]["search_document"],
        "updated_at": after["Product"][red.product_id]["updated_at"],
    }
    assert after == expected
    assert red_listing.compare_at_price == Decimal("3980")


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        (
            ["sku", "product_slug", "product_type"],
            {"sku": "NEW-1", "product_slug": "brand-new", "product_type": "food"},
            "Product brand-new is new: a new product needs the column product_name.",
        ),
        (
            ["sku", "product_slug", "product_name"],
            {"sku": "NEW-1", "product_slug": "brand-new", "product_name": "Brand new"},
            "Product brand-new is new: a new product needs the column product_type.",
        ),
        (
            ["sku", "product_name"],
            {"sku": "NEW-1", "product_name": "Brand new"},
            "SKU NEW-1 is new: a new variant needs the column product_slug.",
        ),
    ],
)
def test_catalog_import_refuses_to_create_without_the_columns_a_new_one_needs(
    tmp_path, catalogue, header, row, message
):
    path = write_csv(tmp_path / "new.csv", [row], header=header)
    before = counts()

    report = import_file(path)

    assert errors_of(report) == [(2, "NEW-1", [message])]
    assert counts() == before


def test_catalog_import_without_product_type_checks_attributes_against_the_stored_type(
    tmp_path, catalogue
):
    path = write_csv(
        tmp_path / "attributes.csv",
        [
            {"sku": "TEE-RED-M", "variant_attributes": "color=blue"},
            {"sku": "TEA-MATCHA-100", "variant_attributes": "color=blue"},
        ],
        header=["sku", "variant_attributes"],
    )

    report = import_file(path)

    assert errors_of(report) == [
        (
            3,
            "TEA-MATCHA-100",
            ["variant_attributes: color is not an attribute of this product type."],
        )
    ]
    report = import_file(path, skip_bad_rows=True)
    assert [
        a.value for a in ProductVariant.objects.get(sku="TEE-RED-M").attribute_values.all()
    ] == ["blue"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "sku,product_slug,product_name,product_type,category\n"
            "TEE-RED-M,everyday-tee,Everyday Tee II,apparel\n",
            (2, "TEE-RED-M", ["The row has 4 cells; the header has 5 columns."]),
        ),
        (
            "sku,product_slug,product_name,product_type\n"
            "TEE-RED-M,everyday-tee,Everyday Tee II,apparel,t-shirts\n",
            (2, "TEE-RED-M", ["The row has 5 cells; the header has 4 columns."]),
        ),
    ],
    ids=["short", "long"],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_catalog_import_a_short_or_long_row_is_a_row_error(
    tmp_path, rich_tee, text, error, dry_run
):
    path = tmp_path / "rows.csv"
    path.write_text(text, encoding="utf-8")
    before = whole_catalogue()

    report = import_file(str(path), dry_run=dry_run)

    assert errors_of(report) == [error]
    assert (report.rows, report.bad_rows, report.written) == (1, 1, False)
    assert whole_catalogue() == before


HEAD = b"sku,product_slug,product_name,product_type,description,weight_grams\n"
BAD_CELLS = [
    pytest.param(
        b"TEE-RED-M,everyday-tee,Tee\x00,apparel,,\n",
        "line 2 (TEE-RED-M): product_name contains a NUL character.",
        id="nul",
    ),
    pytest.param(
        b"TEE-RED-M,everyday-tee,Tee,apparel,,99999999999999999999\n",
        "line 2 (TEE-RED-M): weight_grams must be a whole number of grams, "
        "not 99999999999999999999.",
        id="huge-int",
    ),
    pytest.param(
        b'TEE-RED-M,everyday-tee,Tee,apparel,"' + b"x" * 1_000_000 + b'",\n',
        # the csv module gives up on the row before its SKU can be read
        "line 2: A cell is longer than 131072 characters, the most a file may hold.",
        id="1mb-cell",
    ),
    pytest.param(
        "TEE-RED-M,everyday-tee,抹茶,apparel,,\n".encode("cp932"),
        "line 2 (TEE-RED-M): product_name is not valid utf-8-sig text; "
        "is the file in another encoding?",
        id="bad-encoding",
    ),
    pytest.param(
        b"TEE-RED-M,everyday-tee,Tee,apparel,Bell\x07,\n",
        "line 2 (TEE-RED-M): description contains the control character U+0007.",
        id="control-character",
    ),
    pytest.param(
        b"TEE-RED-M,everyday-tee," + b"N" * 251 + b",apparel,,\n",
        "line 2 (TEE-RED-M): product_name is longer than 250 characters.",
        id="too-long",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_CELLS)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_import_catalog_command_reports_a_cell_the_database_would_refuse(
    tmp_path, rich_tee, body, message, dry_run
):
    # Given a good row after the bad one, so that a real run would have something to write
    path = tmp_path / "bad.csv"
    path.write_bytes(HEAD + body + b"TEE-BLUE-M,everyday-tee,Tee,apparel,,\n")
    out, err = io.StringIO(), io.StringIO()
    before = whole_catalogue()
    events_before = OutboxEvent.objects.count()

    with pytest.raises(CommandError, match=r"^1 bad row\(s\); nothing was imported\.$"):
        call_command(
            "import_catalog", str(path), *(["--dry-run"] if dry_run else []), stdout=out, stderr=err
        )

    assert err.getvalue().splitlines() == [message]
    assert out.getvalue().startswith("2 rows read, 1 bad.")
    assert whole_catalogue() == before
    assert OutboxEvent.objects.count() == events_before


def test_catalog_import_skip_bad_rows_goes_on_after_an_unreadable_row(tmp_path, rich_tee):
    path = tmp_path / "bad.csv"
    path.write_bytes(HEAD + BAD_CELLS[2].values[0] + b"TEE-BLUE-M,everyday-tee,Tee 2,apparel,,\n")

    report = import_file(str(path), skip_bad_rows=True)

    assert errors_of(report) == [
        (2, "", ["A cell is longer than 131072 characters, the most a file may hold."])
    ]
    assert report.written is True
    assert Product.objects.get(slug="everyday-tee").name == "Tee 2"


def test_import_catalog_command_fails_on_an_unknown_encoding(tmp_path, catalogue):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)

    with pytest.raises(CommandError, match=r"^Unknown encoding latin-99\.$"):
        call_command("import_catalog", path, "--encoding", "latin-99")


def test_import_catalog_command_reports_a_database_refusal_without_a_traceback(tmp_path, catalogue):
    rows = [linen(f"LIN-{n}", product_slug=f"linen-{n}") for n in range(1, 4)]
    rows[1]["sku"] = "REFUSED-2"
    path = write_csv(tmp_path / "good.csv", rows)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE catalog_productvariant "
            "ADD CONSTRAINT test_refuse_sku CHECK (sku NOT LIKE 'REFUSED-%')"
        )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    before = counts()

    with pytest.raises(
        CommandError,
        match=r'^The database refused the import, nothing was written: .*"test_refuse_sku"',
    ):
        call_command("import_catalog", path, stdout=io.StringIO())

    assert counts() == before
