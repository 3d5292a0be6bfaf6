"""Issue #4: access control for every customer endpoint.

Storefront account endpoints serve the signed-in customer only: anonymous callers get 401,
signed-in users without a customer profile (staff) 403, and another customer's objects are not
found (404). Staff endpoints need a staff member with the Django model permission of the action.

The route tables below must cover every route the URL resolver serves from the customers app,
method by method: `test_every_customers_route_and_method_is_in_a_table` fails when a route or
a method is added without a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from customers import services
from customers.models import (
    Address,
    ConsentChange,
    ConsentSource,
    Customer,
    ExternalIdentifier,
    HistoryEntry,
    Merge,
    PointEntry,
    Segment,
)
from customers.segments import segment_recompute
from tests.customers_api.conftest import (
    PASSWORD,
    PROBLEM,
    Member,
    address,
    client,
    customers_permissions,
    register,
)
from tests.factories import StaffFactory, UserFactory, token_for

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Route:
    method: str
    name: str
    path: str
    data: Any = None

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def call(api, method: str, path: str, data: Any = None):
    if data is None:
        return getattr(api, method)(path, format="json")
    return getattr(api, method)(path, data, format="json")


# --- The tables ------------------------------------------------------------------------------

# Signed-in customers only (IsCustomer). `{address}` is an address of the signed-in customer.
CUSTOMER_ROUTES = [
    Route("post", "customer-sign-out", "/api/v1/customers/sign-out/"),
    Route("get", "customer-me", "/api/v1/customers/me/"),
    Route("patch", "customer-me", "/api/v1/customers/me/", {"first_name": "Mallory"}),
    Route(
        "post",
        "customer-password-change",
        "/api/v1/customers/me/password/",
        {"current_password": PASSWORD, "new_password": "Another-long-pass-99"},
    ),
    Route("get", "customer-addresses", "/api/v1/customers/me/addresses/"),
    Route(
        "post",
        "customer-addresses",
        "/api/v1/customers/me/addresses/",
        {"line1": "9-9 Umeda", "city": "Osaka", "country": "JP"},
    ),
    Route("get", "customer-address-detail", "/api/v1/customers/me/addresses/{address}/"),
    Route(
        "patch",
        "customer-address-detail",
        "/api/v1/customers/me/addresses/{address}/",
        {"line1": "Somewhere else"},
    ),
    Route("delete", "customer-address-detail", "/api/v1/customers/me/addresses/{address}/"),
    Route("get", "customer-consents", "/api/v1/customers/me/consents/"),
    Route(
        "post",
        "customer-consents",
        "/api/v1/customers/me/consents/",
        {"medium": "sms", "granted": True},
    ),
    Route("get", "customer-consent-history", "/api/v1/customers/me/consents/history/"),
    Route("get", "customer-loyalty", "/api/v1/customers/me/loyalty/"),
    Route("post", "customer-loyalty-join", "/api/v1/customers/me/loyalty/join/"),
    Route("get", "customer-loyalty-entries", "/api/v1/customers/me/loyalty/entries/"),
    Route("get", "customer-export", "/api/v1/customers/me/export/"),
]

# Open to anyone; `data` here is the set of fields an empty body is told it misses.
PUBLIC_ROUTES = [
    Route("post", "customer-register", "/api/v1/customers/register/", {"email", "password"}),
    Route("post", "customer-register-confirm", "/api/v1/customers/register/confirm/", {"token"}),
    Route("post", "customer-sign-in", "/api/v1/customers/sign-in/", {"email", "password"}),
    Route("post", "customer-password-reset", "/api/v1/customers/password-reset/", {"email"}),
    Route(
        "post",
        "customer-password-reset-confirm",
        "/api/v1/customers/password-reset/confirm/",
        {"uid", "token", "new_password"},
    ),
    Route("post", "customer-unsubscribe", "/api/v1/customers/unsubscribe/", {"token"}),
]


@dataclass
class World:
    """Alice: registered, an address, tag vip, opted in to e-mail, 120 points. Carol: a guest
    with an address (a duplicate of Alice's). Segment vip: customers tagged vip (Alice)."""

    alice: Member
    alice_address: Address
    carol: Customer
    carol_address: Address
    segment: Segment

    def format(self, path: str) -> str:
        return path.format(
            alice=self.alice.customer.pk, carol=self.carol.pk, segment=self.segment.pk
        )


@dataclass(frozen=True)
class StaffRoute:
    method: str
    name: str
    path: str
    permission: str
    status: int
    # What the response and the database show, and what they should show.
    check: Callable[[World, Any], tuple[Any, Any]]
    data: Callable[[World], Any] | None = None

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


CUSTOMERS = "/api/v1/staff/customers/"
ALICE = "/api/v1/staff/customers/{alice}/"
SEGMENTS = "/api/v1/staff/segments/"
SEGMENT = "/api/v1/staff/segments/{segment}/"


def _state(pk: int) -> str:
    return Customer.objects.get(pk=pk).state


STAFF_ROUTES = [
    StaffRoute(
        "get",
        "staff-customer-list",
        CUSTOMERS,
        "customers.view_customer",
        200,
        lambda w, b: (
            [c["id"] for c in b["results"]],
            [w.carol.pk, w.alice.customer.pk],
        ),
    ),
    StaffRoute(
        "post",
        "staff-customer-list",
        CUSTOMERS,
        "customers.add_customer",
        201,
        lambda w, b: (
            (b["email"], b["tags"], b["has_account"], Customer.objects.filter(pk=b["id"]).exists()),
            ("dan@example.com", ["phone-order"], False, True),
        ),
        lambda w: {"email": " Dan@Example.com ", "first_name": "Dan", "tags": ["phone-order"]},
    ),
    StaffRoute(
        "get",
        "staff-customer-detail",
        ALICE,
        "customers.view_customer",
        200,
        lambda w, b: (
            (b["id"], b["email"], b["tags"], b["segments"], b["loyalty"]),
            (
                w.alice.customer.pk,
                "alice@example.com",
                ["vip"],
                ["vip"],
                {"balance": 120, "lifetime_points": 120, "tier": "Member"},
            ),
        ),
    ),
    StaffRoute(
        "patch",
        "staff-customer-detail",
        ALICE,
        "customers.change_customer",
        200,
        lambda w, b: (
            (b["notes"], b["tags"], w.alice.reload().notes),
            ("Prefers morning delivery", ["gift-wrap"], "Prefers morning delivery"),
        ),
        lambda w: {"notes": "Prefers morning delivery", "tags": ["gift-wrap"]},
    ),
    StaffRoute(
        "post",
        "staff-customer-find-or-create",
        CUSTOMERS + "find-or-create/",
        "customers.add_customer",
        200,
        lambda w, b: ((b["created"], b["customer"]["id"]), (False, w.alice.customer.pk)),
        lambda w: {"email": "ALICE@example.com"},
    ),
    StaffRoute(
        "post",
        "staff-customer-merge",
        ALICE + "merge/",
        "customers.change_customer",
        200,
        lambda w, b: (
            (
                b["id"],
                b["state"],
                _state(w.carol.pk),
                Address.objects.get(pk=w.carol_address.pk).customer_id,
            ),
            (w.alice.customer.pk, "active", "merged", w.alice.customer.pk),
        ),
        lambda w: {"duplicate": w.carol.pk},
    ),
    StaffRoute(
        "post",
        "staff-customer-erase",
        ALICE + "erase/",
        "customers.delete_customer",
        200,
        lambda w, b: (
            (
                b["state"],
                b["email"],
                b["first_name"],
                b["has_account"],
                _state(w.alice.customer.pk),
            ),
            ("erased", "", "", False, "erased"),
        ),
        lambda w: {"reason": "Asked to be forgotten"},
    ),
    StaffRoute(
        "get",
        "staff-customer-export",
        ALICE + "export/",
        "customers.view_customer",
        200,
        lambda w, b: (
            (b["profile"]["id"], b["profile"]["email"], [a["line1"] for a in b["addresses"]]),
            (w.alice.customer.pk, "alice@example.com", [w.alice_address.line1]),
        ),
    ),
    StaffRoute(
        "get",
        "staff-customer-history",
        ALICE + "history/",
        "customers.view_customer",
        200,
        lambda w, b: (
            sorted(e["kind"] for e in b),
            ["created", "loyalty", "loyalty", "registered"],
        ),
    ),
    StaffRoute(
        "post",
        "staff-customer-identifiers",
        ALICE + "identifiers/",
        "customers.change_customer",
        201,
        lambda w, b: (
            (
                (b["channel"], b["kind"], b["value"]),
                list(ExternalIdentifier.objects.values_list("customer_id", "value")),
            ),
            (("web-jp", "member_card", "M-0001"), [(w.alice.customer.pk, "M-0001")]),
        ),
        lambda w: {"channel": "web-jp", "kind": "member_card", "value": "M-0001"},
    ),
    StaffRoute(
        "post",
        "staff-customer-points",
        ALICE + "points/",
        "customers.change_customer",
        201,
        lambda w, b: (
            (b["kind"], b["points"], b["reason"], w.alice.reload().loyalty.balance),
            ("adjust", 50, "Late delivery", 170),
        ),
        lambda w: {"points": 50, "reason": "Late delivery"},
    ),
    StaffRoute(
        "post",
        "staff-customer-redeem-points",
        ALICE + "points/redeem/",
        "customers.change_customer",
        201,
        lambda w, b: (
            (b["kind"], b["points"], b["reference"], w.alice.reload().loyalty.balance),
            ("redeem", -20, "R-77", 100),
        ),
        lambda w: {"points": 20, "reference": "R-77"},
    ),
    StaffRoute(
        "get",
        "staff-customer-point-entries",
        ALICE + "points/entries/",
        "customers.view_customer",
        200,
        lambda w, b: (
            (b["count"], [(e["kind"], e["points"], e["reason"]) for e in b["results"]]),
            (1, [("adjust", 120, "Welcome gift")]),
        ),
    ),
    StaffRoute(
        "get",
        "staff-segment-list",
        SEGMENTS,
        "customers.view_segment",
        200,
        lambda w, b: (
            [(s["slug"], s["member_count"]) for s in b["results"]],
            [("vip", 1)],
        ),
    ),
    StaffRoute(
        "post",
        "staff-segment-list",
        SEGMENTS,
        "customers.add_segment",
        201,
        lambda w, b: (
            (
                b["slug"],
                b["member_count"],
                list(Segment.objects.get(slug="email-fans").members.all()),
            ),
            ("email-fans", 1, [w.alice.customer]),
        ),
        lambda w: {
            "name": "E-mail fans",
            "slug": "email-fans",
            "rule": [{"field": "consent", "medium": "email"}],
        },
    ),
    StaffRoute(
        "get",
        "staff-segment-detail",
        SEGMENT,
        "customers.view_segment",
        200,
        lambda w, b: ((b["id"], b["slug"], b["rule"]), (w.segment.pk, "vip", w.segment.rule)),
    ),
    StaffRoute(
        "patch",
        "staff-segment-detail",
        SEGMENT,
        "customers.change_segment",
        200,
        lambda w, b: (
            (b["description"], Segment.objects.get(pk=w.segment.pk).description),
            ("Our best customers", "Our best customers"),
        ),
        lambda w: {"description": "Our best customers"},
    ),
    StaffRoute(
        "delete",
        "staff-segment-detail",
        SEGMENT,
        "customers.delete_segment",
        204,
        lambda w, b: (Segment.objects.filter(pk=w.segment.pk).exists(), False),
    ),
    StaffRoute(
        "post",
        "staff-segment-preview",
        SEGMENTS + "preview/",
        "customers.change_segment",
        200,
        lambda w, b: (
            (b["count"], [c["id"] for c in b["sample"]]),
            (1, [w.alice.customer.pk]),
        ),
        lambda w: {"rule": [{"field": "consent", "medium": "email"}]},
    ),
    StaffRoute(
        "post",
        "staff-segment-recompute",
        SEGMENT + "recompute/",
        "customers.change_segment",
        200,
        lambda w, b: (
            (b["member_count"], sorted(w.segment.members.values_list("pk", flat=True))),
            (2, sorted([w.alice.customer.pk, w.carol.pk])),
        ),
    ),
]


@pytest.fixture
def world(programme, web_jp) -> World:
    alice = register("alice@example.com", first_name="Alice", last_name="Abe")
    alice_address = address(alice.customer, line1="1-2-3 Jingumae")
    services.customer_set_tags(alice.customer, ["vip"])
    services.consent_set(
        alice.customer, medium="email", granted=True, source=ConsentSource.STOREFRONT
    )
    services.points_adjust(alice.customer, points=120, reason="Welcome gift")
    carol = services.customer_create(first_name="Alice", last_name="Abe", phone="080-1111-2222")
    carol_address = address(carol, line1="4-5-6 Ebisu")
    segment = Segment.objects.create(name="VIP", slug="vip", rule=[{"field": "tag", "in": ["vip"]}])
    segment_recompute(segment)
    # Recompute (the one route that changes membership without a rule change) should find Carol.
    services.customer_set_tags(carol, ["vip"])
    return World(alice, alice_address, carol, carol_address, segment)


def fingerprint() -> dict[str, list]:
    """Everything a refused call could have changed."""
    return {
        "customers": list(
            Customer.objects.order_by("pk").values_list(
                "pk", "state", "email", "first_name", "notes", "user_id"
            )
        ),
        "tags": list(
            Customer.tags.through.objects.order_by("pk").values_list("customer_id", "tag_id")
        ),
        "addresses": list(
            Address.objects.order_by("pk").values_list(
                "pk", "customer_id", "line1", "is_default_shipping", "is_default_billing"
            )
        ),
        "identifiers": list(ExternalIdentifier.objects.values_list("pk", "value")),
        "points": list(PointEntry.objects.order_by("pk").values_list("pk", "points")),
        "consents": list(ConsentChange.objects.order_by("pk").values_list("pk", "granted")),
        "history": list(HistoryEntry.objects.order_by("pk").values_list("pk", "kind")),
        "merges": list(Merge.objects.values_list("pk")),
        "segments": list(
            Segment.objects.order_by("pk").values_list(
                "pk", "slug", "description", "member_count", "computed_at"
            )
        ),
    }


# --- The tables cover every route ------------------------------------------------------------


def served_routes() -> set[tuple[str, str]]:
    """(method, url name) of every route the URL resolver serves from the customers app."""
    served: set[tuple[str, str]] = set()

    def walk(patterns) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
                continue
            assert isinstance(pattern, URLPattern)
            view = getattr(pattern.callback, "cls", None) or getattr(
                pattern.callback, "view_class", None
            )
            if view is None or not view.__module__.startswith("customers."):
                continue
            actions = getattr(pattern.callback, "actions", None)
            if actions is not None:  # a viewset: the router's method -> action map
                # HEAD answers as GET does (DRF maps it to the same action): the GET row covers it.
                methods = {m for m in actions if m in view.http_method_names and m != "head"}
            else:
                methods = {
                    m
                    for m in view.http_method_names
                    if m not in ("options", "head") and hasattr(view, m)
                }
            served.update((method, pattern.name) for method in methods)

    walk(get_resolver().url_patterns)
    return served


def test_every_customers_route_and_method_is_in_a_table():
    tabled = [(r.method, r.name) for r in [*CUSTOMER_ROUTES, *PUBLIC_ROUTES, *STAFF_ROUTES]]

    assert len(tabled) == len(set(tabled)), "a route is in the tables twice"
    assert served_routes() == set(tabled)


@pytest.mark.parametrize("route", [*CUSTOMER_ROUTES, *PUBLIC_ROUTES, *STAFF_ROUTES], ids=str)
def test_each_table_path_is_the_named_route(route):
    path = route.path.format(address=7, alice=7, carol=8, segment=9)

    assert resolve(path).url_name == route.name


# --- Storefront: anonymous 401, no customer profile 403 --------------------------------------


@pytest.fixture
def storefront(alice, bob) -> dict[str, Any]:
    return {
        "alice": alice,
        "address": address(alice.customer),
        "bob_address": address(bob.customer),
    }


@pytest.mark.parametrize("route", CUSTOMER_ROUTES, ids=str)
def test_storefront_route_refuses_anonymous_callers_with_401(storefront, route):
    before = fingerprint()

    response = call(
        client(), route.method, route.path.format(address=storefront["address"].pk), route.data
    )

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"
    assert fingerprint() == before


@pytest.mark.parametrize("route", CUSTOMER_ROUTES, ids=str)
def test_storefront_route_refuses_an_unknown_token_with_401(storefront, route):
    response = call(
        client("0" * 40),
        route.method,
        route.path.format(address=storefront["address"].pk),
        route.data,
    )

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.parametrize("who", ["staff with every customers permission", "superuser"])
@pytest.mark.parametrize("route", CUSTOMER_ROUTES, ids=str)
def test_storefront_route_refuses_a_user_without_a_customer_profile_with_403(
    storefront, route, who
):
    if who == "superuser":
        user = StaffFactory(username="root", superuser=True)
    else:
        user = StaffFactory(username="clerk", permissions=customers_permissions())
    before = fingerprint()

    response = call(
        client(token_for(user)),
        route.method,
        route.path.format(address=storefront["address"].pk),
        route.data,
    )

    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert (body["code"], body["detail"]) == (
        "permission_denied",
        "Sign in with a customer account.",
    )
    assert fingerprint() == before


def test_a_login_merged_into_another_login_stops_working(storefront, bob):
    """One person, one login: Bob's profile merged into Alice's (who has her own login)."""
    services.customer_merge(survivor=storefront["alice"].customer, duplicate=bob.customer)

    response = bob.api.get("/api/v1/customers/me/")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_login_merged_into_a_guest_profile_now_serves_that_profile(bob):
    guest = services.customer_create(email="bob.b@example.com", first_name="Bob")

    services.customer_merge(survivor=guest, duplicate=bob.customer)
    response = bob.api.get("/api/v1/customers/me/")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["email"]) == (guest.pk, "bob.b@example.com")


def test_an_erased_customers_token_stops_working(alice):
    services.customer_erase(alice.customer, reason="Asked to be forgotten")

    response = alice.api.get("/api/v1/customers/me/")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.parametrize("route", PUBLIC_ROUTES, ids=str)
def test_public_route_needs_no_sign_in(db, route):
    response = call(client(), route.method, route.path, {})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == route.data


# --- Storefront: own objects only ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "data", "own_status"),
    [
        ("get", None, 200),
        ("patch", {"line1": "Taken over", "is_default_shipping": True}, 200),
        ("delete", None, 204),
    ],
)
def test_another_customers_address_is_not_found_and_stays_as_it_was(
    alice, bob, method, data, own_status
):
    bobs = address(bob.customer, line1="7-7 Nakameguro")
    bobs_second = address(bob.customer, line1="8-8 Daikanyama")
    alices = address(alice.customer)
    before = [
        model_to_dict(a) for a in Address.objects.filter(customer=bob.customer).order_by("pk")
    ]

    response = call(alice.api, method, f"/api/v1/customers/me/addresses/{bobs_second.pk}/", data)

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_found"
    after = [model_to_dict(a) for a in Address.objects.filter(customer=bob.customer).order_by("pk")]
    assert after == before
    assert [a["id"] for a in after] == [bobs.pk, bobs_second.pk]
    # The same call on her own address works: the 404 is about whose address it is.
    assert (
        call(alice.api, method, f"/api/v1/customers/me/addresses/{alices.pk}/", data).status_code
        == own_status
    )


def test_an_address_id_that_does_not_exist_is_404_too(alice):
    response = alice.api.get("/api/v1/customers/me/addresses/999999/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_me_shows_the_signed_in_customer_only(alice, bob):
    as_alice = alice.api.get("/api/v1/customers/me/")
    as_bob = bob.api.get("/api/v1/customers/me/")

    assert as_alice.status_code == as_bob.status_code == 200
    assert (as_alice.json()["id"], as_alice.json()["email"]) == (
        alice.customer.pk,
        "alice@example.com",
    )
    assert (as_bob.json()["id"], as_bob.json()["email"]) == (bob.customer.pk, "bob@example.com")


def test_patching_me_changes_the_signed_in_customer_only(alice, bob):
    response = alice.api.patch("/api/v1/customers/me/", {"first_name": "Arisu"}, format="json")

    assert response.status_code == 200
    assert response.json()["id"] == alice.customer.pk
    assert (alice.reload().first_name, bob.reload().first_name) == ("Arisu", "Bob")


def test_lists_and_export_show_only_the_signed_in_customers_rows(programme, alice, bob):
    for member, line1 in ((alice, "Alice street 1"), (bob, "Bob street 1")):
        address(member.customer, line1=line1)
        services.consent_set(
            member.customer, medium="email", granted=True, source=ConsentSource.STOREFRONT
        )
        services.points_adjust(
            member.customer, points=10, reason=f"Gift for {member.customer.first_name}"
        )

    addresses = alice.api.get("/api/v1/customers/me/addresses/").json()
    consents = alice.api.get("/api/v1/customers/me/consents/history/").json()
    entries = alice.api.get("/api/v1/customers/me/loyalty/entries/").json()
    export = alice.api.get("/api/v1/customers/me/export/").json()

    assert [a["line1"] for a in addresses] == ["Alice street 1"]
    assert consents["count"] == 1
    assert [e["reason"] for e in entries["results"]] == ["Gift for Alice"]
    assert export["profile"]["id"] == alice.customer.pk
    assert [a["line1"] for a in export["addresses"]] == ["Alice street 1"]
    assert [e["reason"] for e in export["loyalty"]["entries"]] == ["Gift for Alice"]


# --- Staff: anonymous 401, customers 403, the model permission decides -----------------------


@pytest.mark.parametrize("route", STAFF_ROUTES, ids=str)
def test_staff_route_refuses_anonymous_callers_with_401(world, route):
    before = fingerprint()

    response = call(
        client(), route.method, world.format(route.path), route.data and route.data(world)
    )

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"
    assert fingerprint() == before


@pytest.mark.parametrize("route", STAFF_ROUTES, ids=str)
def test_staff_route_refuses_a_signed_in_customer_with_403(world, route):
    before = fingerprint()

    response = call(
        world.alice.api, route.method, world.format(route.path), route.data and route.data(world)
    )

    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "permission_denied"
    assert fingerprint() == before


@pytest.mark.parametrize("route", STAFF_ROUTES, ids=str)
def test_staff_route_refuses_a_non_staff_user_even_with_model_permissions(world, route):
    user = UserFactory(username="not-staff", permissions=customers_permissions())
    before = fingerprint()

    response = call(
        client(token_for(user)),
        route.method,
        world.format(route.path),
        route.data and route.data(world),
    )

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert fingerprint() == before


@pytest.mark.parametrize("others", ["no permission", "every other customers permission"])
@pytest.mark.parametrize("route", STAFF_ROUTES, ids=str)
def test_staff_route_refuses_staff_without_its_permission_with_403(
    world, staff_client, route, others
):
    permissions = [] if others == "no permission" else customers_permissions(but=[route.permission])
    before = fingerprint()

    response = call(
        staff_client(permissions),
        route.method,
        world.format(route.path),
        route.data and route.data(world),
    )

    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "permission_denied"
    assert fingerprint() == before


@pytest.mark.parametrize("route", STAFF_ROUTES, ids=str)
def test_staff_route_serves_staff_with_exactly_its_permission(world, staff_client, route):
    response = call(
        staff_client([route.permission]),
        route.method,
        world.format(route.path),
        route.data and route.data(world),
    )

    assert response.status_code == route.status, response.content
    body = response.json() if response.content else None
    actual, expected = route.check(world, body)
    assert actual == expected
