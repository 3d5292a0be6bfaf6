"""The back office of the competitor feed and the price log: read-only lists at a fixed cost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import services
from catalog.models import PriceChange
from tests.catalog_competitor.conftest import MORNING
from tests.factories import ProductVariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

COMPETITOR_PRICES = "/admin/catalog/competitorprice/"
PRICE_CHANGES = "/admin/catalog/pricechange/"


def observe(variant, channel, price, competitor="amazon-jp", at=MORNING):
    return services.competitor_price_record(
        variant=variant, channel=channel, competitor=competitor, price=price, observed_at=at
    )


def test_admin_competitor_prices_search_by_sku_and_filter_by_competitor(
    superuser_client, catalogue, tee_red, web_jp
):
    observe(tee_red, web_jp, "2780")
    observe(tee_red, web_jp, "2880", competitor="rakuten")
    observe(catalogue.tee_blue, web_jp, "3180")

    by_sku = superuser_client.get(COMPETITOR_PRICES, {"q": "TEE-BLUE-M"})
    by_competitor = superuser_client.get(COMPETITOR_PRICES, {"competitor": "rakuten"})

    assert by_sku.status_code == 200
    assert [o.variant.sku for o in by_sku.context["cl"].result_list] == ["TEE-BLUE-M"]
    assert [o.price for o in by_competitor.context["cl"].result_list] == [2880]
    assert "2880 JPY" in by_competitor.content.decode()


def test_admin_competitor_prices_and_price_changes_are_read_only(superuser_client, tee_red, web_jp):
    observation = observe(tee_red, web_jp, "2780")
    change = PriceChange.objects.filter(variant=tee_red).first()

    pages = [
        superuser_client.get(f"{COMPETITOR_PRICES}add/"),
        superuser_client.post(f"{COMPETITOR_PRICES}{observation.pk}/change/", {"price": "1"}),
        superuser_client.post(f"{COMPETITOR_PRICES}{observation.pk}/delete/", {"post": "yes"}),
        superuser_client.get(f"{PRICE_CHANGES}add/"),
        superuser_client.post(f"{PRICE_CHANGES}{change.pk}/delete/", {"post": "yes"}),
    ]

    assert [page.status_code for page in pages] == [403, 403, 403, 403, 403]
    observation.refresh_from_db()
    assert observation.price == 2780
    assert PriceChange.objects.filter(pk=change.pk).exists()


@pytest.mark.parametrize("path", [COMPETITOR_PRICES, PRICE_CHANGES])
def test_admin_competitor_and_price_log_lists_cost_the_same_for_more_rows(
    superuser_client, catalogue, web_jp, path
):
    def add_rows(count: int, start: int) -> None:
        for n in range(start, start + count):
            variant = ProductVariantFactory(product=catalogue.tee, sku=f"TEE-{n:03d}")
            services.variant_price_set(
                variant=variant, channel=web_jp, price="2000", reference=f"run {n}"
            )
            observe(variant, web_jp, "1900", at=MORNING + timedelta(minutes=n))

    add_rows(3, 0)
    with CaptureQueriesContext(connection) as few:
        assert superuser_client.get(path).status_code == 200
    add_rows(20, 3)
    with CaptureQueriesContext(connection) as many:
        response = superuser_client.get(path)

    assert response.status_code == 200
    assert len(many) == len(few)
