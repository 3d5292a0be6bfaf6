"""Bad requests to the API are problems with a status and a code, never a 500 or an HTML page."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from customers import services as customer_services
from tests.conftest import HTTPS
from tests.factories import StaffFactory

PROBLEM = "application/problem+json"


@pytest.fixture
def staff(db) -> Client:
    client = Client(**HTTPS)
    client.force_login(StaffFactory(username="root-errors", superuser=True))
    return client


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    return json.loads(response.content)


def test_api_body_over_the_upload_limit_is_a_413_problem(staff, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    client = staff
    body = json.dumps({"reason": "x" * (2 * 1024 * 1024)})

    response = client.post(
        "/api/v1/staff/orders/NO-SUCH/cancel/", body, content_type="application/json"
    )

    body = problem(response, 413)
    assert body["code"] == "request_too_large"
    assert body["status"] == 413


def test_api_body_over_the_default_limit_is_a_413_problem(db):
    client = Client(**HTTPS)
    body = json.dumps({"email": "a@example.com", "password": "x" * (20 * 1024 * 1024)})

    response = client.post("/api/v1/customers/sign-in/", body, content_type="application/json")

    assert problem(response, 413)["code"] == "request_too_large"


def test_api_deeply_nested_json_is_a_400_problem(db):
    client = Client(**HTTPS)
    body = "[" * 50_000 + "]" * 50_000

    response = client.post("/api/v1/customers/sign-in/", body, content_type="application/json")

    assert problem(response, 400)["code"] == "parse_error"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/staff/orders/",
        "/api/v1/staff/orders/NO-SUCH/",
        "/api/v1/staff/orders/NO-SUCH/cancel/",
        "/api/v1/staff/orders/NO-SUCH/confirm/",
        "/api/v1/staff/fulfilments/",
        "/api/v1/staff/fulfilments/NO-SUCH/pick/",
        "/api/v1/staff/fulfilments/NO-SUCH/ship/",
    ],
)
def test_api_options_answers_the_allowed_methods(staff, path):
    client = staff

    response = client.options(path)

    assert response.status_code == 200, response.content[:500]
    assert "OPTIONS" in response["Allow"]


def test_api_options_never_fails_on_any_route(staff):
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    client = staff
    failures = []
    for route in walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "(?P<format>" in route or "\\." in route:
            continue
        route = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", route).replace("^", "").replace("$", "")
        path = "/" + re.sub(r"<[^>]+>", "1", route)
        response = client.options(path)
        # Customer-only routes refuse a staff member before they describe themselves.
        if response.status_code not in (200, 403):
            failures.append((path, response.status_code))
    assert failures == []


def test_api_integer_query_parameter_beyond_range_is_a_400_naming_it(staff):
    client = staff

    response = client.get("/api/v1/staff/replenishment/", {"window_days": "720447782364922752"})

    assert "window_days" in problem(response, 400)["errors"]


def test_api_integer_body_field_beyond_range_is_a_400_naming_it(staff):
    customer = customer_services.customer_create(email="big-points@example.com")
    client = staff

    response = client.post(
        f"/api/v1/staff/customers/{customer.pk}/points/",
        {"points": 99999999999, "reason": "goodwill"},
        content_type="application/json",
    )

    assert list(problem(response, 400)["errors"]) == ["points"]


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/nothing", "/api/v1/staff/x/y/"])
def test_api_unknown_path_is_a_404_problem(db, path):
    response = Client(**HTTPS).get(path)

    assert problem(response, 404)["code"] == "not_found"


def test_unknown_path_outside_the_api_stays_html(db):
    response = Client(**HTTPS).get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_api_method_not_allowed_and_unsupported_media_are_problems(staff):
    client = staff

    assert problem(client.delete("/api/v1/staff/orders/"), 405)["code"] == "method_not_allowed"
    response = client.post("/api/v1/customers/sign-in/", "a=b", content_type="text/plain")
    assert problem(response, 415)["code"] == "unsupported_media_type"
    response = client.get("/api/v1/staff/orders/", HTTP_ACCEPT="image/png")
    assert problem(response, 406)["code"] == "not_acceptable"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page_size": "abc"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": ["5", "6"]}, "page_size"),
        ({"page": ["1", "2"]}, "page"),
        ({"flagged": "maybe"}, "flagged"),
        ({"flagged": ""}, "flagged"),
        ({"status": ["paid", "unfulfilled"]}, "status"),
        ({"placed_after": "2026-01-01T00:00:00+20:40"}, "placed_after"),
        ({"placed_before": ""}, "placed_before"),
        ({"status": ""}, "status"),
        ({"customer": ""}, "customer"),
    ],
)
def test_api_list_parameters_out_of_their_schema_are_a_400_naming_them(staff, query, field):
    response = staff.get("/api/v1/staff/orders/", query)

    assert list(problem(response, 400)["errors"]) == [field]


def test_api_empty_free_text_parameter_is_no_filter(staff):
    """The schema allows an empty string for text, so `email=` must not be an error."""
    response = staff.get("/api/v1/staff/orders/", {"email": "", "channel": ""})

    assert response.status_code == 200


@pytest.mark.parametrize("query", [{"updated_at__gte": ""}, {"updated_at__gte": "yesterday"}])
def test_api_staff_products_date_filter_must_be_a_date_time(staff, query):
    response = staff.get("/api/v1/staff/products/", query)

    assert list(problem(response, 400)["errors"]) == ["updated_at__gte"]


def test_api_form_body_without_a_required_boolean_is_a_400_as_in_json(db):
    from tests.customers_api.conftest import register

    member = register("forms@example.com")
    client = Client(**HTTPS, HTTP_AUTHORIZATION=f"Token {member.token}")

    response = client.post(
        "/api/v1/customers/me/consents/",
        "medium=post",
        content_type="application/x-www-form-urlencoded",
    )

    assert list(problem(response, 400)["errors"]) == ["granted"]
