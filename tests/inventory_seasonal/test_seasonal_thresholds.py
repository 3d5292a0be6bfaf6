"""Seasonal low-stock thresholds: which threshold a stock row uses on a given day, and the
signals the ledger publishes with it."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, transaction

from commerce.models import OutboxEvent
from inventory import events as inventory_events
from inventory.errors import InvalidStockOperation
from inventory.models import SeasonalThreshold, Stock
from inventory.selectors import merchant_today, threshold_for, thresholds_for
from inventory.services import seasonal_threshold_save, stock_adjust
from tests.factories import ProductVariantFactory
from tests.inventory.conftest import (
    StockLocationFactory,
    low_stock_threshold_set,
    receive,
    stock_at,
)
from tests.inventory_seasonal.conftest import TOKYO, variant_in

DECEMBER_1 = datetime.date(2026, 12, 1)
DECEMBER_24 = datetime.date(2026, 12, 24)


def season(threshold: int, *, location=None, starts_on=DECEMBER_1, ends_on=DECEMBER_24, **target):
    """A rule through the service, for one variant or one category (`variant=` / `category=`)."""
    return seasonal_threshold_save(
        name="Year-end sale",
        starts_on=starts_on,
        ends_on=ends_on,
        threshold=threshold,
        location=location,
        **target,
    )


def stock_events_of(stock: Stock) -> list[tuple[str, int, int]]:
    """(type, available, threshold) of the stock row's threshold events, oldest first."""
    return [
        (e.type, e.payload["available"], e.payload["threshold"])
        for e in OutboxEvent.objects.filter(
            subject_type="stock",
            subject_id=str(stock.pk),
            type__in=[
                inventory_events.STOCK_LOW,
                inventory_events.STOCK_OUT,
                inventory_events.STOCK_RESTOCKED,
            ],
        ).order_by("pk")
    ]


# --- The date range -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (datetime.date(2026, 11, 30), 5),  # the day before: the variant's policy
        (DECEMBER_1, 20),  # the first day is included
        (datetime.date(2026, 12, 12), 20),
        (DECEMBER_24, 20),  # so is the last
        (datetime.date(2026, 12, 25), 5),
        (datetime.date(2027, 12, 12), 5),  # a rule is for the dates given, not every year
    ],
)
def test_a_seasonal_threshold_applies_only_within_its_dates(tree, tee, warehouse, day, expected):
    low_stock_threshold_set(tee, 5)
    season(20, category=tree.t_shirts)

    assert threshold_for(variant_id=tee.pk, location_id=warehouse.pk, on=day) == expected


def test_the_merchant_time_zone_decides_when_a_season_starts(
    tree, tee, warehouse, merchant_in_tokyo
):
    season(20, category=tree.t_shirts)
    before_midnight_in_tokyo = datetime.datetime(2026, 11, 30, 14, 59, tzinfo=datetime.UTC)
    after_midnight_in_tokyo = datetime.datetime(2026, 11, 30, 15, 0, tzinfo=datetime.UTC)

    assert merchant_today(before_midnight_in_tokyo) == datetime.date(2026, 11, 30)
    assert merchant_today(after_midnight_in_tokyo) == DECEMBER_1
    pair = (tee.pk, warehouse.pk)
    assert thresholds_for(
        variant_ids=[tee.pk],
        location_ids=[warehouse.pk],
        on=merchant_today(before_midnight_in_tokyo),
    ) == {pair: 5}
    assert thresholds_for(
        variant_ids=[tee.pk],
        location_ids=[warehouse.pk],
        on=merchant_today(after_midnight_in_tokyo),
    ) == {pair: 20}


def test_the_ledger_signals_low_at_the_seasonal_threshold_only_in_season(
    tree, tee, warehouse, clock
):
    low_stock_threshold_set(tee, 5)
    season(20, category=tree.t_shirts)
    clock(datetime.date(2026, 11, 29))
    receive(tee, warehouse, 30)
    stock = stock_at(tee, warehouse)

    clock(datetime.date(2026, 11, 30))
    stock_adjust(variant_id=tee.pk, location_id=warehouse.pk, delta=-15, reason="adjustment")
    assert stock_events_of(stock) == [("stock.restocked", 30, 5)]  # 15 > 5: not low yet

    clock(datetime.datetime(2026, 12, 1, 0, 1, tzinfo=TOKYO))
    stock_adjust(variant_id=tee.pk, location_id=warehouse.pk, delta=-1, reason="adjustment")
    assert stock_events_of(stock)[1:] == [("stock.low", 14, 20)]

    clock(datetime.date(2026, 12, 25))
    stock_adjust(variant_id=tee.pk, location_id=warehouse.pk, delta=-1, reason="adjustment")
    # Back to the policy's 5 after the season: 13 is above it again.
    assert stock_events_of(stock)[2:] == [("stock.restocked", 13, 5)]
    assert stock_at(tee, warehouse).signal == Stock.Signal.IN_STOCK


def test_ten_to_zero_one_unit_at_a_time_signals_low_once_and_out_once(tree, tee, warehouse, clock):
    low_stock_threshold_set(tee, 1)  # outside the season this variant would be low at 1
    season(5, variant=tee)
    clock(datetime.date(2026, 12, 10))
    receive(tee, warehouse, 10)
    before = OutboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first()

    for _ in range(10):
        stock_adjust(variant_id=tee.pk, location_id=warehouse.pk, delta=-1, reason="adjustment")

    published = OutboxEvent.objects.filter(pk__gt=before)
    assert published.filter(type=inventory_events.STOCK_LOW).count() == 1
    assert published.filter(type=inventory_events.STOCK_OUT).count() == 1
    assert published.filter(type=inventory_events.STOCK_RESTOCKED).count() == 0
    stock = stock_at(tee, warehouse)
    assert stock_events_of(stock)[1:] == [("stock.low", 5, 5), ("stock.out", 0, 5)]
    assert (stock.on_hand, stock.signal) == (0, Stock.Signal.OUT)


# --- Which rule wins ----------------------------------------------------------------------------


def test_a_variant_rule_beats_a_category_rule(tree, tee, tee_blue, warehouse):
    season(20, category=tree.t_shirts)
    season(8, variant=tee)  # lower than the category's: the variant's rule still wins

    assert thresholds_for(
        variant_ids=[tee.pk, tee_blue.pk], location_ids=[warehouse.pk], on=DECEMBER_1
    ) == {(tee.pk, warehouse.pk): 8, (tee_blue.pk, warehouse.pk): 20}


def test_a_category_rule_covers_its_subcategories_and_nothing_else(
    tree, tee, long_sleeve, mug, warehouse
):
    season(25, category=tree.apparel)
    uncategorised = ProductVariantFactory(sku="GIFT-CARD")

    assert thresholds_for(
        variant_ids=[tee.pk, long_sleeve.pk, mug.pk, uncategorised.pk],
        location_ids=[warehouse.pk],
        on=DECEMBER_1,
    ) == {
        (tee.pk, warehouse.pk): 25,  # apparel > t-shirts
        (long_sleeve.pk, warehouse.pk): 25,  # apparel > t-shirts > long-sleeve
        (mug.pk, warehouse.pk): 5,  # kitchen: the default
        (uncategorised.pk, warehouse.pk): 5,
    }


def test_the_nearest_category_beats_one_further_up(tree, tee, long_sleeve, warehouse):
    season(25, category=tree.apparel)
    season(12, category=tree.t_shirts)

    assert thresholds_for(
        variant_ids=[tee.pk, long_sleeve.pk], location_ids=[warehouse.pk], on=DECEMBER_1
    ) == {(tee.pk, warehouse.pk): 12, (long_sleeve.pk, warehouse.pk): 12}


def test_a_category_rule_follows_a_product_into_another_category(tree, tee, warehouse):
    season(25, category=tree.kitchen)
    assert threshold_for(variant_id=tee.pk, location_id=warehouse.pk, on=DECEMBER_1) == 5

    tee.product.category = tree.kitchen
    tee.product.save(update_fields=["category"])

    assert threshold_for(variant_id=tee.pk, location_id=warehouse.pk, on=DECEMBER_1) == 25


def test_a_rule_for_a_location_beats_one_for_every_location_and_stays_there(
    tree, tee, warehouse, store
):
    season(20, category=tree.t_shirts)
    season(3, category=tree.t_shirts, location=store)
    annex = StockLocationFactory(code="annex")

    assert thresholds_for(
        variant_ids=[tee.pk], location_ids=[warehouse.pk, store.pk, annex.pk], on=DECEMBER_1
    ) == {(tee.pk, warehouse.pk): 20, (tee.pk, store.pk): 3, (tee.pk, annex.pk): 20}


def test_of_two_overlapping_rules_alike_the_higher_threshold_applies(tree, tee, warehouse):
    season(10, category=tree.t_shirts)
    season(15, category=tree.t_shirts, starts_on=datetime.date(2026, 12, 20), ends_on=DECEMBER_24)

    assert threshold_for(variant_id=tee.pk, location_id=warehouse.pk, on=DECEMBER_1) == 10
    assert threshold_for(variant_id=tee.pk, location_id=warehouse.pk, on=DECEMBER_24) == 15


def test_a_stock_row_override_beats_the_seasonal_threshold(tree, tee, warehouse, store):
    low_stock_threshold_set(tee, 5)
    season(20, variant=tee)
    receive(tee, warehouse, 1)
    receive(tee, store, 1)
    Stock.objects.filter(variant=tee, location=store).update(low_stock_threshold=2)

    assert thresholds_for(
        variant_ids=[tee.pk], location_ids=[warehouse.pk, store.pk], on=DECEMBER_1
    ) == {(tee.pk, warehouse.pk): 20, (tee.pk, store.pk): 2}
    assert thresholds_for(
        variant_ids=[tee.pk], location_ids=[warehouse.pk, store.pk], on=datetime.date(2026, 12, 31)
    ) == {(tee.pk, warehouse.pk): 5, (tee.pk, store.pk): 2}


def test_thresholds_for_many_variants_cost_the_same_queries_as_for_one(
    tree, warehouse, store, django_assert_num_queries
):
    variants = [variant_in(tree.long_sleeve, f"LS-{n:02d}") for n in range(30)]
    for variant in variants[:10]:
        receive(variant, warehouse, 3)
        low_stock_threshold_set(variant, 7)
    season(25, category=tree.apparel)
    season(9, variant=variants[0])
    locations = [warehouse.pk, store.pk]

    # The rows' overrides; the rules and the policies (one UNION); the category paths.
    with django_assert_num_queries(3):
        one = thresholds_for(variant_ids=[variants[1].pk], location_ids=locations, on=DECEMBER_1)
    with django_assert_num_queries(3):
        many = thresholds_for(
            variant_ids=[v.pk for v in variants], location_ids=locations, on=DECEMBER_1
        )

    assert one == {(variants[1].pk, warehouse.pk): 25, (variants[1].pk, store.pk): 25}
    assert len(many) == 60
    assert many[(variants[0].pk, store.pk)] == 9
    assert {many[(v.pk, warehouse.pk)] for v in variants[1:]} == {25}


def test_outside_a_season_the_ledger_reads_thresholds_in_one_query(
    tree, tee, warehouse, django_assert_num_queries
):
    from inventory.selectors import stock_thresholds

    season(25, category=tree.apparel)  # in December, not in June
    low_stock_threshold_set(tee, 7)
    stock = receive(tee, warehouse, 3)

    with django_assert_num_queries(1):
        thresholds = stock_thresholds([stock], on=datetime.date(2026, 6, 1))

    assert thresholds == {stock.pk: 7}


# --- Validation ---------------------------------------------------------------------------------

BOTH = "Choose a variant or a category, not both."
NEITHER = "Choose the variant or the category the threshold applies to."


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"ends_on": datetime.date(2026, 11, 30)},
            {"ends_on": ["The end date (2026-11-30) is before the start date (2026-12-01)."]},
        ),
        ({"category": "t_shirts"}, {"variant": [BOTH], "category": [BOTH]}),
        ({"variant": None}, {"variant": [NEITHER], "category": [NEITHER]}),
        ({"threshold": -1}, {"threshold": ["The threshold must be a whole number of 0 or more."]}),
        ({"name": "  "}, {"name": ["Give the threshold a name, e.g. “Year-end sale”."]}),
        (
            {"starts_on": None, "ends_on": datetime.datetime(2026, 12, 24, 12, 0)},
            {
                "starts_on": ["This date is required."],
                "ends_on": ["Give a date, without a time."],
            },
        ),
    ],
)
def test_seasonal_threshold_save_refuses_naming_the_field(tree, tee, changes, errors):
    values = {
        "name": "Year-end sale",
        "starts_on": DECEMBER_1,
        "ends_on": DECEMBER_24,
        "threshold": 20,
        "variant": tee,
    }
    if changes.get("category") == "t_shirts":
        changes = {**changes, "category": tree.t_shirts}

    with pytest.raises(InvalidStockOperation) as refused:
        seasonal_threshold_save(**{**values, **changes})

    assert refused.value.errors == errors
    assert refused.value.code == "invalid"
    assert SeasonalThreshold.objects.count() == 0


def test_a_one_day_rule_is_valid_and_an_edit_changes_the_same_row(tree, tee, warehouse):
    rule = season(20, variant=tee, starts_on=DECEMBER_24, ends_on=DECEMBER_24)

    edited = seasonal_threshold_save(
        seasonal_threshold=rule,
        name=" Christmas Eve ",
        starts_on=DECEMBER_24,
        ends_on=DECEMBER_24,
        threshold=30,
        category=tree.apparel,
        location=warehouse,
    )

    assert edited.pk == rule.pk
    assert list(
        SeasonalThreshold.objects.values_list(
            "name", "threshold", "variant_id", "category_id", "location_id"
        )
    ) == [("Christmas Eve", 30, None, tree.apparel.pk, warehouse.pk)]


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"variant": True, "category": True}, "seasonal_threshold_one_target"),
        ({}, "seasonal_threshold_one_target"),
        ({"variant": True, "ends_on": datetime.date(2026, 11, 1)}, "dates_in_order"),
    ],
)
def test_the_database_refuses_what_the_service_refuses(tree, tee, fields, constraint):
    row = SeasonalThreshold(
        name="Direct",
        starts_on=DECEMBER_1,
        ends_on=fields.get("ends_on", DECEMBER_24),
        threshold=1,
        variant=tee if fields.get("variant") else None,
        category=tree.apparel if fields.get("category") else None,
    )

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        row.save()


# --- The back office ----------------------------------------------------------------------------


def test_the_admin_form_shows_the_service_errors_by_field(
    superuser_client, plain_static_files, tree, tee
):
    url = "/admin/inventory/seasonalthreshold/add/"
    form = {
        "name": "Year-end sale",
        "starts_on": "2026-12-24",
        "ends_on": "2026-12-01",
        "variant": tee.pk,
        "category": tree.t_shirts.pk,
        "location": "",
        "threshold": "20",
    }

    refused = superuser_client.post(url, form)

    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert errors == {
        "ends_on": ["The end date (2026-12-01) is before the start date (2026-12-24)."],
        "variant": [BOTH],
        "category": [BOTH],
    }
    assert SeasonalThreshold.objects.count() == 0

    accepted = superuser_client.post(url, {**form, "ends_on": "2026-12-31", "category": ""})

    assert accepted.status_code == 302
    assert list(
        SeasonalThreshold.objects.values_list(
            "name", "starts_on", "ends_on", "variant_id", "category_id", "threshold"
        )
    ) == [
        (
            "Year-end sale",
            datetime.date(2026, 12, 24),
            datetime.date(2026, 12, 31),
            tee.pk,
            None,
            20,
        )
    ]
    listing = superuser_client.get("/admin/inventory/seasonalthreshold/")
    assert listing.status_code == 200
    assert b"Year-end sale" in listing.content
