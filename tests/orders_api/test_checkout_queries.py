"""How many SQL statements a guest checkout costs, call by call, so that a change that adds some
fails here and says where. The completion's figure includes the Idempotency-Key's bookkeeping, the test gateway's own books
(4 statements a real gateway's HTTP call replaces) and every BEGIN, COMMIT and savepoint.

The issue's target for the completion is 25 statements; these are the numbers measured now
(bench/README.md, "Peer comparison"), as ceilings."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import ProductVariant
from tests.orders.conftest import JP_ADDRESS
from tests.orders_api.conftest import client

CEILINGS = {"create": 7, "add": 16, "details": 12, "complete": 79}


@pytest.mark.django_db(transaction=True)
def test_a_guest_checkout_costs_at_most_these_statements_per_call(shop):
    api = client()
    variant_id = ProductVariant.objects.get(sku="TEE-RED-M").pk
    counted: dict[str, int] = {}

    def call(name, send):
        with CaptureQueriesContext(connection) as queries:
            response = send()
        assert response.status_code in (200, 201), (name, response.content)
        counted[name] = len(queries.captured_queries)
        return response

    token = call("create", lambda: api.post("/api/v1/channels/web-jp/carts/", {}, format="json"))
    token = token.json()["token"]
    call(
        "add",
        lambda: api.post(
            f"/api/v1/carts/{token}/lines/",
            {"variant_id": variant_id, "quantity": 1},
            format="json",
        ),
    )
    details = {"email": "q@example.jp", "shipping_method": "yamato", "shipping_address": JP_ADDRESS}
    call("details", lambda: api.patch(f"/api/v1/carts/{token}/", details, format="json"))
    call(
        "complete",
        lambda: api.post(
            f"/api/v1/carts/{token}/complete/",
            {"payment": {"method": "card", "token": "tok_visa"}},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        ),
    )

    assert {name: n for name, n in counted.items() if n > CEILINGS[name]} == {}, counted
