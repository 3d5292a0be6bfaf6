"""Inventory through HTTP: availability on the storefront, stock and reservations for staff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services
from inventory.models import Reservation, Stock, StockLocation, StockMovement
from inventory.selectors import stock_reconcile
from tests.factories import (
    StaffFactory,
    UserFactory,
    listed_product,
    token_for,
)

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
STOCK_STAFF = [
    "inventory.view_stock",
    "inventory.change_stock",
    "inventory.view_stockmovement",
    "inventory.view_reservation",
    "inventory.add_reservation",
    "inventory.change_reservation",
]


@pytest.fixture(autouse=True)
def ledger_reconciles():
    yield
    assert stock_reconcile() == []


def location(
    code: str, channels, *, priority: int = 10, online: bool = True, pickup: bool = False
) -> StockLocation:
    place = StockLocation.objects.create(
        code=code,
        name=code.title(),
        kind=StockLocation.Kind.STORE if pickup else StockLocation.Kind.WAREHOUSE,
        routing_priority=priority,
        counts_for_online=online,
        pickup_enabled=pickup,
    )
    place.channels.set(channels)
    return place


def receive(variant, place, units: int) -> None:
    services.stock_adjust(
        variant_id=variant.pk, location_id=place.pk, delta=units, reason="receipt"
    )


@pytest.fixture
def shop(web_jp):
    """A warehouse and a store (pickup, not counted online); a tee in stock, a cap sold out."""
    warehouse = location("wh", [web_jp])
    store = location("store", [web_jp], priority=50, online=False, pickup=True)
    tee = listed_product(web_jp, 2980, name="Tee", slug="tee")
    cap = listed_product(web_jp, 1980, name="Cap", slug="cap")
    tee_variant, cap_variant = tee.variants.get(), cap.variants.get()
    receive(tee_variant, warehouse, 7)
    receive(tee_variant, store, 2)
    receive(cap_variant, store, 3)  # only in the store: not sellable online
    return {
        "channel": web_jp,
        "warehouse": warehouse,
        "store": store,
        "tee": tee_variant,
        "cap": cap_variant,
    }


@pytest.fixture
def staff_api(api_client):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Token {token_for(StaffFactory(username='stock', permissions=STOCK_STAFF))}"
    )
    return api_client


# --- Storefront ------------------------------------------------------------------------------


def test_storefront_product_list_shows_channel_availability(api_client, shop):
    response = api_client.get("/api/v1/channels/web-jp/products/", {"sort": "name"})

    products = {p["slug"]: p for p in response.json()["results"]}
    assert products["tee"]["in_stock"] is True
    assert products["tee"]["variants"][0]["available"] == 7
    assert products["cap"]["in_stock"] is False
    assert products["cap"]["variants"][0]["available"] == 0


@pytest.mark.parametrize(("flag", "slugs"), [("true", ["tee"]), ("false", ["cap"])])
def test_storefront_in_stock_filter(api_client, shop, flag, slugs):
    response = api_client.get("/api/v1/channels/web-jp/products/", {"in_stock": flag})

    assert [p["slug"] for p in response.json()["results"]] == slugs


def test_storefront_availability_counts_unexpired_cart_holds_only(api_client, shop):
    services.stock_reserve(
        channel=shop["channel"], lines=[services.ReserveLine(shop["tee"].pk, 5)], reference="cart:a"
    )
    services.stock_reserve(
        channel=shop["channel"],
        lines=[services.ReserveLine(shop["tee"].pk, 2)],
        reference="cart:b",
        ttl=timedelta(seconds=60),
    )
    Reservation.objects.filter(reference="cart:b").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = api_client.get(
        "/api/v1/channels/web-jp/availability/", {"variant": [shop["tee"].pk, shop["cap"].pk]}
    )

    assert response.status_code == 200
    assert response.json() == [
        {"variant_id": shop["tee"].pk, "available": 2, "in_stock": True},
        {"variant_id": shop["cap"].pk, "available": 0, "in_stock": False},
    ]


def test_storefront_availability_without_variants_is_400(api_client, shop):
    response = api_client.get("/api/v1/channels/web-jp/availability/")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert list(response.json()["errors"]) == ["variant"]


def test_storefront_pickup_locations_show_each_store(api_client, shop):
    response = api_client.get(
        f"/api/v1/channels/web-jp/variants/{shop['cap'].pk}/locations/", {"pickup": "true"}
    )

    assert response.status_code == 200
    assert [
        (row["location"]["code"], row["available"], row["in_stock"]) for row in response.json()
    ] == [("store", 3, True)]


def test_storefront_locations_of_unknown_channel_is_404(api_client, shop):
    response = api_client.get(f"/api/v1/channels/nope/variants/{shop['cap'].pk}/locations/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- Staff -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/staff/stock/"),
        ("post", "/api/v1/staff/stock/adjust/"),
        ("post", "/api/v1/staff/reservations/"),
    ],
)
def test_staff_inventory_refuses_anonymous_and_customers(api_client, method, path):
    assert getattr(api_client, method)(path, {}, format="json").status_code == 401

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(UserFactory(username='buyer'))}")

    assert getattr(api_client, method)(path, {}, format="json").status_code == 403


def test_staff_stock_list_shows_held_and_available(staff_api, shop):
    services.stock_reserve(
        channel=shop["channel"], lines=[services.ReserveLine(shop["tee"].pk, 3)], reference="cart:x"
    )

    response = staff_api.get(
        "/api/v1/staff/stock/", {"variant__sku": shop["tee"].sku, "location__code": "wh"}
    )

    row = response.json()["results"][0]
    assert (row["on_hand"], row["allocated"], row["held"], row["available"]) == (7, 0, 3, 4)


def test_staff_stock_adjust_writes_the_ledger_with_the_actor(staff_api, shop):
    response = staff_api.post(
        "/api/v1/staff/stock/adjust/",
        {
            "sku": shop["tee"].sku,
            "location": "wh",
            "delta": -2,
            "reason": "adjustment",
            "note": "damaged",
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["on_hand"] == 5
    movement = StockMovement.objects.filter(reason="adjustment").get()
    assert (
        movement.on_hand_before,
        movement.on_hand_after,
        movement.note,
        movement.actor.username,
    ) == (7, 5, "damaged", "stock")


def test_staff_stock_adjust_below_zero_is_400_and_changes_nothing(staff_api, shop):
    response = staff_api.post(
        "/api/v1/staff/stock/adjust/",
        {"sku": shop["tee"].sku, "location": "wh", "delta": -8},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["delta"]
    assert Stock.objects.get(variant=shop["tee"], location=shop["warehouse"]).on_hand == 7
    assert not StockMovement.objects.filter(reason="adjustment").exists()


def test_staff_stock_counts_set_levels_all_or_nothing(staff_api, shop):
    bad = staff_api.post(
        "/api/v1/staff/stock/counts/",
        {
            "levels": [
                {"sku": shop["tee"].sku, "location": "wh", "quantity": 4},
                {"sku": "NOPE", "location": "wh", "quantity": 1},
            ]
        },
        format="json",
    )
    good = staff_api.post(
        "/api/v1/staff/stock/counts/",
        {"levels": [{"sku": shop["tee"].sku, "location": "wh", "quantity": 4}]},
        format="json",
    )

    assert bad.status_code == 400
    assert good.status_code == 200
    assert [(m["reason"], m["on_hand_before"], m["on_hand_after"]) for m in good.json()] == [
        ("count_correction", 7, 4)
    ]


def test_staff_reservation_out_of_stock_is_409_naming_the_sku(staff_api, shop):
    response = staff_api.post(
        "/api/v1/staff/reservations/",
        {
            "channel": "web-jp",
            "reference": "order:1",
            "kind": "order",
            "lines": [
                {"sku": shop["tee"].sku, "quantity": 5},
                {"sku": shop["tee"].sku, "quantity": 3},
            ],
        },
        format="json",
    )

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert (body["code"], body["sku"], body["requested"], body["available"]) == (
        "insufficient_stock",
        shop["tee"].sku,
        8,
        7,
    )
    assert not Reservation.objects.exists()


def test_staff_reservation_allocate_ship_and_release(staff_api, shop):
    created = staff_api.post(
        "/api/v1/staff/reservations/",
        {
            "channel": "web-jp",
            "reference": "order:2",
            "kind": "order",
            "lines": [{"sku": shop["tee"].sku, "quantity": 4}],
        },
        format="json",
    )
    shipped = staff_api.post(
        "/api/v1/staff/reservations/ship/", {"reference": "order:2"}, format="json"
    )
    released = staff_api.post(
        "/api/v1/staff/reservations/release/", {"reference": "order:2"}, format="json"
    )

    assert created.status_code == 201
    assert [(r["sku"], r["location"], r["quantity"], r["state"]) for r in created.json()] == [
        (shop["tee"].sku, "wh", 4, "active")
    ]
    assert shipped.json() == {"reference": "order:2", "shipped": 4}
    assert released.json() == {"reference": "order:2", "released": 0}
    stock = Stock.objects.get(variant=shop["tee"], location=shop["warehouse"])
    assert (stock.on_hand, stock.allocated) == (3, 0)


def test_staff_ship_of_unknown_reference_is_404(staff_api, shop):
    response = staff_api.post(
        "/api/v1/staff/reservations/ship/", {"reference": "order:none"}, format="json"
    )

    assert response.status_code == 404


def test_staff_variant_admin_shows_stock_across_locations(
    superuser_client, plain_static_files, shop
):
    response = superuser_client.get(f"/admin/catalog/productvariant/{shop['tee'].pk}/change/")

    assert response.status_code == 200
    assert "stock across locations" in response.content.decode().lower()


def test_staff_ship_more_than_on_hand_after_a_count_is_409_and_changes_nothing(staff_api, shop):
    services.stock_reserve(
        channel=shop["channel"],
        lines=[services.ReserveLine(shop["tee"].pk, 4)],
        reference="order:3",
        kind="order",
    )
    services.stock_set_levels(levels=[services.StockLevel(shop["tee"].pk, shop["warehouse"].pk, 2)])

    response = staff_api.post(
        "/api/v1/staff/reservations/ship/", {"reference": "order:3"}, format="json"
    )

    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["sku"], body["on_hand"], body["requested"]) == (
        "not_enough_on_hand",
        shop["tee"].sku,
        2,
        4,
    )
    stock = Stock.objects.get(variant=shop["tee"], location=shop["warehouse"])
    assert (stock.on_hand, stock.allocated) == (2, 4)
    assert Reservation.objects.get(reference="order:3").state == "active"
    assert not StockMovement.objects.filter(reason="shipment").exists()


def test_reservation_for_a_delivery_address_prefers_a_location_in_its_region(web_jp):
    tokyo = location("tokyo", [web_jp], priority=20)
    osaka = location("osaka", [web_jp], priority=10)
    StockLocation.objects.filter(pk=tokyo.pk).update(region="Tokyo")
    StockLocation.objects.filter(pk=osaka.pk).update(region="Osaka")
    tee = listed_product(web_jp, 2980, name="Tee", slug="tee").variants.get()
    receive(tee, tokyo, 5)
    receive(tee, osaka, 5)

    to_tokyo = services.stock_reserve(
        channel=web_jp,
        lines=[services.ReserveLine(tee.pk, 2)],
        reference="order:t",
        kind="order",
        destination=services.Destination("JP", "tokyo"),
    )
    anywhere = services.stock_reserve(
        channel=web_jp, lines=[services.ReserveLine(tee.pk, 2)], reference="order:a", kind="order"
    )

    assert [r.location.code for r in to_tokyo] == ["tokyo"]
    assert [r.location.code for r in anywhere] == ["osaka"]  # by routing priority
