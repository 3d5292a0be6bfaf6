"""Marketplace orders and carrier tracking files, through their commands."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from commerce.models import Channel, OutboxEvent
from customers.models import Customer
from inventory.models import Reservation, Stock, StockMovement
from orders import services
from orders.channels import marketplace
from orders.models import Cart, Fulfilment, Order, Payment, TrackingEvent
from tests.marketplace.conftest import Omni, web_order

HEADER = (
    "marketplace_order_id,placed_at,email,phone,first_name,last_name,postal_code,region,city,"
    "line1,line2,country,sku,quantity,unit_price,shipping_total\n"
)


def run(name: str, *args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), error
    return out.getvalue(), err.getvalue(), None


def events(type_: str, subject_id: int) -> int:
    return OutboxEvent.objects.filter(type=type_, subject_id=str(subject_id)).count()


def allocated(omni: Omni, sku: str) -> int:
    return Stock.objects.get(variant__sku=sku, location=omni.warehouse).allocated


def test_import_orders_csv_twice_creates_each_order_once(
    omni: Omni, rakuten: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a marketplace export: RK-1001 has two lines (the second row repeats nothing), at the
    # marketplace's prices (matcha 1500, the shop lists 1620); RK-1002 has a phone, no e-mail.
    path = tmp_path / "rakuten.csv"
    path.write_text(
        HEADER + "RK-1001,2025-05-01 09:12:00,Sakura@Example.jp,,Sakura,Tanaka,150-0001,Tokyo,"
        "Shibuya-ku,1-2-3 Jingumae,,JP,TEE-RED-M,2,2980,0\n"
        "RK-1001,,,,,,,,,,,,TEA-MATCHA-100,1,1500,\n"
        "RK-1002,2025-05-02T18:30:00+09:00,,090-8765-4321,Kenji,Sato,530-0001,Osaka,Kita-ku,"
        "2-4-9 Umeda,Room 5,JP,SKN-LOT-150,1,3500,550\n",
        encoding="utf-8",
    )

    # When it is tried first, nothing is written.
    out, _err, error = run("import_orders", str(path), "--channel", "rakuten-jp", "--dry-run")
    assert error is None
    assert "would create: RK-1001" in out and "would create: RK-1002" in out
    assert not Order.objects.filter(channel=rakuten).exists()
    assert not Cart.objects.filter(channel=rakuten).exists()
    assert not Reservation.objects.filter(kind="order").exists()

    # When it is imported
    out, err, error = run("import_orders", str(path), "--channel", "rakuten-jp")

    # Then each order is placed, paid, routed and allocated through the ledger
    assert error is None and err == ""
    one, two = Order.objects.filter(channel=rakuten).order_by("external_id")
    assert f"created: RK-1001 as order {one.number}" in out
    assert "2 orders read: 2 created, 0 already imported (skipped), 0 with errors" in out
    assert (one.external_id, one.placed_at) == ("RK-1001", datetime(2025, 5, 1, 0, 12, tzinfo=UTC))
    assert (two.external_id, two.placed_at) == ("RK-1002", datetime(2025, 5, 2, 9, 30, tzinfo=UTC))
    assert {(line.sku, line.quantity, line.unit_price) for line in one.lines.all()} == {
        ("TEE-RED-M", 2, D("2980")),
        ("TEA-MATCHA-100", 1, D("1500")),
    }
    # 10 % of 5960 and 8 % of 1500, each rounded down once per rate (tax included).
    assert (one.total, one.tax_total, one.shipping_total) == (D("7460"), D("652"), D("0"))
    assert (two.total, two.tax_total, two.shipping_total) == (D("4050"), D("368"), D("550"))
    for order in (one, two):
        assert (order.payment_method, order.payment_status, order.status) == (
            "marketplace",
            "paid",
            "unfulfilled",
        )
        assert order.paid_total == order.total
        assert order.customer is not None
        (fulfilment,) = order.fulfilments.all()
        assert (fulfilment.location, fulfilment.carrier, fulfilment.state) == (
            omni.warehouse,
            omni.yamato_carrier,
            Fulfilment.State.PENDING,
        )
        assert events("order.placed", order.pk) == events("order.paid", order.pk) == 1
        assert order.payments.get().status == Payment.Status.CAPTURED
        assert order.cart.state == Cart.State.COMPLETED
    assert one.email == "sakura@example.jp" and one.customer.email == "sakura@example.jp"
    assert two.shipping_address["first_name"] == "Kenji" and two.phone == "090-8765-4321"
    reserved = StockMovement.objects.filter(reason="reservation", reference=one.reference)
    assert reserved.aggregate(units=Sum("allocated_delta"))["units"] == 3
    assert allocated(omni, "TEE-RED-M") == 2 and allocated(omni, "SKN-LOT-150") == 1

    # When the same file comes again, and RK-1002 is placed by another import between this
    # import's look-up and its write (the unique constraint decides)
    real = marketplace._imported_as
    looked: list[str] = []

    def racing(channel: Channel, external_id: str) -> str | None:
        looked.append(external_id)
        if looked == ["RK-1001", "RK-1002"]:
            return None
        return real(channel, external_id)

    monkeypatch.setattr(marketplace, "_imported_as", racing)
    out, err, error = run("import_orders", str(path), "--channel", "rakuten-jp")

    # Then both are skipped, and nothing more exists
    assert error is None and err == ""
    assert looked == ["RK-1001", "RK-1002", "RK-1002"]
    assert f"skipped: RK-1001, already imported as order {one.number}" in out
    assert f"skipped: RK-1002, already imported as order {two.number}" in out
    assert "0 created, 2 already imported (skipped)" in out
    assert Order.objects.filter(channel=rakuten).count() == 2
    assert Cart.objects.filter(channel=rakuten).count() == 2
    assert Payment.objects.filter(method="marketplace").count() == 2
    assert OutboxEvent.objects.filter(type="order.placed").count() == 2
    assert allocated(omni, "TEE-RED-M") == 2 and allocated(omni, "SKN-LOT-150") == 1


def test_import_orders_reports_bad_orders_by_row_and_places_the_good_one(
    omni: Omni, rakuten: Channel, tmp_path: Path
) -> None:
    # Given a good order (line 2), one with an unknown SKU (line 4), one the warehouse has not
    # enough for (line 5: 60 sweaters, 50 in stock) and one with bad values (line 6)
    path = tmp_path / "rakuten.csv"
    path.write_text(
        HEADER + "RK-2001,2025-05-01T10:00:00+09:00,aiko@example.jp,,Aiko,Mori,106-0032,Tokyo,"
        "Minato-ku,1-1 Roppongi,,JP,TEE-BLUE-M,1,3280,0\n"
        "RK-2002,2025-05-01T10:05:00+09:00,ben@example.jp,,Ben,Ito,106-0045,Tokyo,Minato-ku,"
        "2-2 Azabu,,JP,TEE-RED-M,1,2980,0\n"
        "RK-2002,2025-05-01T10:05:00+09:00,ben@example.jp,,Ben,Ito,106-0045,Tokyo,Minato-ku,"
        "2-2 Azabu,,JP,NO-SUCH-SKU,1,1000,0\n"
        "RK-2003,2025-05-01T10:10:00+09:00,chie@example.jp,,Chie,Abe,107-0052,Tokyo,Minato-ku,"
        "3-3 Akasaka,,JP,SWT-GREEN-L,60,12800,0\n"
        "RK-2004,2025-05-01T10:15:00+09:00,dai@example.jp,,Dai,Oda,107-0052,Tokyo,Minato-ku,,,"
        "JP,TEE-RED-M,0,29.5,0\n",
        encoding="utf-8",
    )

    # When it is imported
    out, err, error = run("import_orders", str(path), "--channel", "rakuten-jp")

    # Then every bad order is named with its row and field, and the command fails
    assert error is not None
    assert err.splitlines() == [
        "error: line 4 [RK-2002]: sku: There is no SKU NO-SUCH-SKU.",
        "error: line 5 [RK-2003]: quantity: Only 50 of SKU SWT-GREEN-L are available; 60 were "
        "requested.",
        "error: line 6 [RK-2004]: line1: This field is required. quantity: Must be between 1 "
        "and 999, not 0. unit_price: 29.5 has more decimals than JPY has.",
    ]
    assert "4 orders read: 1 created, 0 already imported (skipped), 3 with errors" in out
    # And the good order is placed, while the bad ones leave nothing behind
    (order,) = Order.objects.filter(channel=rakuten)
    assert (order.external_id, order.payment_status) == ("RK-2001", "paid")
    assert Cart.objects.filter(channel=rakuten).count() == 1
    assert Payment.objects.filter(method="marketplace").count() == 1
    assert OutboxEvent.objects.filter(type="order.placed").count() == 1
    assert not Customer.objects.filter(email__in=["ben@example.jp", "chie@example.jp"]).exists()
    assert allocated(omni, "SWT-GREEN-L") == 0 and allocated(omni, "TEE-RED-M") == 0
    assert allocated(omni, "TEE-BLUE-M") == 1


def test_import_orders_json(omni: Omni, rakuten: Channel, tmp_path: Path) -> None:
    # Given a JSON export: a good order with a nested address, and one in dollars with an
    # unknown address field and a quantity in words
    path = tmp_path / "rakuten.json"
    path.write_text(
        json.dumps(
            [
                {
                    "marketplace_order_id": "RK-3001",
                    "placed_at": "2025-05-03T08:00:00+09:00",
                    "email": "emi@example.jp",
                    "first_name": "Emi",
                    "last_name": "Kato",
                    "shipping_address": {
                        "postal_code": "150-0001",
                        "region": "Tokyo",
                        "city": "Shibuya-ku",
                        "line1": "4-5-6 Jingumae",
                        "country": "jp",
                    },
                    "shipping_total": 800,
                    "lines": [{"sku": "TEE-RED-M", "quantity": 1, "unit_price": 2980}],
                },
                {
                    "marketplace_order_id": "RK-3002",
                    "placed_at": "2025-05-03T09:00:00+09:00",
                    "email": "fumi@example.jp",
                    "currency": "USD",
                    "shipping_address": {"line1": "1-1 Chuo", "country": "JP", "floor": "3"},
                    "lines": [{"sku": "TEE-RED-M", "quantity": "two", "unit_price": 19.99}],
                },
            ]
        ),
        encoding="utf-8",
    )

    # When it is imported (the format from the extension)
    out, err, error = run("import_orders", str(path), "--channel", "rakuten-jp")

    # Then the good order is placed and the other reported by order and line
    assert error is not None
    assert "2 orders read: 1 created, 0 already imported (skipped), 1 with errors" in out
    assert err.splitlines() == [
        "error: order 2 [RK-3002]: floor: Unknown field. currency: The order is in USD; "
        "channel rakuten-jp sells in JPY.",
        "error: order 2, line 1 [RK-3002]: quantity: Must be a whole number, not two. "
        "unit_price: 19.99 has more decimals than JPY has.",
    ]
    (order,) = Order.objects.filter(channel=rakuten)
    assert (order.external_id, order.total, order.payment_status) == ("RK-3001", D("3780"), "paid")
    assert order.shipping_address == {
        "first_name": "Emi",
        "last_name": "Kato",
        "first_name_reading": "",
        "last_name_reading": "",
        "company": "",
        "line1": "4-5-6 Jingumae",
        "line2": "",
        "city": "Shibuya-ku",
        "region": "Tokyo",
        "postal_code": "150-0001",
        "country": "JP",
        "phone": "",
    }
    assert order.fulfilments.get().location == omni.warehouse


def test_import_tracking_records_each_update_once_and_delivers(omni: Omni, tmp_path: Path) -> None:
    # Given a parcel shipped with Yamato
    order = web_order(omni, [("TEE-RED-M", 1)])
    fulfilment = services.fulfilment_ship(
        order.fulfilments.get(), carrier="yamato", tracking_number="YMT-0001"
    )
    # (on the morning the carrier's file speaks of)
    Fulfilment.objects.filter(pk=fulfilment.pk).update(
        shipped_at=datetime(2025, 5, 1, 23, 0, tzinfo=UTC)
    )
    # And a carrier's file: a repeated update (line 4), an unknown parcel (line 5), an unknown
    # status (line 6), a local time without offset (line 3)
    path = tmp_path / "yamato.csv"
    path.write_text(
        "tracking_number,carrier,status,occurred_at,description,place\n"
        "YMT-0001,yamato,in_transit,2025-05-02T09:00:00+09:00,Left the depot,Tokyo\n"
        "YMT-0001,yamato,Delivered,2025-05-02 15:30,Delivered to the door,Shibuya\n"
        "YMT-0001,yamato,in_transit,2025-05-02T09:00:00+09:00,Left the depot,Tokyo\n"
        "NOPE-404,yamato,in_transit,2025-05-02T09:00:00+09:00,,\n"
        "YMT-0001,yamato,teleported,2025-05-02T16:00:00+09:00,,\n",
        encoding="utf-8",
    )

    # When it is imported twice
    first = run(
        "import_tracking", str(path), "--source", "yamato-feed", "--time-zone", "Asia/Tokyo"
    )
    again = run(
        "import_tracking", str(path), "--source", "yamato-feed", "--time-zone", "Asia/Tokyo"
    )

    # Then each row is reported, and the good ones are recorded once
    out, err, error = first
    assert error is not None
    assert "5 rows read: 2 recorded, 1 already recorded (duplicates), 2 with errors." in out
    assert err.splitlines() == [
        "error: line 5: No shipped parcel has tracking number NOPE-404.",
        "error: line 6: status: Unknown status teleported; use one of info, in_transit, "
        "out_for_delivery, delivered, exception, returned.",
    ]
    assert "5 rows read: 0 recorded, 3 already recorded (duplicates), 2 with errors." in again[0]
    assert list(
        TrackingEvent.objects.filter(fulfilment=fulfilment)
        .order_by("occurred_at")
        .values_list("status", "place", "source")
    ) == [("in_transit", "Tokyo", "yamato-feed"), ("delivered", "Shibuya", "yamato-feed")]
    # And the parcel is delivered at the carrier's time, announced once
    fulfilment.refresh_from_db()
    assert fulfilment.state == Fulfilment.State.DELIVERED
    assert fulfilment.delivered_at == datetime(2025, 5, 2, 6, 30, tzinfo=UTC)
    assert events("fulfilment.delivered", fulfilment.pk) == 1
