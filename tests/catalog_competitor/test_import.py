"""The competitor price feed in bulk: the service, the CSV reader and the command. All or
nothing, with every bad row named by line, field and reason."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog import services
from catalog.errors import CompetitorPricesInvalid, RowError
from catalog.models import CompetitorPrice
from commerce.models import OutboxEvent
from tests.catalog_competitor.conftest import COMPETITOR_CHANGED, events_of

pytestmark = pytest.mark.django_db

GOOD = """sku,competitor,price,observed_at
TEE-RED-M,amazon-jp,2780,2025-04-01T09:30:00+09:00
TEE-BLUE-M,amazon-jp,3180,2025-04-01T09:30:00+09:00
TEE-RED-M,rakuten,2850,2025-04-01T10:00:00
TEE-RED-M,amazon-jp,2780,2025-04-02T09:30:00+09:00
"""


def write(tmp_path: Path, text: str, name: str = "feed.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(path: str, *args: str) -> str:
    out = io.StringIO()
    call_command("import_competitor_prices", path, *args, stdout=out)
    return out.getvalue()


def observation(sku="TEE-RED-M", competitor="amazon-jp", price="2780", observed_at="2025-04-01"):
    return {"sku": sku, "competitor": competitor, "price": price, "observed_at": observed_at}


# --- The service ------------------------------------------------------------------------------


def test_competitor_prices_import_applies_rows_in_the_order_observed(catalogue, web_jp):
    rows = [
        observation(price="2780", observed_at="2025-04-01"),
        observation(price="2680", observed_at="2025-04-03"),
        observation(price="2680", observed_at="2025-04-02"),
    ]

    result = services.competitor_prices_import(rows=rows, channel=web_jp)

    assert (result.rows, result.recorded, result.duplicates, result.changes) == (3, 3, 0, 2)
    assert result.written is True
    # A date alone is its midnight in the channel's time zone (Tokyo, UTC+9).
    assert [
        (
            e.payload["observed_at"],
            e.payload["previous_competitor_price"],
            e.payload["competitor_price"],
        )
        for e in events_of(COMPETITOR_CHANGED)
    ] == [
        ("2025-03-31T15:00:00+00:00", None, "2780"),
        ("2025-04-01T15:00:00+00:00", "2780", "2680"),
    ]
    assert [o.price for o in result.observations] == [
        Decimal("2780"),
        Decimal("2680"),
        Decimal("2680"),
    ]
    assert CompetitorPrice.objects.count() == 3


def test_competitor_prices_import_a_repeated_batch_records_nothing_twice(catalogue, web_jp):
    rows = [observation(price="2780"), observation(sku="TEE-BLUE-M", price="3180")]
    services.competitor_prices_import(rows=rows, channel=web_jp)

    again = services.competitor_prices_import(rows=rows, channel=web_jp)

    assert (again.recorded, again.duplicates, again.changes) == (0, 2, 0)
    assert CompetitorPrice.objects.count() == 2
    assert len(events_of(COMPETITOR_CHANGED)) == 2


def test_competitor_prices_import_one_bad_row_records_nothing_and_names_every_problem(
    catalogue, web_jp
):
    events = OutboxEvent.objects.count()
    rows = [
        observation(),
        observation(sku="NOPE-1"),
        observation(sku="TEE-BLUE-M", price="31.80", observed_at="2025-13-01"),
        observation(competitor=""),
    ]

    with pytest.raises(CompetitorPricesInvalid) as raised:
        services.competitor_prices_import(rows=rows, channel=web_jp, row_numbers=[2, 3, 4, 6])

    assert raised.value.row_errors == [
        RowError(3, "NOPE-1", "sku", "There is no variant with SKU NOPE-1."),
        RowError(4, "TEE-BLUE-M", "price", "31.80 has more decimals than JPY allows."),
        RowError(
            4,
            "TEE-BLUE-M",
            "observed_at",
            "2025-13-01 is not an ISO 8601 date and time, like 2025-04-01T09:30:00+09:00.",
        ),
        RowError(6, "TEE-RED-M", "competitor", "A competitor is required."),
    ]
    assert str(raised.value.detail) == "3 bad row(s); no competitor price was recorded."
    assert CompetitorPrice.objects.count() == 0
    assert OutboxEvent.objects.count() == events


def test_competitor_prices_import_refuses_the_same_observation_twice_in_a_batch(catalogue, web_jp):
    rows = [observation(price="2780"), observation(competitor="Amazon-JP", price="2700")]

    with pytest.raises(CompetitorPricesInvalid) as raised:
        services.competitor_prices_import(rows=rows, channel=web_jp)

    assert [str(e) for e in raised.value.row_errors] == [
        "line 2 (TEE-RED-M), observed_at: The same SKU, competitor and observed_at as line 1."
    ]
    assert CompetitorPrice.objects.count() == 0


def test_competitor_prices_import_dry_run_checks_and_writes_nothing(catalogue, web_jp):
    result = services.competitor_prices_import(rows=[observation()], channel=web_jp, dry_run=True)

    assert (result.rows, result.recorded, result.written) == (1, 0, False)
    assert CompetitorPrice.objects.count() == 0
    assert events_of(COMPETITOR_CHANGED) == []


# --- The command ------------------------------------------------------------------------------


def test_import_competitor_prices_command_records_a_good_file(tmp_path, catalogue, web_jp):
    output = run(write(tmp_path, GOOD), "--channel", "web-jp")

    assert output.strip() == (
        "4 rows read: 4 observations recorded, 0 already known, 3 price changes published. Written."
    )
    stored = list(
        CompetitorPrice.objects.order_by("observed_at", "id").values_list(
            "variant__sku", "competitor", "price", "currency", "observed_at", "channel__code"
        )
    )
    assert [(sku, competitor, price) for sku, competitor, price, *_rest in stored] == [
        ("TEE-RED-M", "amazon-jp", Decimal("2780.000")),
        ("TEE-BLUE-M", "amazon-jp", Decimal("3180.000")),
        ("TEE-RED-M", "rakuten", Decimal("2850.000")),
        ("TEE-RED-M", "amazon-jp", Decimal("2780.000")),
    ]
    assert {row[3] for row in stored} == {"JPY"}
    assert {row[5] for row in stored} == {"web-jp"}
    # 10:00 without an offset is Tokyo time.
    assert stored[2][4].isoformat() == "2025-04-01T01:00:00+00:00"
    assert [e.payload["sku"] for e in events_of(COMPETITOR_CHANGED)] == [
        "TEE-RED-M",
        "TEE-BLUE-M",
        "TEE-RED-M",
    ]


def test_import_competitor_prices_command_observed_at_column_is_optional(
    tmp_path, catalogue, web_us
):
    run(write(tmp_path, "sku,competitor,price\nTEE-RED-M,amazon-us,18.49\n"), "--channel", "web-us")

    stored = CompetitorPrice.objects.get()
    assert (stored.price, stored.currency, stored.competitor) == (
        Decimal("18.490"),
        "USD",
        "amazon-us",
    )


def test_import_competitor_prices_command_a_bad_row_fails_naming_it_and_records_nothing(
    tmp_path, catalogue
):
    text = (
        "sku,competitor,price,observed_at\n"
        "TEE-RED-M,amazon-jp,2780,\n"
        "NOPE-1,amazon-jp,2780,\n"
        "TEE-BLUE-M,amazon-jp,abc,2025-04-01\n"
        "TEE-BLUE-M,rakuten,3000,yesterday\n"
        "TEE-RED-M,rakuten,3000\n"
    )
    events = OutboxEvent.objects.count()

    with pytest.raises(CommandError) as raised:
        run(write(tmp_path, text), "--channel", "web-jp")

    assert str(raised.value).splitlines() == [
        "line 3 (NOPE-1), sku: There is no variant with SKU NOPE-1.",
        "line 4 (TEE-BLUE-M), price: abc is not a number.",
        "line 5 (TEE-BLUE-M), observed_at: yesterday is not an ISO 8601 date and time, like "
        "2025-04-01T09:30:00+09:00.",
        "line 6 (TEE-RED-M): The row has 3 cells; the header has 4 columns.",
        "4 bad row(s); no competitor price was recorded.",
    ]
    assert CompetitorPrice.objects.count() == 0
    assert OutboxEvent.objects.count() == events


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("sku,competitor", "line 1, price: Missing column price."),
        ("sku,price,observed_at", "line 1, competitor: Missing column competitor."),
        ("sku,competitor,price,seen", "line 1, seen: Unknown column seen."),
    ],
)
def test_import_competitor_prices_command_refuses_a_bad_header(
    tmp_path, catalogue, header, message
):
    with pytest.raises(CommandError) as raised:
        run(write(tmp_path, f"{header}\nTEE-RED-M,amazon-jp\n"), "--channel", "web-jp")

    assert str(raised.value).splitlines()[0] == message
    assert CompetitorPrice.objects.count() == 0


def test_import_competitor_prices_command_dry_run_records_nothing(tmp_path, catalogue):
    output = run(write(tmp_path, GOOD), "--channel", "web-jp", "--dry-run")

    assert output.strip().endswith("Nothing was written.")
    assert CompetitorPrice.objects.count() == 0


def test_import_competitor_prices_command_unknown_channel_or_file(tmp_path, catalogue):
    with pytest.raises(CommandError, match=r"^There is no channel web-xx\.$"):
        run(write(tmp_path, GOOD), "--channel", "web-xx")
    with pytest.raises(CommandError, match=r"^No such file: "):
        run(str(tmp_path / "missing.csv"), "--channel", "web-jp")
