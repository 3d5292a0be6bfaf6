"""What the OpenAPI schema must say, whatever schemathesis happens to generate."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

PROBLEM = "application/problem+json"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(openapi: dict):
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_schema_generates_without_warnings_and_validates(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))


def test_every_success_answer_has_a_typed_body(openapi):
    untyped = []
    for path, method, operation in operations(openapi):
        for status, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                schema = media["schema"]
                if status < "300" and schema.get("type") == "object" and "properties" not in schema:
                    untyped.append(f"{method.upper()} {path} {status}")
    assert untyped == []


def test_every_operation_documents_its_problems(openapi):
    missing = []
    for path, method, operation in operations(openapi):
        responses = operation["responses"]
        expected = set()
        if operation.get("security") and {} not in operation["security"]:
            expected |= {"401", "403"}
        if "{" in path:
            expected |= {"400", "404"}
        if method in {"post", "put", "patch"}:
            expected |= {"400", "409", "413", "415"}
        for status in sorted(expected - set(responses)):
            missing.append(f"{method.upper()} {path} {status}")
        for status, response in responses.items():
            if status >= "400" and list(response.get("content", {})) != [PROBLEM]:
                missing.append(f"{method.upper()} {path} {status} is not problem+json")
    assert missing == []
    assert set(openapi["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "code",
        "detail",
    }


def test_throttled_sign_in_documents_429_and_wrong_password_401(openapi):
    responses = openapi["paths"]["/api/v1/customers/sign-in/"]["post"]["responses"]

    assert {"200", "400", "401", "429"} <= set(responses)


def test_pickup_stores_answer_is_a_list(openapi):
    operation = openapi["paths"]["/api/v1/carts/{token}/pickup-stores/"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]

    assert schema["type"] == "array"
    assert schema["items"] == {"$ref": "#/components/schemas/PickupStoreOutput"}


@pytest.mark.parametrize(
    ("path", "filters"),
    [
        ("/api/v1/staff/orders/", {"status", "payment_status", "channel", "placed_after"}),
        ("/api/v1/staff/fulfilments/", {"state", "location", "carrier", "late"}),
    ],
)
def test_staff_lists_show_their_filters_and_pages(openapi, path, filters):
    operation = openapi["paths"][path]["get"]
    names = {p["name"] for p in operation["parameters"]}
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]

    assert filters | {"page", "page_size"} <= names
    assert schema["$ref"].startswith("#/components/schemas/Paginated")


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("Consent", "changed_at"),
        ("StaffCustomer", "acquired_channel"),
        ("StaffProductOutput", "tax_class"),
        ("StaffProductOutput", "category"),
        ("StockMovementOutput", "actor"),
        ("CartOutput", "shipping_method"),
        ("FulfilmentOutput", "carrier"),
    ],
)
def test_fields_that_can_be_null_say_so(openapi, component, field):
    assert openapi["components"]["schemas"][component]["properties"][field]["nullable"] is True
