"""The fulfilment back office: a phone order taken by an agent (availability check, errors on the
row, nothing placed), shipping and re-routing fulfilments through the actions, the pick list of
a location, the customer 360 page, and who may open them.

Orders are placed through the real checkout services (see tests/fulfilment/conftest.py).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import ProductVariant
from customers import services as customers
from customers.models import EarnRate, LoyaltyProgramme, Tier
from inventory.models import Stock
from orders import services
from orders.models import Cart, Fulfilment, Order, OrderHistory
from tests.fulfilment_admin.conftest import (
    FULFILMENTS,
    JP_ADDRESS,
    PHONE,
    PICK_LIST,
    Omni,
    customer_360_url,
    messages_of,
    phone_form,
    receive,
    staff_client,
    web_order,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]


def on_hand(sku: str, location) -> int:
    return Stock.objects.get(variant__sku=sku, location=location).on_hand


def act(client, action: str, *fulfilments: Fulfilment, **form):
    """Post a fulfilment action, with its form filled in (`apply`) when fields are given."""
    data = {"action": action, "_selected_action": [f.pk for f in fulfilments]}
    if form:
        data.update(apply="1", **form)
    return client.post(FULFILMENTS, data, follow=True)


def test_phone_order_with_cash_on_delivery_for_an_existing_customer(superuser_client, omni: Omni):
    hanako = customers.customer_create(
        email="hanako@example.jp", phone="090-1111-2222", first_name="Hanako", last_name="Yamada"
    )
    changelist = superuser_client.get("/admin/orders/order/")
    assert PHONE in changelist.content.decode()  # "Place phone order"

    start = superuser_client.get(PHONE, {"customer": hanako.pk})
    found = superuser_client.post(
        PHONE, phone_form(channel=omni.phone.pk, find="09011112222", _find="1")
    )
    checked = superuser_client.post(
        PHONE,
        phone_form(
            channel=omni.phone.pk,
            customer=hanako.pk,
            lines="TEE-RED-M 2\nTEA-MATCHA-100",
            _check="1",
        ),
    )

    assert start.status_code == 200
    assert start.context["form"]["customer"].value() == hanako.pk
    assert start.context["form"].channel == omni.phone  # the only active phone channel
    assert [c.pk for c in found.context["matches"]] == [hanako.pk]
    rows = checked.context["checked"]["rows"]
    assert [(r["row"], r["sku"], r["quantity"], r["price"], r["available"]) for r in rows] == [
        (1, "TEE-RED-M", 2, "2980 JPY", 50),
        (2, "TEA-MATCHA-100", 1, "1620 JPY", 50),
    ]
    assert {p["code"]: (p["available"], p["on_hand"]) for p in rows[0]["locations"]} == {
        "tokyo-wh": (50, 50),
        "osaka-wh": (0, 0),
    }
    content = checked.content.decode()
    assert 'class="location-tokyo-wh"' in content and 'class="location-osaka-wh"' in content
    assert Order.objects.count() == 0

    placed = superuser_client.post(
        PHONE,
        phone_form(
            channel=omni.phone.pk,
            customer=hanako.pk,
            lines="TEE-RED-M 2\nTEA-MATCHA-100",
            note="Ring before delivery",
            _place="1",
        ),
        follow=True,
    )

    order = Order.objects.get()
    assert placed.redirect_chain == [(f"/admin/orders/order/{order.pk}/change/", 302)]
    assert order.channel.code == "phone-jp"
    assert order.customer == hanako
    assert order.payment_method == "cod"
    assert order.note == "Ring before delivery"
    assert {line.sku: line.quantity for line in order.lines.all()} == {
        "TEE-RED-M": 2,
        "TEA-MATCHA-100": 1,
    }
    fulfilment = order.fulfilments.get()
    assert (fulfilment.kind, fulfilment.location.code) == ("shipment", "tokyo-wh")
    history = OrderHistory.objects.get(order=order, kind="phone_order")
    assert history.actor.username == "root"
    assert any(f"Order {order.number} placed in Call centre" in m for m in messages_of(placed))
    page = placed.content.decode()
    assert fulfilment.number in page  # the order page's fulfilments table
    assert "Has every line" in page  # and its routing decisions
    assert customer_360_url(hanako.pk) in page


def test_phone_order_errors_name_the_row_and_nothing_is_placed(superuser_client, omni: Omni):
    carts = Cart.objects.count()

    unknown = superuser_client.post(
        PHONE,
        phone_form(
            channel=omni.phone.pk,
            email="new@example.jp",
            lines="TEE-RED-M 1\nNOPE-404 2",
            _place="1",
        ),
    )
    too_many = superuser_client.post(
        PHONE,
        phone_form(
            channel=omni.phone.pk,
            email="new@example.jp",
            lines="TEA-MATCHA-100 1\nTEE-RED-M 60",
            _place="1",
        ),
    )
    no_contact = superuser_client.post(
        PHONE, phone_form(channel=omni.phone.pk, lines="TEE-RED-M 1", _place="1")
    )

    assert unknown.status_code == too_many.status_code == no_contact.status_code == 200
    assert unknown.context["form"].errors["lines"] == ["Row 2 (NOPE-404): there is no such SKU."]
    assert too_many.context["form"].errors["lines"] == [
        "Row 2 (TEE-RED-M): Only 50 of SKU TEE-RED-M are available; 60 were requested."
    ]
    assert too_many.context["checked"]["rows"][1]["enough"] is False  # availability shown
    assert "e-mail or a phone number" in no_contact.context["form"].errors["email"][0]
    assert Order.objects.count() == 0
    assert Cart.objects.count() == carts
    assert on_hand("TEE-RED-M", omni.warehouse) == 50


def test_ship_and_reroute_actions_report_each_fulfilment(superuser_client, omni: Omni):
    receive(ProductVariant.objects.get(sku="TEE-RED-M"), omni.osaka, 3)
    first = web_order(omni, [("TEE-RED-M", 1)]).fulfilments.get()
    second = web_order(omni, [("TEE-RED-M", 2)]).fulfilments.get()
    assert first.location == second.location == omni.warehouse

    no_reason = act(superuser_client, "reroute_selected", second, location="osaka-wh", reason="")
    rerouted = act(
        superuser_client, "reroute_selected", second, location="osaka-wh", reason="Tokyo backlog"
    )
    second.refresh_from_db()
    ship_form = superuser_client.post(
        FULFILMENTS, {"action": "ship_selected", "_selected_action": [first.pk]}
    )
    shipped = act(
        superuser_client,
        "ship_selected",
        first,
        carrier=omni.yamato_carrier.pk,
        **{f"tracking_{first.pk}": "4455-6677"},
    )
    again = act(superuser_client, "ship_selected", first, second, carrier="")
    first.refresh_from_db()
    second.refresh_from_db()

    assert "reason" in no_reason.context["form"].errors
    assert second.location == omni.osaka
    assert "Re-routed by staff from tokyo-wh: Tokyo backlog" in second.routing_reason
    assert OrderHistory.objects.filter(order=second.order, kind="rerouted").count() == 1
    assert second.order.routing[-1]["to"] == "osaka-wh"
    assert "1 fulfilment re-routed." in messages_of(rerouted)
    assert f"tracking_{first.pk}" in ship_form.context["form"].fields
    assert first.state == Fulfilment.State.SHIPPED
    assert first.tracking_number == "4455-6677"
    assert first.tracking_url == "https://track.example.jp/yamato?number=4455-6677"
    assert "1 fulfilment shipped." in messages_of(shipped)
    # Shipping both: the one already gone is refused by name, the other ships from Osaka.
    assert messages_of(again) == [
        f"Fulfilment {first.number}: Fulfilment {first.number} is Shipped; it cannot be shipped.",
        "1 fulfilment shipped.",
    ]
    assert second.state == Fulfilment.State.SHIPPED
    assert on_hand("TEE-RED-M", omni.warehouse) == 49
    assert on_hand("TEE-RED-M", omni.osaka) == 1
    page = superuser_client.get(f"{FULFILMENTS}{second.pk}/change/").content.decode()
    assert "Re-routed by staff from tokyo-wh" in page
    assert "osaka-wh" in page and "Tokyo backlog" in page


def test_pick_list_sums_the_open_fulfilments_of_a_location_by_sku(superuser_client, omni: Omni):
    one = web_order(omni, [("TEE-RED-M", 2), ("TEA-MATCHA-100", 1)]).fulfilments.get()
    two = web_order(omni, [("TEE-RED-M", 1)]).fulfilments.get()
    packed = web_order(omni, [("TEE-RED-M", 5)]).fulfilments.get()
    services.fulfilment_prepare(two, state="picking")
    services.fulfilment_prepare(packed, state="packed")  # already picked: not on the list

    changelist = superuser_client.get(FULFILMENTS, {"location": "tokyo-wh"})
    response = superuser_client.get(PICK_LIST, {"location": "tokyo-wh"})
    elsewhere = superuser_client.get(PICK_LIST, {"location": "osaka-wh"})

    assert sorted(f.pk for f in changelist.context["cl"].result_list) == sorted(
        [one.pk, two.pk, packed.pk]
    )
    assert f"{PICK_LIST}?location=tokyo-wh" in changelist.content.decode()
    assert [(r["sku"], r["quantity"], r["numbers"]) for r in response.context["skus"]] == [
        ("TEA-MATCHA-100", 1, one.number),
        ("TEE-RED-M", 3, f"{one.number}, {two.number}"),
    ]
    assert [f["number"] for f in response.context["fulfilments"]] == [one.number, two.number]
    assert "window.print()" in response.content.decode()
    assert elsewhere.context["skus"] == []


@pytest.fixture
def programme(db) -> LoyaltyProgramme:
    programme = LoyaltyProgramme.objects.create(name="Friends", points_expire_after_days=365)
    EarnRate.objects.create(programme=programme, currency="JPY", spend=D(100), points=1)
    Tier.objects.create(programme=programme, name="Member", threshold=0)
    return programme


def test_customer_360_shows_every_channel_with_a_fixed_number_of_queries(
    superuser_client, omni: Omni, programme
):
    hanako = customers.customer_create(email="hanako@example.jp", first_name="Hanako")
    customers.consent_set(hanako, medium="email", granted=True, source="staff", actor="test")
    customers.loyalty_join(hanako)
    customers.points_adjust(hanako, points=150, reason="Welcome gift")
    web = web_order(omni, [("TEE-RED-M", 1)])  # found by its e-mail at checkout
    parcel = web.fulfilments.get()
    services.fulfilment_ship(parcel, carrier="yamato", tracking_number="9988-7766")
    url = customer_360_url(hanako.pk)

    with CaptureQueriesContext(connection) as one_order:
        first = superuser_client.get(url)
    phone = services.phone_order_place(
        channel="phone-jp",
        lines=[services.SkuLine("TEA-MATCHA-100", 1)],
        payment=services.PaymentInput(method="cod"),
        customer=hanako,
        shipping_address=JP_ADDRESS,
        shipping_method="yamato",
    )
    web_order(omni, [("TEE-BLUE-M", 1)], method="bank_transfer")
    with CaptureQueriesContext(connection) as three_orders:
        response = superuser_client.get(url)

    assert first.status_code == response.status_code == 200
    assert len(first.context["orders"]) == 1
    assert len(response.context["orders"]) == 3
    assert len(three_orders) == len(one_order)
    assert response.context["channels"] == ["Call centre", "Web shop Japan"]
    content = response.content.decode()
    assert f'href="/admin/orders/order/{phone.pk}/change/"' in content
    assert 'href="https://track.example.jp/yamato?number=9988-7766"' in content
    loyalty = response.context["loyalty"]
    assert (loyalty["balance"], loyalty["entries"][0]["reason"]) == (150, "Welcome gift")
    consents = {c["medium"]: c["answer"] for c in response.context["consents"]}
    assert consents["E-mail"] == "opted in" and consents["SMS"] == "never asked (no)"
    assert f"{PHONE}?customer={hanako.pk}" in content  # "Place phone order"
    profile = superuser_client.get(f"/admin/customers/customer/{hanako.pk}/change/")
    assert url in profile.content.decode()


def test_phone_order_and_customer_360_need_their_permissions(omni: Omni):
    hanako = customers.customer_create(email="hanako@example.jp")
    nobody = staff_client()
    agent = staff_client("orders.add_order", "orders.view_order")

    assert nobody.get(PHONE).status_code == 403
    assert (
        nobody.post(
            PHONE,
            phone_form(channel=omni.phone.pk, customer=hanako.pk, lines="TEE-RED-M 1", _place="1"),
        ).status_code
        == 403
    )
    assert nobody.get(customer_360_url(hanako.pk)).status_code == 403
    assert agent.get(PHONE).status_code == 200
    assert agent.get(customer_360_url(hanako.pk)).status_code == 403  # no customers.view
    assert Order.objects.count() == 0
