"""`import_stock` (cycle counts) and `sync_stock` (external feeds) from files."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from inventory import services
from inventory.models import Stock, StockLocation, StockMovement
from inventory.selectors import stock_reconcile
from tests.factories import ProductVariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(db):
    warehouse = StockLocation.objects.create(code="wh", name="Warehouse", kind="warehouse")
    tee, cap = ProductVariantFactory(sku="TEE"), ProductVariantFactory(sku="CAP")
    services.stock_adjust(variant_id=tee.pk, location_id=warehouse.pk, delta=10, reason="receipt")
    return warehouse, tee, cap


def write(tmp_path, text: str, name: str = "counts.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_import_stock_applies_counts_to_the_ledger(tmp_path, setup, capsys):
    path = write(tmp_path, "sku,location,quantity\nTEE,wh,7\nCAP,wh,3\n")

    call_command("import_stock", path)

    assert dict(Stock.objects.values_list("variant__sku", "on_hand")) == {"TEE": 7, "CAP": 3}
    assert sorted(
        StockMovement.objects.filter(reason="count_correction").values_list(
            "on_hand_before", "on_hand_after"
        )
    ) == [(0, 3), (10, 7)]
    assert "2 stock levels changed" in capsys.readouterr().out
    assert stock_reconcile() == []


def test_import_stock_bad_file_changes_nothing_and_reports_every_bad_row(tmp_path, setup, capsys):
    path = write(
        tmp_path,
        "sku,location,quantity\n"
        "TEE,wh,7\n"  # good
        "NOPE,wh,1\n"  # line 3: unknown SKU
        "CAP,moon,1\n"  # line 4: unknown location
        "CAP,wh,-2\n"  # line 5: negative
        "CAP,wh,lots\n"  # line 6: not a number
        "TEE,wh,8\n",  # line 7: the same SKU and location as line 2
    )

    with pytest.raises(CommandError, match="5 bad row"):
        call_command("import_stock", path)

    errors = capsys.readouterr().err.splitlines()
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    assert "unknown SKU NOPE" in errors[0]
    assert "unknown location moon" in errors[1]
    assert "line 2" in errors[4]
    assert dict(Stock.objects.values_list("variant__sku", "on_hand")) == {"TEE": 10}
    assert not StockMovement.objects.filter(reason="count_correction").exists()


def test_import_stock_skip_bad_rows_applies_the_good_ones(tmp_path, setup):
    path = write(tmp_path, "sku,location,quantity\nTEE,wh,4\nNOPE,wh,1\n")

    call_command("import_stock", path, "--skip-bad-rows")

    assert Stock.objects.get(variant__sku="TEE").on_hand == 4


def test_import_stock_dry_run_writes_nothing(tmp_path, setup):
    path = write(tmp_path, "sku,location,quantity\nTEE,wh,4\n")

    call_command("import_stock", path, "--dry-run")

    assert Stock.objects.get(variant__sku="TEE").on_hand == 10


def test_import_stock_missing_column_is_reported_on_line_1(tmp_path, setup, capsys):
    path = write(tmp_path, "sku,quantity\nTEE,4\n")

    with pytest.raises(CommandError):
        call_command("import_stock", path)

    assert capsys.readouterr().err.strip() == "line 1: Missing column(s): location."


def test_sync_stock_json_feed_records_sync_movements_only_for_changes(tmp_path, setup):
    feed = [
        {"sku": "TEE", "location": "wh", "quantity": 10},
        {"sku": "CAP", "location": "wh", "quantity": 6},
    ]
    path = write(tmp_path, json.dumps(feed), "feed.json")

    call_command("sync_stock", path, "--format", "json")

    assert list(
        StockMovement.objects.filter(reason="sync").values_list(
            "stock__variant__sku", "on_hand_delta"
        )
    ) == [("CAP", 6)]
    assert stock_reconcile() == []


BAD_STOCK_ROWS = [
    pytest.param(b"TEE\x00,wh,7\n", "line 3: sku contains a NUL character.", id="nul"),
    pytest.param(
        b"TEE,wh,99999999999999999999\n",
        "line 3: TEE @ wh: quantity must be a whole number from 0 to 2147483647, "
        "not 99999999999999999999",
        id="huge-int",
    ),
    pytest.param(
        b"TEE,wh,2147483648\n",
        "line 3: TEE @ wh: quantity must be a whole number from 0 to 2147483647, not 2147483648",
        id="beyond-the-column",
    ),
    pytest.param(
        b'TEE,"' + b"w" * 1_000_000 + b'",7\n',
        "line 3: A cell is longer than 131072 characters, the most a file may hold.",
        id="1mb-cell",
    ),
    pytest.param(
        b"TEE," + b"w" * 51 + b",7\n", "line 3: location is longer than 50 characters.", id="long"
    ),
    pytest.param(
        "抹茶,wh,7\n".encode("cp932"),
        "line 3: sku is not valid utf-8-sig text; is the file in another encoding?",
        id="bad-encoding",
    ),
    pytest.param(
        b"TEE,wh\n", "line 3: The row has 2 cells; the header has 3 columns.", id="short-row"
    ),
    pytest.param(
        b"TEE,wh,7,8\n", "line 3: The row has 4 cells; the header has 3 columns.", id="long-row"
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_STOCK_ROWS)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_import_stock_reports_a_row_the_database_would_refuse(
    tmp_path, setup, capsys, body, message, dry_run
):
    path = tmp_path / "counts.csv"
    path.write_bytes(b"sku,location,quantity\nCAP,wh,3\n" + body)

    with pytest.raises(CommandError, match=r"^1 bad row\(s\); nothing was written\.$"):
        call_command("import_stock", str(path), *(["--dry-run"] if dry_run else []))

    output = capsys.readouterr()
    assert output.err.splitlines() == [message]
    assert output.out.startswith("2 rows read, 1 bad;")
    assert dict(Stock.objects.values_list("variant__sku", "on_hand")) == {"TEE": 10}
    assert not StockMovement.objects.filter(reason="count_correction").exists()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"sku": "TEE\u0000", "location": "wh", "quantity": 7}, "sku contains a NUL character."),
        (
            {"sku": "TEE", "location": "wh", "quantity": 99999999999999999999},
            "TEE @ wh: quantity must be a whole number from 0 to 2147483647, "
            "not 99999999999999999999",
        ),
        (
            {"sku": "TEE", "location": "wh", "quantity": True},
            "TEE @ wh: quantity must be a whole number from 0 to 2147483647, not True",
        ),
    ],
    ids=["nul", "huge-int", "boolean"],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_sync_stock_json_reports_an_item_the_database_would_refuse(
    tmp_path, setup, capsys, item, message, dry_run
):
    feed = [{"sku": "CAP", "location": "wh", "quantity": 3}, item]
    path = write(tmp_path, json.dumps(feed), "feed.json")

    with pytest.raises(CommandError, match=r"^1 bad row\(s\); nothing was written\.$"):
        call_command("sync_stock", path, "--format", "json", *(["--dry-run"] if dry_run else []))

    assert capsys.readouterr().err.splitlines() == [f"line 2: {message}"]
    assert dict(Stock.objects.values_list("variant__sku", "on_hand")) == {"TEE": 10}
    assert not StockMovement.objects.filter(reason="sync").exists()


def test_import_stock_duplicate_column_is_reported_on_line_1(tmp_path, setup, capsys):
    path = write(tmp_path, "sku,location,quantity,sku\nTEE,wh,4,CAP\n")

    with pytest.raises(CommandError):
        call_command("import_stock", path)

    assert capsys.readouterr().err.strip() == "line 1: Column sku appears twice."
    assert Stock.objects.get(variant__sku="TEE").on_hand == 10
