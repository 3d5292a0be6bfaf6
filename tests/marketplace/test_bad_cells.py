"""Cells the database would refuse, in marketplace order and carrier tracking files: each is a
row error, the same in a dry run and a real one, and nothing of the row is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commerce.models import Channel, OutboxEvent
from inventory.models import Reservation
from orders import services
from orders.models import Cart, Fulfilment, Order, Payment, TrackingEvent
from tests.marketplace.conftest import Omni, web_order
from tests.marketplace.test_import import HEADER, run

ROW = (
    "RK-9001,2025-05-01T10:00:00+09:00,aiko@example.jp,,Aiko,{last_name},106-0032,Tokyo,"
    "Minato-ku,1-1 Roppongi,,JP,{sku},{quantity},3280,0{tail}\n"
)


def order_row(**cells: str) -> bytes:
    values = {"last_name": "Mori", "sku": "TEE-BLUE-M", "quantity": "1", "tail": "", **cells}
    return ROW.format(**values).encode("utf-8")


BAD_ORDERS = [
    pytest.param(
        order_row(sku="TEE-BLUE-M\x00"),
        "error: line 2 [RK-9001]: sku contains a NUL character.",
        id="nul-sku",
    ),
    pytest.param(
        order_row(last_name="Mo\x00ri"),
        "error: line 2 [RK-9001]: last_name contains a NUL character.",
        id="nul-name",
    ),
    pytest.param(
        order_row(quantity="9" * 5000),
        "error: line 2 [RK-9001]: quantity: Must be between 1 and 999, not " + "9" * 40 + "….",
        id="huge-int",
    ),
    pytest.param(
        order_row(quantity="99999999999999999999"),
        "error: line 2 [RK-9001]: quantity: Must be between 1 and 999, not 99999999999999999999.",
        id="20-digits",
    ),
    pytest.param(
        order_row(last_name='"' + "M" * 1_000_000 + '"'),
        "error: line 2: A cell is longer than 131072 characters, the most a file may hold.",
        id="1mb-cell",
    ),
    pytest.param(
        order_row(last_name="森").replace("森".encode(), "森".encode("cp932")),
        "error: line 2 [RK-9001]: last_name is not valid utf-8-sig text; is the file in another "
        "encoding?",
        id="bad-encoding",
    ),
    pytest.param(
        order_row(last_name="M" * 300),
        "error: line 2 [RK-9001]: last_name is longer than 100 characters.",
        id="too-long",
    ),
    pytest.param(
        order_row().replace(b",0\n", b"\n"),
        "error: line 2 [RK-9001]: The row has 15 cells; the header has 16 columns.",
        id="short-row",
    ),
    pytest.param(
        order_row(tail=",surplus"),
        "error: line 2 [RK-9001]: The row has 17 cells; the header has 16 columns.",
        id="long-row",
    ),
]


def nothing_placed(channel: Channel) -> bool:
    return not (
        Order.objects.filter(channel=channel).exists()
        or Cart.objects.filter(channel=channel).exists()
        or Payment.objects.filter(method="marketplace").exists()
        or Reservation.objects.filter(kind="order").exists()
        or OutboxEvent.objects.filter(type="order.placed").exists()
    )


@pytest.mark.parametrize(("body", "message"), BAD_ORDERS)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_import_orders_reports_a_cell_the_database_would_refuse(
    omni: Omni, rakuten: Channel, tmp_path: Path, body: bytes, message: str, dry_run: bool
) -> None:
    path = tmp_path / "rakuten.csv"
    path.write_bytes(HEADER.encode() + body)

    out, err, error = run(
        "import_orders", str(path), "--channel", "rakuten-jp", *(["--dry-run"] if dry_run else [])
    )

    assert error is not None
    assert str(error) == "1 error(s); the orders named were not imported."
    assert err.splitlines() == [message]
    assert "0 created" in out or "0 would be created" in out
    assert nothing_placed(rakuten)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            json.dumps(
                [
                    {
                        "marketplace_order_id": "RK-9002",
                        "placed_at": "2025-05-01T10:00:00+09:00",
                        "email": "aiko@example.jp",
                        "shipping_address": {"line1": "1-1 Roppongi", "country": "JP"},
                        "lines": [{"sku": "TEE-BLUE-M\u0000", "quantity": 1, "unit_price": 3280}],
                    }
                ]
            ),
            "error: order 1, line 1 [RK-9002]: sku contains a NUL character.",
        ),
        (
            json.dumps([{"marketplace_order_id": "RK-\u0000"}]),
            "error: order 1: marketplace_order_id contains a NUL character.",
        ),
        (
            '[{"marketplace_order_id": "RK-9003", "lines": [{"quantity": ' + "9" * 5000 + "}]}]",
            "error: file: Not valid JSON: a number is too long.",
        ),
    ],
    ids=["nul-sku", "nul-id", "5000-digits"],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_import_orders_json_reports_a_value_the_database_would_refuse(
    omni: Omni, rakuten: Channel, tmp_path: Path, text: str, message: str, dry_run: bool
) -> None:
    path = tmp_path / "rakuten.json"
    path.write_text(text, encoding="utf-8")

    _out, err, error = run(
        "import_orders", str(path), "--channel", "rakuten-jp", *(["--dry-run"] if dry_run else [])
    )

    assert error is not None
    assert err.splitlines() == [message]
    assert nothing_placed(rakuten)


TRACKING_HEADER = b"tracking_number,carrier,status,occurred_at,description,place\n"
GOOD_UPDATE = b"YMT-0001,yamato,delivered,2025-05-02T15:30:00+09:00,At the door,Shibuya"
BAD_UPDATES = [
    pytest.param(
        GOOD_UPDATE.replace(b"YMT-0001", b"YMT-0001\x00") + b"\n",
        "error: line 2: tracking_number contains a NUL character.",
        id="nul",
    ),
    pytest.param(
        GOOD_UPDATE.replace(b"Shibuya", b"S" * 101) + b"\n",
        "error: line 2: place is longer than 100 characters.",
        id="too-long",
    ),
    pytest.param(
        GOOD_UPDATE.replace(b"At the door", b'"' + b"d" * 1_000_000 + b'"') + b"\n",
        "error: line 2: A cell is longer than 131072 characters, the most a file may hold.",
        id="1mb-cell",
    ),
    pytest.param(
        GOOD_UPDATE.replace(b"Shibuya", "渋谷".encode("cp932")) + b"\n",
        "error: line 2: place is not valid utf-8-sig text; is the file in another encoding?",
        id="bad-encoding",
    ),
    pytest.param(
        GOOD_UPDATE.replace(b",Shibuya", b"") + b"\n",
        "error: line 2: The row has 5 cells; the header has 6 columns.",
        id="short-row",
    ),
    pytest.param(
        GOOD_UPDATE + b",surplus\n",
        "error: line 2: The row has 7 cells; the header has 6 columns.",
        id="long-row",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_UPDATES)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_import_tracking_reports_a_cell_the_database_would_refuse(
    omni: Omni, tmp_path: Path, body: bytes, message: str, dry_run: bool
) -> None:
    order = web_order(omni, [("TEE-RED-M", 1)])
    fulfilment = services.fulfilment_ship(
        order.fulfilments.get(), carrier="yamato", tracking_number="YMT-0001"
    )
    path = tmp_path / "yamato.csv"
    path.write_bytes(TRACKING_HEADER + body)
    delivered_before = OutboxEvent.objects.filter(type="fulfilment.delivered").count()

    out, err, error = run("import_tracking", str(path), *(["--dry-run"] if dry_run else []))

    assert error is not None
    assert str(error) == "1 bad row(s); see above."
    assert err.splitlines() == [message]
    assert out.startswith("1 rows read: 0 recorded, 0 already recorded (duplicates), 1 with")
    assert not TrackingEvent.objects.exists()
    fulfilment.refresh_from_db()
    assert fulfilment.state == Fulfilment.State.SHIPPED
    assert OutboxEvent.objects.filter(type="fulfilment.delivered").count() == delivered_before


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_import_tracking_json_reports_a_nul_in_a_value(
    omni: Omni, tmp_path: Path, dry_run: bool
) -> None:
    path = tmp_path / "yamato.json"
    path.write_text(
        json.dumps(
            [
                {
                    "tracking_number": "YMT-\u00000001",
                    "status": "delivered",
                    "occurred_at": "2025-05-02T15:30:00+09:00",
                }
            ]
        ),
        encoding="utf-8",
    )

    _out, err, error = run("import_tracking", str(path), *(["--dry-run"] if dry_run else []))

    assert error is not None
    assert err.splitlines() == ["error: update 1: tracking_number contains a NUL character."]
    assert not TrackingEvent.objects.exists()


@pytest.mark.parametrize(
    "command", [["import_orders", "--channel", "rakuten-jp"], ["import_tracking"]]
)
def test_partner_file_commands_fail_on_an_unknown_encoding(
    omni: Omni, rakuten: Channel, tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "file.csv"
    path.write_bytes(TRACKING_HEADER)

    _out, _err, error = run(command[0], str(path), *command[1:], "--encoding", "latin-99")

    assert str(error) == "Unknown encoding latin-99."
