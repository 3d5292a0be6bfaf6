"""Local-time waits across DST changes, and a whole history delivered twice."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from automation.models import ActionExecution, Message, RuleRun
from automation.rules.engine import on_event, wait_due
from automation.rules.library import install
from catalog.models import PriceChange, ProductVariant
from catalog.services import competitor_price_record
from commerce.models import OutboxEvent
from inventory.models import PurchaseOrderLine, Stock, Supplier, SupplierItem
from inventory.services import stock_adjust
from orders.models import DiscountCode

from .conftest import deliver, make_rule, web_order

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("now", "zone", "expected_local"),
    [
        # The evening before the spring-forward night in New York (EST → EDT on 8 March 2026).
        (
            datetime(2026, 3, 7, 23, 0, tzinfo=NEW_YORK),
            NEW_YORK,
            datetime(2026, 3, 8, 9, 0, tzinfo=NEW_YORK),
        ),
        # The evening before the fall-back night (EDT → EST on 1 November 2026).
        (
            datetime(2026, 10, 31, 23, 0, tzinfo=NEW_YORK),
            NEW_YORK,
            datetime(2026, 11, 1, 9, 0, tzinfo=NEW_YORK),
        ),
        # Tokyo has no DST: 09:00 is always 00:00 UTC.
        (
            datetime(2026, 3, 7, 23, 0, tzinfo=TOKYO),
            TOKYO,
            datetime(2026, 3, 8, 9, 0, tzinfo=TOKYO),
        ),
    ],
)
def test_wait_until_nine_is_nine_local_on_the_far_side_of_a_dst_change(now, zone, expected_local):
    due = wait_due({"until_local": "09:00", "weekdays": []}, now.astimezone(UTC), zone)
    assert due.astimezone(zone).replace(tzinfo=None) == expected_local.replace(tzinfo=None)
    assert due == expected_local.astimezone(UTC)


def test_wait_until_a_time_inside_the_spring_forward_gap_fires_at_the_first_instant_after():
    now = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK).astimezone(UTC)
    due = wait_due({"until_local": "02:30", "weekdays": []}, now, NEW_YORK)
    assert due.astimezone(NEW_YORK).hour == 3 and due.astimezone(NEW_YORK).day == 8
    assert due > now


def test_wait_until_a_weekday():
    friday = datetime(2026, 12, 4, 12, 0, tzinfo=TOKYO).astimezone(UTC)
    due = wait_due({"until_local": "10:00", "weekdays": ["mon"]}, friday, TOKYO)
    assert due.astimezone(TOKYO) == datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)


def test_every_event_delivered_twice_gives_no_duplicate_message_code_order_or_price(omni):
    from orders.models import Discount

    Discount.objects.create(name="Thanks", kind=Discount.Kind.PERCENTAGE, value=Decimal(5))
    make_rule(
        "Thank",
        "order.placed",
        "issue_code discount=Thanks\nsend_message kind=campaign text=Thanks",
        extra={"subject": "order"},
    )
    make_rule(
        "Reprice",
        "price.competitor_changed",
        "adjust_price floor_margin=10",
        extra={"subject": "variant"},
    )
    install("sold_out", status="active")
    lotion = ProductVariant.objects.get(sku="SKN-LOT-150")
    supplier = Supplier.objects.create(code="kome", name="Kome")
    SupplierItem.objects.create(supplier=supplier, variant=lotion, cost=Decimal(1000))
    web_order(omni, [("TEE-RED-M", 1)])
    web_order(omni, [("TEE-RED-M", 2)])
    competitor_price_record(
        variant=lotion, channel=omni.yamato.channel, competitor="rival", price="3000"
    )
    stock = Stock.objects.get(variant=lotion, location__code="tokyo-wh")
    stock_adjust(
        variant_id=lotion.pk, location_id=stock.location_id, delta=-stock.on_hand, note="count"
    )
    deliver()

    def effects():
        return (
            Message.objects.count(),
            DiscountCode.objects.count(),
            PurchaseOrderLine.objects.count(),
            PriceChange.objects.filter(source="automation").count(),
            RuleRun.objects.count(),
            ActionExecution.objects.count(),
        )

    before = effects()
    assert before[1] == 2 and before[2] == 1 and before[3] == 1
    for event in OutboxEvent.objects.order_by("id"):
        on_event(event)  # the consumer again, as a redelivery past the receipt would
    deliver()
    assert effects() == before


def test_wait_until_a_date_in_the_recipients_zone_and_a_past_date_does_not_wait():
    now = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    assert wait_due({"until_date": "2026-12-24", "at": "09:00"}, now, TOKYO) == datetime(
        2026, 12, 24, 9, 0, tzinfo=TOKYO
    )
    assert wait_due({"until_date": "2026-01-01", "at": "00:00"}, now, TOKYO) == now


def test_wait_lines_parse_and_bad_dates_are_refused():
    from automation.rules.definition import DefinitionError, parse_step

    assert parse_step("wait until 2026-12-24 09:00") == {
        "wait": {"until_date": "2026-12-24", "at": "09:00"}
    }
    assert parse_step("wait until 09:00 on mon,fri") == {
        "wait": {"until_local": "09:00", "weekdays": ["mon", "fri"]}
    }
    assert parse_step("wait for order.paid timeout 24h or stop") == {
        "wait": {"event": "order.paid", "timeout_minutes": 1440, "on_timeout": "stop"}
    }
    with pytest.raises(DefinitionError, match="not a date"):
        parse_step("wait until 2026-02-30")
