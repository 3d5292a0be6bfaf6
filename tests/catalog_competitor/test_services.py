"""Recording competitor prices, and the price log `variant_price_set` writes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import services
from catalog.errors import InvalidCatalogData
from catalog.models import CompetitorPrice, PriceChange
from catalog.selectors import competitor_price_latest
from tests.catalog_competitor.conftest import COMPETITOR_CHANGED, MORNING, PRICE_CHANGED, events_of
from tests.factories import ProductVariantFactory, StaffFactory

pytestmark = pytest.mark.django_db


def record(variant, channel, price, *, competitor="amazon-jp", at=MORNING):
    return services.competitor_price_record(
        variant=variant, channel=channel, competitor=competitor, price=price, observed_at=at
    )


# --- competitor_price_record ---------------------------------------------------------------


def test_competitor_price_record_first_observation_publishes_with_previous_null(tee_red, web_jp):
    observation = record(tee_red, web_jp, "2780")

    observation.refresh_from_db()
    assert (observation.variant, observation.channel, observation.competitor) == (
        tee_red,
        web_jp,
        "amazon-jp",
    )
    assert (observation.price, observation.currency, observation.observed_at) == (
        Decimal("2780.000"),
        "JPY",
        MORNING,
    )
    [event] = events_of(COMPETITOR_CHANGED)
    assert (event.subject_type, event.subject_id) == ("variant", str(tee_red.pk))
    assert event.payload == {
        "variant_id": tee_red.pk,
        "sku": "TEE-RED-M",
        "channel": "web-jp",
        "currency": "JPY",
        "competitor": "amazon-jp",
        "competitor_price": "2780",
        "previous_competitor_price": None,
        "our_price": "2980",
        "observed_at": "2025-04-01T00:30:00+00:00",
    }


def test_competitor_price_record_publishes_only_when_the_price_changes(tee_red, web_jp):
    record(tee_red, web_jp, "2780", at=MORNING)

    record(tee_red, web_jp, "2780", at=MORNING + timedelta(hours=1))
    record(tee_red, web_jp, "2780.000", at=MORNING + timedelta(hours=2))
    record(tee_red, web_jp, "2680", at=MORNING + timedelta(hours=3))

    assert CompetitorPrice.objects.filter(variant=tee_red).count() == 4
    events = events_of(COMPETITOR_CHANGED)
    assert [
        (e.payload["previous_competitor_price"], e.payload["competitor_price"]) for e in events
    ] == [
        (None, "2780"),
        ("2780", "2680"),
    ]


def test_competitor_price_record_compares_with_the_same_competitor_and_channel_only(
    tee_red, web_jp, web_us
):
    record(tee_red, web_jp, "2780", competitor="amazon-jp")

    record(tee_red, web_jp, "2780", competitor="rakuten", at=MORNING + timedelta(hours=1))
    record(tee_red, web_us, "18.50", competitor="amazon-jp", at=MORNING + timedelta(hours=1))

    events = events_of(COMPETITOR_CHANGED)
    assert [
        (e.payload["channel"], e.payload["competitor"], e.payload["previous_competitor_price"])
        for e in events
    ] == [("web-jp", "amazon-jp", None), ("web-jp", "rakuten", None), ("web-us", "amazon-jp", None)]
    assert events[2].payload["our_price"] == "19.99"
    assert events[2].payload["competitor_price"] == "18.50"


def test_competitor_price_record_an_older_observation_is_history_without_an_event(tee_red, web_jp):
    record(tee_red, web_jp, "2780", at=MORNING)

    late = record(tee_red, web_jp, "2500", at=MORNING - timedelta(days=1))

    assert late.pk is not None
    assert len(events_of(COMPETITOR_CHANGED)) == 1
    assert competitor_price_latest(variant_id=tee_red.pk, channel_id=web_jp.pk)[
        "amazon-jp"
    ].price == Decimal("2780.000")


def test_competitor_price_record_the_same_observation_twice_is_stored_once(tee_red, web_jp):
    first = record(tee_red, web_jp, "2780")

    again = record(tee_red, web_jp, "2780")

    assert again.pk == first.pk
    assert CompetitorPrice.objects.count() == 1
    assert len(events_of(COMPETITOR_CHANGED)) == 1


def test_competitor_price_record_our_price_is_null_where_the_variant_is_not_sold(web_jp, db):
    unpriced = ProductVariantFactory(sku="NEW-1")

    record(unpriced, web_jp, "1000")

    [event] = events_of(COMPETITOR_CHANGED)
    assert event.payload["our_price"] is None


def test_competitor_price_record_defaults_to_now_and_lowercases_the_competitor(tee_red, web_jp):
    before = timezone.now()

    observation = services.competitor_price_record(
        variant=tee_red, channel=web_jp, competitor="  Amazon-JP ", price=2780
    )

    assert observation.competitor == "amazon-jp"
    assert before <= observation.observed_at <= timezone.now()


@pytest.mark.parametrize(
    ("price", "competitor", "observed_at", "errors"),
    [
        ("29.80", "amazon-jp", None, {"price": ["29.80 has more decimals than JPY allows."]}),
        ("abc", "amazon-jp", None, {"price": ["abc is not a number."]}),
        ("0", "amazon-jp", None, {"price": ["A competitor price must be more than zero."]}),
        ("-5", "amazon-jp", None, {"price": ["Must be zero or more."]}),
        ("", "amazon-jp", None, {"price": ["A price is required."]}),
        ("100000000000", "amazon-jp", None, {"price": ["Too large."]}),
        ("2780", "", None, {"competitor": ["A competitor is required."]}),
        (
            "2780",
            "amazon jp",
            None,
            {
                "competitor": [
                    "amazon jp is not a competitor code: use Latin letters, digits, '.', '-' and '_', "
                    "like amazon-jp."
                ]
            },
        ),
        ("2780", "amazon-jp", "tomorrow", {"observed_at": ["Must not be in the future."]}),
    ],
)
def test_competitor_price_record_refuses_bad_input_naming_the_field_and_writes_nothing(
    tee_red, web_jp, price, competitor, observed_at, errors
):
    when = timezone.now() + timedelta(days=1) if observed_at == "tomorrow" else MORNING

    with pytest.raises(InvalidCatalogData) as raised:
        record(tee_red, web_jp, price, competitor=competitor, at=when)

    assert raised.value.errors == errors
    assert CompetitorPrice.objects.count() == 0
    assert events_of(COMPETITOR_CHANGED) == []


def test_competitor_price_record_usd_cents_are_fine_but_not_a_tenth_of_one(tee_red, web_us):
    record(tee_red, web_us, "18.99")

    with pytest.raises(InvalidCatalogData) as raised:
        record(tee_red, web_us, "18.995", at=MORNING + timedelta(hours=1))

    assert raised.value.errors == {"price": ["18.995 has more decimals than USD allows."]}
    assert CompetitorPrice.objects.get().price == Decimal("18.990")


def test_competitor_price_latest_gives_each_competitors_newest_observation(tee_red, web_jp, web_us):
    record(tee_red, web_jp, "2780", competitor="amazon-jp", at=MORNING)
    newest = record(tee_red, web_jp, "2700", competitor="amazon-jp", at=MORNING + timedelta(1))
    rakuten = record(tee_red, web_jp, "2880", competitor="rakuten", at=MORNING)
    record(tee_red, web_us, "18.00", competitor="amazon-jp", at=MORNING + timedelta(2))

    latest = competitor_price_latest(variant_id=tee_red.pk, channel_id=web_jp.pk)

    assert latest == {"amazon-jp": newest, "rakuten": rakuten}


# --- variant_price_set and the price log -----------------------------------------------------


def test_variant_price_set_logs_the_change_with_its_source_reference_and_user(tee_red, web_jp):
    manager = StaffFactory(username="manager")

    services.variant_price_set(
        variant=tee_red,
        channel=web_jp,
        price="2780",
        source="automation",
        reference="rule run 17",
        changed_by=manager,
    )

    change = PriceChange.objects.filter(variant=tee_red, channel=web_jp).first()
    assert (change.previous, change.price, change.currency) == (
        Decimal("2980.000"),
        Decimal("2780.000"),
        "JPY",
    )
    assert (change.source, change.reference, change.changed_by) == (
        "automation",
        "rule run 17",
        manager,
    )
    event = events_of(PRICE_CHANGED)[-1]
    assert event.payload == {
        "variant_id": tee_red.pk,
        "sku": "TEE-RED-M",
        "channel": "web-jp",
        "currency": "JPY",
        "price": "2780",
        "previous": "2980",
        "source": "automation",
        "reference": "rule run 17",
    }


def test_variant_price_set_without_a_source_logs_staff(web_jp, db):
    variant = ProductVariantFactory(sku="NEW-1")

    services.variant_price_set(variant=variant, channel=web_jp, price="1200")

    change = PriceChange.objects.get(variant=variant)
    assert (change.previous, change.price, change.source, change.reference) == (
        None,
        Decimal("1200.000"),
        "staff",
        "",
    )
    assert change.changed_by is None
    assert events_of(PRICE_CHANGED)[-1].payload["source"] == "staff"


def test_variant_price_set_same_price_writes_no_price_change_and_no_event(tee_red, web_jp):
    changes, events = PriceChange.objects.count(), len(events_of(PRICE_CHANGED))

    services.variant_price_set(
        variant=tee_red, channel=web_jp, price="2980.0", compare_at_price="3500", source="api"
    )

    assert PriceChange.objects.count() == changes
    assert len(events_of(PRICE_CHANGED)) == events


@pytest.mark.parametrize(
    ("options", "errors"),
    [
        (
            {"source": "robot"},
            {"source": ["robot is not a price source; use one of staff, import, automation, api."]},
        ),
        ({"reference": "x" * 101}, {"reference": ["Must be at most 100 characters."]}),
    ],
)
def test_variant_price_set_refuses_an_unknown_source_or_a_long_reference(
    tee_red, web_jp, options, errors
):
    changes = PriceChange.objects.count()

    with pytest.raises(InvalidCatalogData) as raised:
        services.variant_price_set(variant=tee_red, channel=web_jp, price="2780", **options)

    assert raised.value.errors == errors
    assert PriceChange.objects.count() == changes
    assert tee_red.channel_listings.get(channel=web_jp).price == Decimal("2980.000")
