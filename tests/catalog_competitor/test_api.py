"""The staff API of the competitor feed: who may call it, what it records, its 400s."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import services
from catalog.models import CompetitorPrice, PriceChange
from tests.catalog_competitor.conftest import COMPETITOR_CHANGED, MORNING, events_of
from tests.factories import ProductVariantFactory, StaffFactory, UserFactory, token_for

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
URL = "/api/v1/staff/competitor-prices/"
FEED = ["catalog.view_competitorprice", "catalog.add_competitorprice"]


@pytest.fixture
def staff_api(api_client) -> APIClient:
    """A pricing integration signed in with a token."""
    feeder = StaffFactory(username="feeder", permissions=FEED)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(feeder)}")
    return api_client


def batch(*observations, channel="web-jp") -> dict:
    return {"channel": channel, "observations": list(observations)}


def seen(sku="TEE-RED-M", competitor="amazon-jp", price="2780", **more) -> dict:
    return {"sku": sku, "competitor": competitor, "price": price, **more}


# --- Who may call -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_competitor_prices_api_anonymous_is_401(api_client, catalogue, method):
    response = getattr(api_client, method)(URL, batch(seen()), format="json")

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_authenticated"
    assert CompetitorPrice.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_competitor_prices_api_customer_is_403_even_with_the_permissions(
    api_client, catalogue, method
):
    customer = UserFactory(permissions=FEED)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(customer)}")

    response = getattr(api_client, method)(URL, batch(seen()), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert CompetitorPrice.objects.count() == 0


def test_competitor_prices_api_staff_who_may_only_view_cannot_record(api_client, catalogue):
    api_client.force_authenticate(StaffFactory(permissions=["catalog.view_competitorprice"]))

    listing = api_client.get(URL)
    creation = api_client.post(URL, batch(seen()), format="json")

    assert listing.status_code == 200
    assert creation.status_code == 403
    assert CompetitorPrice.objects.count() == 0


# --- Recording --------------------------------------------------------------------------------


def test_competitor_prices_api_records_a_batch_and_answers_201(staff_api, catalogue, tee_red):
    response = staff_api.post(
        URL,
        batch(
            seen(observed_at="2025-04-01T09:30:00+09:00"),
            seen(sku="TEE-BLUE-M", competitor="Rakuten", price="3300"),
        ),
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["recorded"], body["duplicates"], body["changes"]) == (2, 0, 2)
    first, second = body["observations"]
    assert first == {
        "id": CompetitorPrice.objects.get(competitor="amazon-jp").pk,
        "sku": "TEE-RED-M",
        "variant_id": tee_red.pk,
        "channel": "web-jp",
        "competitor": "amazon-jp",
        "price": {"amount": "2780", "currency": "JPY"},
        "observed_at": "2025-04-01T00:30:00Z",
        "created_at": first["created_at"],
    }
    assert (second["sku"], second["competitor"], second["price"]) == (
        "TEE-BLUE-M",
        "rakuten",
        {"amount": "3300", "currency": "JPY"},
    )
    assert [e.payload["competitor"] for e in events_of(COMPETITOR_CHANGED)] == [
        "amazon-jp",
        "rakuten",
    ]


def test_competitor_prices_api_a_retried_batch_records_nothing_twice(staff_api, catalogue):
    body = batch(seen(observed_at="2025-04-01T09:30:00+09:00"))
    staff_api.post(URL, body, format="json")

    again = staff_api.post(URL, body, format="json")

    assert again.status_code == 201
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 1)
    assert CompetitorPrice.objects.count() == 1
    assert len(events_of(COMPETITOR_CHANGED)) == 1


def test_competitor_prices_api_bad_rows_are_a_400_naming_each_row_and_nothing_is_recorded(
    staff_api, catalogue
):
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()

    response = staff_api.post(
        URL,
        batch(
            seen(),
            seen(sku="NOPE-1"),
            seen(price="27.80", observed_at=tomorrow),
        ),
        format="json",
    )

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "invalid"
    assert problem["detail"] == "2 bad row(s); no competitor price was recorded."
    assert problem["errors"] == {
        "observations": {
            "1": {"sku": ["There is no variant with SKU NOPE-1."]},
            "2": {
                "price": ["27.80 has more decimals than JPY allows."],
                "observed_at": ["Must not be in the future."],
            },
        }
    }
    assert CompetitorPrice.objects.count() == 0
    assert events_of(COMPETITOR_CHANGED) == []


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            batch(seen(price=None)),
            {"observations": {"0": {"price": ["This field may not be null."]}}},
        ),
        (
            {"observations": [seen()]},
            {"channel": ["This field is required."]},
        ),
        (
            batch(seen(), channel="web-xx"),
            {"channel": ["Object with code=web-xx does not exist."]},
        ),
        (
            batch(),
            {"observations": {"non_field_errors": ["This list may not be empty."]}},
        ),
        (
            batch({"sku": "TEE-RED-M", "price": "2780"}),
            {"observations": {"0": {"competitor": ["This field is required."]}}},
        ),
    ],
)
def test_competitor_prices_api_bad_shape_is_a_400_by_field(staff_api, catalogue, body, errors):
    response = staff_api.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert CompetitorPrice.objects.count() == 0


# --- Reading the latest -----------------------------------------------------------------------


def test_competitor_prices_api_lists_the_latest_of_each_competitor(
    staff_api, catalogue, tee_red, web_jp, web_us
):
    record = services.competitor_price_record
    record(
        variant=tee_red, channel=web_jp, competitor="amazon-jp", price="2780", observed_at=MORNING
    )
    newest = record(
        variant=tee_red,
        channel=web_jp,
        competitor="amazon-jp",
        price="2700",
        observed_at=MORNING + timedelta(hours=1),
    )
    record(variant=tee_red, channel=web_jp, competitor="rakuten", price="2880", observed_at=MORNING)
    record(
        variant=tee_red, channel=web_us, competitor="amazon-us", price="18.5", observed_at=MORNING
    )
    record(
        variant=catalogue.tee_blue,
        channel=web_jp,
        competitor="amazon-jp",
        price="3100",
        observed_at=MORNING,
    )

    response = staff_api.get(URL, {"sku": "TEE-RED-M"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [
        (r["channel"], r["competitor"], r["price"], r["our_price"]) for r in body["results"]
    ] == [
        (
            "web-jp",
            "amazon-jp",
            {"amount": "2700", "currency": "JPY"},
            {"amount": "2980", "currency": "JPY"},
        ),
        (
            "web-jp",
            "rakuten",
            {"amount": "2880", "currency": "JPY"},
            {"amount": "2980", "currency": "JPY"},
        ),
        (
            "web-us",
            "amazon-us",
            {"amount": "18.50", "currency": "USD"},
            {"amount": "19.99", "currency": "USD"},
        ),
    ]
    assert body["results"][0]["id"] == newest.pk

    by_competitor = staff_api.get(URL, {"channel": "web-jp", "competitor": "Amazon-JP"})

    assert [(r["sku"], r["price"]["amount"]) for r in by_competitor.json()["results"]] == [
        ("TEE-BLUE-M", "3100"),
        ("TEE-RED-M", "2700"),
    ]


def test_competitor_prices_api_list_costs_the_same_queries_for_many_rows(
    staff_api, catalogue, web_jp, django_assert_max_num_queries
):
    for n in range(30):
        variant = ProductVariantFactory(product=catalogue.tee, sku=f"TEE-{n:02d}")
        services.competitor_price_record(
            variant=variant,
            channel=web_jp,
            competitor="amazon-jp",
            price="2000",
            observed_at=MORNING,
        )

    # Authentication (token, user, permissions), the count and the page.
    with django_assert_max_num_queries(7):
        response = staff_api.get(URL, {"page_size": 30})

    results = response.json()["results"]
    assert [r["sku"] for r in results] == [f"TEE-{n:02d}" for n in range(30)]
    assert {r["our_price"] is None for r in results} == {True}  # not priced in web-jp


# --- Setting a price through the staff API logs it ------------------------------------------


def test_variant_prices_api_logs_source_api_the_caller_and_the_reference(
    api_client, catalogue, tee_red
):
    manager = StaffFactory(
        username="pricer",
        permissions=["catalog.view_productvariant", "catalog.change_productvariant"],
    )
    api_client.force_authenticate(manager)

    response = api_client.post(
        f"/api/v1/staff/variants/{tee_red.pk}/prices/",
        {"channel": "web-jp", "price": "2780", "reference": "ERP batch 42"},
        format="json",
    )

    assert response.status_code == 200
    change = PriceChange.objects.filter(variant=tee_red).order_by("-id").first()
    assert (change.source, change.reference, change.changed_by, change.price, change.previous) == (
        "api",
        "ERP batch 42",
        manager,
        Decimal("2780.000"),
        Decimal("2980.000"),
    )
