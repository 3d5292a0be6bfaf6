"""The OpenAPI schema tells the truth: schemathesis calls every operation and checks each answer.

Every operation is called with generated input (valid and invalid), three times per input: as
an anonymous caller, as a signed-in customer and as a superuser. Every answer must pass all of
schemathesis' checks: no 5xx, a documented status code and content type, a body that matches the
documented schema, documented headers, invalid input refused, valid input not refused.

The data is a small shop seeded once for the module (channels, published products with stock,
shipping, a customer with an address, orders with fulfilments), inside a transaction that is
rolled back at the end; each operation's test runs in a savepoint of its own, so whatever one
operation writes is gone before the next. Generation is deterministic (derandomize) and bounded
(max_examples), so CI sees the same cases every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client, override_settings
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig

from commerce.wsgi import application
from tests.api_schema.seed import Seeded, seed_shop

FORWARDED = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy adds in production

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 12,
        "phases": {"coverage": {"enabled": False}},
        "checks": {
            # Valid-looking input that breaks a business rule (an SKU or a customer that does
            # not exist, an e-mail already registered) is a 400 naming the field, as the API's
            # conventions say (docs/architecture.md): a JSON Schema cannot say "an SKU we sell".
            # Every other answer to schema-valid input still fails the check (422, 405, ...).
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
            },
        },
    }
)
schema = schemathesis.openapi.from_dict(
    SchemaGenerator().get_schema(request=None, public=True), config=CONFIG
)
schema.app = application


@dataclass
class Identity:
    name: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker) -> Iterator[Seeded]:
    # Passwords are checked on every generated sign-in: the production hasher would cost ~0.3 s
    # each, and the run checks behaviour, not cost.
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), fast:
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield seed_shop()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@contextmanager
def connection_kept_across_requests() -> Iterator[None]:
    """The calls go through the real WSGI handler, which closes the database connection at the
    end of each request (it is "in a transaction" here, the test's): that would end the test's
    transaction. Django's test client disconnects the same handler for the same reason (and
    connects it again after each of its requests, so this must wrap the calls themselves)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def identities(seeded: Seeded, db) -> Iterator[list[Identity]]:
    cache.clear()  # throttle counters: each operation starts with a fresh allowance
    with connection_kept_across_requests():
        yield [
            Identity("anonymous", {}),
            Identity("customer", {"Authorization": f"Token {seeded.customer_token}"}),
            Identity("staff", {"Authorization": f"Token {seeded.staff_token}"}),
        ]


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_as_its_schema_says(case, identities: list[Identity]) -> None:
    for identity in identities:
        case.call_and_validate(headers={**FORWARDED, **identity.headers})


def test_seeded_identities_are_signed_in(seeded: Seeded, db) -> None:
    """The identities the run uses are what they claim: otherwise every call would be anonymous
    and the customer and staff halves of the API would go untested."""
    customer = Client(
        HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION=f"Token {seeded.customer_token}"
    )
    staff = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION=f"Token {seeded.staff_token}")

    assert customer.get("/api/v1/customers/me/").status_code == 200
    assert staff.get("/api/v1/staff/orders/").json()["count"] == len(seeded.order_numbers) > 0
