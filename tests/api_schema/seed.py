"""A small shop for the schema run: enough data that the operations do real work.

Made through the factories and the storefront API itself (carts, checkout), the way the product
makes its data, so the orders have payments, fulfilments and history like real ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.test import Client

from customers import services as customer_services
from customers.models import LoyaltyProgramme, Tier
from orders.models import ShippingMethod, ShippingRate, TaxRate
from tests.factories import (
    ChannelFactory,
    StaffFactory,
    TaxClassFactory,
    listed_product,
    token_for,
)
from tests.inventory.conftest import StockLocationFactory, receive

PASSWORD = "Kyoto-autumn-leaves-42"
ADDRESS = {
    "first_name": "Hanako",
    "last_name": "Sato",
    "line1": "1-2-3 Shibuya",
    "city": "Shibuya-ku",
    "region": "Tokyo",
    "postal_code": "150-0002",
    "country": "JP",
    "phone": "+81312345678",
}


@dataclass
class Seeded:
    customer_token: str
    staff_token: str
    order_numbers: list[str] = field(default_factory=list)


def _client(token: str | None = None) -> Client:
    headers = {"HTTP_X_FORWARDED_PROTO": "https"}
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Token {token}"
    return Client(**headers)


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    return json.loads(response.content) if response.content else {}


def _post(client: Client, path: str, body: dict, status: int = 200) -> dict:
    return _ok(client.post(path, json.dumps(body), content_type="application/json"), status)


def _patch(client: Client, path: str, body: dict) -> dict:
    return _ok(client.patch(path, json.dumps(body), content_type="application/json"))


def _order(client: Client, channel: str, sku: str, email: str) -> str:
    cart = _post(client, f"/api/v1/channels/{channel}/carts/", {"email": email}, 201)
    path = f"/api/v1/carts/{cart['token']}/"
    _post(client, path + "lines/", {"sku": sku, "quantity": 1})
    _patch(client, path, {"shipping_address": ADDRESS, "shipping_method": "yamato"})
    body = {"payment": {"method": "card", "token": "tok_visa"}}
    return _post(client, path + "complete/", body, 201)["number"]


def seed_shop() -> Seeded:
    web_jp = ChannelFactory(web_jp=True)
    ChannelFactory(web_us=True)
    standard = TaxClassFactory(standard=True)
    TaxRate.objects.create(tax_class=standard, country="JP", region="", rate=Decimal("0.10"))
    tee = listed_product(web_jp, "2980", variants=2, name="Everyday Tee", slug="everyday-tee")
    listed_product(web_jp, "1620", name="Uji Matcha", slug="uji-matcha")
    warehouse = StockLocationFactory(code="tokyo-wh", routing_priority=10, channels=[web_jp])
    store = StockLocationFactory(
        code="shibuya-store", store=True, routing_priority=50, channels=[web_jp]
    )
    for variant in tee.variants.all():
        receive(variant, warehouse, 100)
        receive(variant, store, 5)
    yamato = ShippingMethod.objects.create(
        channel=web_jp, code="yamato", name="Yamato", basis="weight"
    )
    ShippingRate.objects.create(method=yamato, country="JP", from_threshold=0, price=Decimal(800))

    programme = LoyaltyProgramme.objects.create(name="Friends", points_expire_after_days=365)
    Tier.objects.create(programme=programme, name="Member", threshold=0)

    customer_services.account_register(
        email="hanako@example.jp", password=PASSWORD, first_name="Hanako", last_name="Sato"
    )
    signed_in = _post(
        _client(),
        "/api/v1/customers/sign-in/",
        {"email": "hanako@example.jp", "password": PASSWORD},
    )
    customer_token = signed_in["token"]
    staff = StaffFactory(username="schema-root", superuser=True)

    sku = tee.variants.order_by("id").first().sku
    numbers = [
        _order(_client(customer_token), web_jp.code, sku, "hanako@example.jp"),
        _order(_client(), web_jp.code, sku, "guest@example.jp"),
    ]
    return Seeded(
        customer_token=customer_token, staff_token=token_for(staff), order_numbers=numbers
    )
