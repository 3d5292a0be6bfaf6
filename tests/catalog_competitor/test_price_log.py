"""The price log from the other doors: the catalogue import and the admin."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from catalog.importing import catalog_import, open_text
from catalog.models import PriceChange
from tests.catalog.test_admin import form_data
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_catalog_import_logs_each_price_it_moves_with_source_import(
    tmp_path: Path, catalogue, tee_red, web_jp, web_us
):
    path = tmp_path / "prices-april.csv"
    path.write_text(
        "sku,price:web-jp,price:web-us\n"
        "TEE-RED-M,2780,19.99\n"  # web-us unchanged
        "TEE-BLUE-M,3280,\n",  # unchanged
        encoding="utf-8",
    )
    manager = StaffFactory(username="importer")
    before = PriceChange.objects.count()

    report = catalog_import(open_stream=open_text(str(path)), source=str(path), changed_by=manager)

    assert report.written and report.ok
    assert report.price_changes == 1
    assert PriceChange.objects.count() == before + 1
    change = PriceChange.objects.order_by("-id").first()
    assert (change.variant, change.channel, change.previous, change.price, change.currency) == (
        tee_red,
        web_jp,
        Decimal("2980.000"),
        Decimal("2780.000"),
        "JPY",
    )
    assert (change.source, change.reference, change.changed_by) == (
        "import",
        "prices-april.csv",
        manager,
    )


def test_catalog_import_dry_run_logs_no_price(tmp_path: Path, catalogue):
    path = tmp_path / "prices.csv"
    path.write_text("sku,price:web-jp\nTEE-RED-M,2780\n", encoding="utf-8")
    before = PriceChange.objects.count()

    catalog_import(open_stream=open_text(str(path)), source=str(path), dry_run=True)

    assert PriceChange.objects.count() == before


@pytest.mark.usefixtures("plain_static_files")
def test_admin_variant_price_edit_logs_source_staff_and_the_staff_member(
    https_client, catalogue, tee_red, web_jp
):
    root = StaffFactory(username="root", superuser=True)
    https_client.force_login(root)
    page = https_client.get(f"/admin/catalog/productvariant/{tee_red.pk}/change/")
    data = form_data(page)
    prices = next(
        i.formset
        for i in page.context["inline_admin_formsets"]
        if i.formset.prefix == "channel_listings"
    )
    web_jp_form = next(f for f in prices.forms if f.instance.channel_id == web_jp.pk)
    data[web_jp_form.add_prefix("price")] = "2680"

    response = https_client.post(f"/admin/catalog/productvariant/{tee_red.pk}/change/", data)

    assert response.status_code == 302, response.context and response.context["errors"]
    change = PriceChange.objects.order_by("-id").first()
    assert (change.variant, change.channel, change.price, change.source, change.changed_by) == (
        tee_red,
        web_jp,
        Decimal("2680.000"),
        "staff",
        root,
    )
