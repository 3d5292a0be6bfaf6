"""Who reads and acts on orders: customers their own orders only, guests one order by number
and e-mail, staff with the orders permissions (view for reads, change for actions)."""

from __future__ import annotations

import pytest

from orders.models import Order, OrderHistory
from tests.factories import UserFactory, token_for
from tests.orders_access.conftest import client, place

pytestmark = pytest.mark.django_db

STAFF_ORDERS = "/api/v1/staff/orders/"
# Every staff action, with a body it accepts.
ACTIONS = [
    ("capture", {}),
    ("refund", {"amount": "100", "reason": "goodwill"}),
    ("settle", {"reason": "bank transfer"}),
    ("cancel", {"reason": "asked to"}),
    ("confirm", {}),
    ("hold", {"reason": "address check"}),
    ("release-hold", {}),
    ("flag", {"reason": "call the buyer"}),
    ("unflag", {}),
]


def order_row(order: Order) -> dict:
    return Order.objects.filter(pk=order.pk).values().get()


@pytest.fixture
def order(shop, alice) -> Order:
    return place(alice.api, email="alice@example.com")


# --- Customers and guests ---------------------------------------------------------------------


def test_a_customer_lists_only_their_own_orders(shop, alice, bob):
    first = place(alice.api, email="alice@example.com")
    second = place(alice.api, email="alice@example.com")
    bobs = place(bob.api, email="bob@example.com")

    r = alice.api.get("/api/v1/orders/")

    assert r.status_code == 200, r.content
    assert [o["number"] for o in r.json()["results"]] == [second.number, first.number]
    r = bob.api.get("/api/v1/orders/")
    assert [o["number"] for o in r.json()["results"]] == [bobs.number]


def test_a_customer_reads_their_order_and_gets_404_for_anothers(shop, alice, bob):
    mine = place(alice.api, email="alice@example.com")
    theirs = place(bob.api, email="bob@example.com")

    r = alice.api.get(f"/api/v1/orders/{mine.number}/")
    assert r.status_code == 200
    assert (r.json()["number"], r.json()["total"]) == (mine.number, "3780")
    assert "customer_id" not in r.json()  # staff-only details stay out

    r = alice.api.get(f"/api/v1/orders/{theirs.number}/")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert "bob@example.com" not in r.content.decode()
    assert alice.api.get("/api/v1/orders/999999999/").status_code == 404


def test_my_orders_need_a_customer_sign_in(shop, staff_client):
    for path in ("/api/v1/orders/", "/api/v1/orders/100001/"):
        anonymous = client().get(path)
        assert anonymous.status_code == 401
        assert anonymous.has_header("WWW-Authenticate")
        # A staff member has no customer profile.
        assert staff_client(["orders.view_order"]).get(path).status_code == 403


def test_a_guest_reads_an_order_by_number_and_email(shop):
    order = place(client(), email="guest@example.jp")
    lookup = "/api/v1/orders/lookup/"

    r = client().post(lookup, {"number": order.number, "email": "Guest@Example.jp"})

    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["number"], body["email"], body["total"]) == (
        order.number,
        "guest@example.jp",
        "3780",
    )
    assert [line["sku"] for line in body["lines"]] == ["TEE-RED-M"]

    wrong_email = client().post(lookup, {"number": order.number, "email": "other@example.jp"})
    unknown = client().post(lookup, {"number": "999999999", "email": "guest@example.jp"})
    assert (wrong_email.status_code, unknown.status_code) == (404, 404)
    # The same answer whether the number or the e-mail is wrong: no oracle for numbers.
    assert wrong_email.json() == unknown.json()
    assert "TEE-RED-M" not in wrong_email.content.decode()


def test_the_order_lookup_is_throttled(shop):
    order = place(client(), email="guest@example.jp")
    guesser = client()

    codes = [
        guesser.post(
            "/api/v1/orders/lookup/", {"number": order.number, "email": f"x{i}@example.jp"}
        ).status_code
        for i in range(11)
    ]

    assert codes == [404] * 10 + [429]


# --- Staff ------------------------------------------------------------------------------------


def test_staff_orders_are_401_for_anonymous_callers(order):
    anonymous = client()

    for r in (
        anonymous.get(STAFF_ORDERS),
        anonymous.get(f"{STAFF_ORDERS}{order.number}/"),
        anonymous.post(f"{STAFF_ORDERS}{order.number}/flag/", {"reason": "x"}),
    ):
        assert r.status_code == 401
        assert r.has_header("WWW-Authenticate")
    assert order_row(order)["flagged"] is False


def test_staff_orders_are_403_for_a_customer_even_with_the_permissions(order, alice):
    # A storefront login given the permissions by mistake is still not staff.
    user = UserFactory(permissions=["orders.view_order", "orders.change_order"])
    for caller in (alice.api, client(token_for(user))):
        assert caller.get(STAFF_ORDERS).status_code == 403
        assert caller.get(f"{STAFF_ORDERS}{order.number}/").status_code == 403
        assert (
            caller.post(f"{STAFF_ORDERS}{order.number}/flag/", {"reason": "x"}).status_code == 403
        )
    assert order_row(order)["flagged"] is False


def test_staff_reads_need_view_order(order, staff_client):
    for permissions in ([], ["orders.change_order"]):
        denied = staff_client(permissions)
        assert denied.get(STAFF_ORDERS).status_code == 403
        assert denied.get(f"{STAFF_ORDERS}{order.number}/").status_code == 403

    viewer = staff_client(["orders.view_order"])
    r = viewer.get(STAFF_ORDERS)
    assert r.status_code == 200, r.content
    assert [o["number"] for o in r.json()["results"]] == [order.number]
    r = viewer.get(f"{STAFF_ORDERS}{order.number}/")
    assert r.status_code == 200
    assert (r.json()["customer_id"], r.json()["total"]) == (order.customer_id, "3780")


@pytest.mark.parametrize(("action", "body"), ACTIONS, ids=[a for a, _ in ACTIONS])
def test_staff_actions_need_change_order(order, staff_client, action, body):
    before = order_row(order)
    history = OrderHistory.objects.filter(order=order).count()

    for permissions in ([], ["orders.view_order"], ["orders.view_order", "orders.add_order"]):
        r = staff_client(permissions).post(f"{STAFF_ORDERS}{order.number}/{action}/", body)
        assert r.status_code == 403, (permissions, r.content)

    assert order_row(order) == before
    assert OrderHistory.objects.filter(order=order).count() == history


def test_staff_with_change_order_alone_can_act(order, staff_client):
    changer = staff_client(["orders.change_order"])
    url = f"{STAFF_ORDERS}{order.number}"

    r = changer.post(f"{url}/flag/", {"reason": "call the buyer"})
    assert r.status_code == 200, r.content
    assert Order.objects.get(pk=order.pk).flagged is True

    r = changer.post(f"{url}/hold/", {"reason": "address check"})
    assert r.status_code == 200, r.content
    assert Order.objects.get(pk=order.pk).status == Order.Status.ON_HOLD

    r = changer.post(f"{url}/release-hold/")
    assert r.status_code == 200, r.content
    assert Order.objects.get(pk=order.pk).status == Order.Status.UNFULFILLED
    held = OrderHistory.objects.get(order=order, kind="held")
    assert held.actor is not None and held.actor.is_staff


def test_staff_cannot_edit_an_order_through_the_resource(order, staff_client):
    everything = staff_client(["orders.view_order", "orders.change_order", "orders.delete_order"])
    before = order_row(order)

    for method in ("put", "patch", "delete"):
        r = getattr(everything, method)(f"{STAFF_ORDERS}{order.number}/", {"total": "1"})
        assert r.status_code == 405, (method, r.status_code)

    assert order_row(order) == before
