"""The orders back office: the order list with its filters and search, the read-only order page,
the actions (each calls a service: rows are asserted, not pages), and the read-only carts,
payments, notifications and idempotency keys; shipping methods are edited with their rates.

Every order is placed by a checkout through `orders.services` (see conftest.py).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.forms import CheckboxInput
from django.test import Client
from django.utils import timezone

from commerce.models import Channel, OutboxEvent
from commerce.money import quantize
from inventory.models import Reservation
from orders import services
from orders.core.idempotency import idempotency_begin
from orders.models import (
    Cart,
    IdempotencyRecord,
    Order,
    OrderHistory,
    Payment,
    PaymentNotification,
    ShippingMethod,
    ShippingRate,
    Transaction,
)
from tests.conftest import HTTPS
from tests.factories import StaffFactory
from tests.orders.conftest import JP_ADDRESS, NY_ADDRESS
from tests.orders_admin.conftest import place_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

ORDERS = "/admin/orders/order/"
CARTS = "/admin/orders/cart/"
METHODS = "/admin/orders/shippingmethod/"
PAYMENTS = "/admin/orders/payment/"
NOTIFICATIONS = "/admin/orders/paymentnotification/"
KEYS = "/admin/orders/idempotencyrecord/"
SUZUKI = {**JP_ADDRESS, "first_name": "Taro", "last_name": "Suzuki"}


def change_url(order: Order) -> str:
    return f"{ORDERS}{order.pk}/change/"


def listed(response) -> list[int]:
    assert response.status_code == 200
    return sorted(o.pk for o in response.context["cl"].result_list)


def action_choices(response) -> list[str]:
    form = response.context["action_form"]
    if form is None:
        return []
    return [name for name, _label in form.fields["action"].choices if name]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def run(client: Client, action: str, *orders: Order, follow: bool = True, **form):
    """Post an action for the orders, with its form filled in (`apply`) when fields are given."""
    data = {"action": action, "_selected_action": [o.pk for o in orders]}
    if form:
        data.update(apply="1", **form)
    return client.post(ORDERS, data, follow=follow)


def staff_client(*permissions: str) -> Client:
    client = Client(**HTTPS)
    client.force_login(StaffFactory(permissions=list(permissions)))
    return client


def history(order: Order) -> list[str]:
    return list(OrderHistory.objects.filter(order=order).values_list("kind", flat=True))


def events(order: Order) -> list[str]:
    return list(
        OutboxEvent.objects.filter(subject_type="order", subject_id=str(order.pk))
        .order_by("id")
        .values_list("type", flat=True)
    )


def transactions(order: Order) -> list[tuple[str, str, D, str]]:
    return [
        (t.kind, t.status, t.amount, t.source)
        for t in Transaction.objects.filter(payment__order=order).order_by("id")
    ]


@pytest.fixture
def authorize_only(settings) -> None:
    """Cards are authorized at checkout and captured by staff later."""
    settings.ORDERS_CARD_CAPTURE = "authorize"


# --- Changelist ------------------------------------------------------------------------------


@pytest.fixture
def three(shop) -> dict[str, Order]:
    """A paid card order (JP), a bank transfer awaiting payment (JP) and a flagged US order."""
    card = place_order(email="hanako@example.jp")
    transfer = place_order(
        method="bank_transfer",
        email="taro@example.jp",
        lines={"TEA-MATCHA-100": 2},
        address=SUZUKI,
    )
    us = place_order(
        channel="web-us",
        email="ann@example.com",
        lines={"TEE-BLUE-M": 1},
        address=NY_ADDRESS,
        shipping_method="ground",
    )
    services.order_flag(us, reason="Address check")
    return {"card": card, "transfer": transfer, "us": us}


def test_changelist_shows_the_columns(superuser_client, three):
    response = superuser_client.get(ORDERS)

    assert listed(response) == sorted(o.pk for o in three.values())
    content = response.content.decode()
    card, us = three["card"], three["us"]
    assert card.number in content
    assert "Yamada Hanako · hanako@example.jp" in content  # family name first (ja)
    assert "Web shop Japan" in content
    assert "3780 JPY" in content  # 2980 + 800 shipping, in whole yen
    assert f"{quantize(us.total, 'USD')} USD" in content
    assert "Awaiting payment" in content
    assert "Unconfirmed" in content


def test_changelist_filters(superuser_client, three):
    today = timezone.localdate()
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    web_us = Channel.objects.get(code="web-us")
    cases = [
        ({"channel__id__exact": web_us.pk}, ["us"]),
        ({"status__exact": "unconfirmed"}, ["transfer"]),
        ({"status__exact": "unfulfilled"}, ["card", "us"]),
        ({"payment_status__exact": "awaiting"}, ["transfer"]),
        ({"payment_status__exact": "paid"}, ["card", "us"]),
        ({"payment_method__exact": "bank_transfer"}, ["transfer"]),
        ({"payment_method__exact": "card"}, ["card", "us"]),
        ({"flagged__exact": "1"}, ["us"]),
        ({"flagged__exact": "0"}, ["card", "transfer"]),
        (
            {"placed_at__gte": str(midnight), "placed_at__lt": str(midnight + timedelta(days=1))},
            ["card", "transfer", "us"],
        ),
        (
            {
                "placed_at__gte": str(midnight - timedelta(days=30)),
                "placed_at__lt": str(midnight - timedelta(days=7)),
            },
            [],
        ),
        (
            {"placed_at__year": today.year, "placed_at__month": today.month},
            ["card", "transfer", "us"],
        ),
        ({"placed_at__year": today.year - 1}, []),
    ]
    for params, expected in cases:
        response = superuser_client.get(ORDERS, params)

        assert listed(response) == sorted(three[name].pk for name in expected), params


def test_changelist_search(superuser_client, three):
    cases = [
        (three["card"].number, ["card"]),
        ("hanako@example", ["card"]),
        ("TARO@EXAMPLE.JP", ["transfer"]),
        ("Suzuki", ["transfer"]),
        ("Hanako Yamada", ["card"]),
        ("Lee", ["us"]),
        ("TEA-MATCHA-100", ["transfer"]),
        ("TEE-", ["card", "us"]),
        ("nobody@example.org", []),
    ]
    for term, expected in cases:
        response = superuser_client.get(ORDERS, {"q": term})

        assert listed(response) == sorted(three[name].pk for name in expected), term


def test_orders_cannot_be_added_or_deleted(superuser_client, shop):
    order = place_order()

    changelist = superuser_client.get(ORDERS)
    add = superuser_client.get(f"{ORDERS}add/")
    delete = superuser_client.get(f"{ORDERS}{order.pk}/delete/")
    delete_post = superuser_client.post(f"{ORDERS}{order.pk}/delete/", {"post": "yes"})

    assert f"{ORDERS}add/" not in changelist.content.decode()
    assert "delete_selected" not in action_choices(changelist)
    assert add.status_code == delete.status_code == delete_post.status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()


# --- The order page --------------------------------------------------------------------------


def test_order_page_shows_lines_totals_addresses_transactions_and_timeline(superuser_client, shop):
    order = place_order(lines={"TEE-RED-M": 1, "TEA-MATCHA-100": 1})
    capture = Transaction.objects.get(payment__order=order)
    services.order_hold(order, reason="Call the customer")

    response = superuser_client.get(change_url(order))

    assert response.status_code == 200
    content = response.content.decode()
    # lines
    assert "TEE-RED-M" in content
    assert "Everyday Tee / Red / M" in content
    assert "TEA-MATCHA-100" in content
    assert "2980 JPY" in content and "1620 JPY" in content
    # totals, with tax by rate: standard 10 % and reduced 8 % (food)
    assert "Tax at 10 % on" in content
    assert "Tax at 8 % on" in content
    assert "Tax (included in prices)" in content
    assert f"{order.total.normalize():f} JPY" in content
    # addresses
    assert "1-2-3 Jingumae" in content
    assert "150-0001 Tokyo Shibuya-ku" in content
    # transactions through the payment
    assert capture.gateway_reference.startswith("pay_")
    assert capture.gateway_reference in content
    assert "Capture" in content and "Succeeded" in content
    assert f"{PAYMENTS}{capture.payment_id}/change/" in content
    # timeline: history and the outbox events
    assert "Order placed in Web shop Japan" in content
    assert "Put on hold: Call the customer" in content
    assert "order.placed" in content
    assert "order.paid" in content
    assert "order.updated" in content


def test_order_page_is_read_only(superuser_client, shop):
    order = place_order()
    page = change_url(order)

    view = superuser_client.get(page)
    post = superuser_client.post(page, {"status": "cancelled", "flagged": "on", "note": "x"})

    content = view.content.decode()
    assert 'name="_save"' not in content
    assert 'name="status"' not in content
    assert 'name="email"' not in content
    assert f"{ORDERS}{order.pk}/delete/" not in content
    assert post.status_code == 403
    order.refresh_from_db()
    assert (order.status, order.flagged, order.note) == ("unfulfilled", False, "")


def test_order_page_offers_the_actions_to_staff_who_may_change_orders(shop):
    order = place_order()
    viewer = staff_client("orders.view_order")
    changer = staff_client("orders.view_order", "orders.change_order")

    seen = viewer.get(change_url(order))
    offered = changer.get(change_url(order))

    assert seen.status_code == offered.status_code == 200
    assert "TEE-RED-M" in seen.content.decode()  # the whole page, from the view permission
    assert 'id="order-actions"' not in seen.content.decode()
    assert 'id="order-actions"' in offered.content.decode()
    assert 'value="refund_selected"' in offered.content.decode()


def test_an_action_run_from_the_order_page_returns_to_it(superuser_client, shop):
    order = place_order()
    start = {"action": "hold_selected", "_selected_action": [order.pk], "_from_order": "1"}

    form_page = superuser_client.post(ORDERS, start)

    assert form_page.status_code == 200
    assert 'name="_from_order"' in form_page.content.decode()
    response = superuser_client.post(ORDERS, {**start, "apply": "1", "reason": "Fraud check"})

    assert response.status_code == 302
    assert response["Location"] == change_url(order)
    order.refresh_from_db()
    assert order.status == "on_hold"


# --- Actions ---------------------------------------------------------------------------------


def test_capture_of_the_whole_authorization(superuser_client, shop, authorize_only):
    order = place_order()
    assert (order.payment_status, order.authorized_total) == ("authorized", D("3780"))

    form_page = run(superuser_client, "capture_selected", order, follow=False)
    assert form_page.status_code == 200
    assert "Capture authorized payments" in form_page.content.decode()

    response = run(superuser_client, "capture_selected", order, amount="")

    assert messages_of(response) == ["1 order captured."]
    order.refresh_from_db()
    assert (order.payment_status, order.paid_total, order.authorized_total) == (
        "paid",
        D("3780"),
        D("0"),
    )
    assert transactions(order) == [
        ("authorize", "success", D("3780"), "api"),
        ("capture", "success", D("3780"), "staff"),
    ]
    captured = OrderHistory.objects.get(order=order, kind="captured")
    assert captured.actor.username == "root"
    assert "order.paid" in events(order)


def test_capture_of_part_then_the_rest(superuser_client, shop, authorize_only):
    order = place_order()

    run(superuser_client, "capture_selected", order, amount="1000")
    order.refresh_from_db()
    assert (order.payment_status, order.paid_total, order.authorized_total) == (
        "partially_paid",
        D("1000"),
        D("2780"),
    )

    run(superuser_client, "capture_selected", order, amount="")
    order.refresh_from_db()
    assert (order.payment_status, order.paid_total) == ("paid", D("3780"))
    assert [t[:3] for t in transactions(order)] == [
        ("authorize", "success", D("3780")),
        ("capture", "success", D("1000")),
        ("capture", "success", D("2780")),
    ]


def test_a_refused_capture_is_an_error_naming_the_order_and_the_others_go_on(
    superuser_client, shop, authorize_only
):
    refused = place_order(token="tok_capture_fails", email="a@example.jp")
    fine = place_order(email="b@example.jp")
    superuser_client.raise_request_exception = False  # a crash must show as a 500 here

    response = run(superuser_client, "capture_selected", refused, fine, amount="")

    assert response.status_code == 200
    assert messages_of(response) == [
        f"Order {refused.number}: Capture refused by the issuer.",
        "1 order captured.",
    ]
    refused.refresh_from_db()
    fine.refresh_from_db()
    assert (refused.payment_status, refused.paid_total, refused.flagged) == (
        "authorized",
        D("0"),
        True,
    )
    assert transactions(refused)[-1][:2] == ("capture", "failure")
    assert "capture_failed" in history(refused)
    assert fine.payment_status == "paid"


def test_capture_of_an_order_with_nothing_authorized_is_an_error(superuser_client, shop):
    order = place_order()  # captured at checkout

    response = run(superuser_client, "capture_selected", order, amount="")

    assert messages_of(response) == [
        f"Order {order.number}: Only 0 JPY is authorized and not yet captured."
    ]
    assert len(transactions(order)) == 1


def test_refund_asks_amount_and_reason_then_refunds_through_the_gateway(superuser_client, shop):
    order = place_order()

    form_page = run(superuser_client, "refund_selected", order, follow=False)

    assert form_page.status_code == 200
    assert form_page.context["form"]["amount"].value() == D("3780")  # the refundable
    assert order.number in form_page.content.decode()

    response = run(superuser_client, "refund_selected", order, amount="1000", reason="Damaged")

    assert messages_of(response) == ["1 order refunded."]
    order.refresh_from_db()
    assert (order.payment_status, order.paid_total, order.refunded_total) == (
        "partially_refunded",
        D("3780"),
        D("1000"),
    )
    refund = Transaction.objects.get(payment__order=order, kind="refund")
    assert (refund.status, refund.amount, refund.source, refund.note) == (
        "success",
        D("1000"),
        "staff",
        "Damaged",
    )
    assert refund.gateway_reference.startswith("re_")
    entry = OrderHistory.objects.get(order=order, kind="refunded")
    assert "Damaged" in entry.message
    assert entry.actor.username == "root"
    assert events(order)[-1] == "order.refunded"


@pytest.mark.parametrize("amount", ["3781", "5000"])
def test_refund_above_the_refundable_is_a_form_error_and_changes_nothing(
    superuser_client, shop, amount
):
    order = place_order()
    services.payment_refund(order, amount=D("780"), reason="Goodwill")  # 3000 left
    before = (transactions(order), history(order), events(order))

    response = run(superuser_client, "refund_selected", order, amount=amount, reason="Too much")

    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == [
        f"Order {order.number}: at most 3000 JPY can be refunded."
    ]
    assert "at most 3000 JPY can be refunded" in response.content.decode()
    assert (transactions(order), history(order), events(order)) == before
    order.refresh_from_db()
    assert order.refunded_total == D("780")


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("0", "Give a positive amount."),
        ("-5", "Give a positive amount."),
        ("10.5", "is not an amount in JPY"),
    ],
)
def test_refund_of_a_non_positive_or_fractional_amount_is_a_form_error(
    superuser_client, shop, amount, error
):
    order = place_order()

    response = run(superuser_client, "refund_selected", order, amount=amount, reason="x")

    assert response.status_code == 200
    assert error in response.context["form"].errors["amount"][0]
    assert not Transaction.objects.filter(kind="refund").exists()


def test_refund_needs_a_reason(superuser_client, shop):
    order = place_order()

    response = run(superuser_client, "refund_selected", order, amount="100", reason="")

    assert "reason" in response.context["form"].errors
    assert not Transaction.objects.filter(kind="refund").exists()


def test_settle_of_cash_on_delivery_records_the_balance_due(superuser_client, shop):
    order = place_order(method="cod")
    assert (order.status, order.payment_status) == ("unfulfilled", "awaiting")

    response = run(superuser_client, "settle_selected", order, amount="", note="Courier slip 42")

    assert messages_of(response) == ["Payment recorded for 1 order."]
    order.refresh_from_db()
    assert (order.payment_status, order.paid_total) == ("paid", D("3780"))
    assert transactions(order) == [("capture", "success", D("3780"), "staff")]
    assert Transaction.objects.get(payment__order=order).note == "Courier slip 42"
    assert "settled" in history(order)


def test_settle_of_a_bank_transfer_lets_the_order_ship(superuser_client, shop):
    order = place_order(method="bank_transfer")
    assert order.status == "unconfirmed"

    run(superuser_client, "settle_selected", order, amount="3780", note="")

    order.refresh_from_db()
    assert (order.status, order.payment_status) == ("unfulfilled", "paid")


def test_settle_of_a_card_order_is_an_error_and_the_others_are_settled(superuser_client, shop):
    card = place_order(email="card@example.jp")
    cod = place_order(method="cod", email="cod@example.jp")

    response = run(superuser_client, "settle_selected", card, cod, amount="", note="")

    assert messages_of(response) == [
        f"Order {card.number}: Nothing is due.",
        "Payment recorded for 1 order.",
    ]
    response = run(superuser_client, "settle_selected", card, amount="100", note="")

    assert messages_of(response) == [
        f"Order {card.number}: Card payments are settled by the gateway; capture instead."
    ]
    assert transactions(card) == [("capture", "success", D("3780"), "api")]
    cod.refresh_from_db()
    assert cod.payment_status == "paid"


def test_cancel_releases_stock_refunds_and_writes_history(superuser_client, shop):
    order = place_order(lines={"TEE-RED-M": 2})
    assert Reservation.objects.filter(reference=order.reference, state="active").exists()

    response = run(superuser_client, "cancel_selected", order, reason="Customer asked")

    assert messages_of(response) == ["1 order cancelled."]
    order.refresh_from_db()
    assert (order.status, order.payment_status, order.refunded_total) == (
        "cancelled",
        "refunded",
        order.total,
    )
    assert order.cancelled_at is not None
    assert transactions(order)[-1] == ("refund", "success", order.total, "staff")
    assert not Reservation.objects.filter(reference=order.reference, state="active").exists()
    assert history(order)[-2:] == ["refunded", "cancelled"]
    assert OrderHistory.objects.get(order=order, kind="cancelled").message == (
        "Order cancelled: Customer asked"
    )
    assert events(order)[-1] == "order.cancelled"


def test_cancel_of_an_authorized_order_voids_the_authorization(
    superuser_client, shop, authorize_only
):
    order = place_order()

    run(superuser_client, "cancel_selected", order, reason="Out of stock at the store")

    order.refresh_from_db()
    assert (order.status, order.payment_status, order.authorized_total) == (
        "cancelled",
        "not_charged",
        D("0"),
    )
    assert [t[:2] for t in transactions(order)] == [
        ("authorize", "success"),
        ("void", "success"),
    ]
    assert Payment.objects.get(order=order).status == "voided"


def test_cancel_of_several_reports_the_one_that_cannot_and_cancels_the_rest(superuser_client, shop):
    done = place_order(email="done@example.jp")
    services.order_cancel(done, reason="Earlier")
    open_order = place_order(email="open@example.jp")
    cancelled_before = history(done)

    response = run(superuser_client, "cancel_selected", done, open_order, reason="Duplicate")

    assert messages_of(response) == [
        f"Order {done.number}: An order that is Cancelled cannot become Cancelled.",
        "1 order cancelled.",
    ]
    assert history(done) == cancelled_before
    open_order.refresh_from_db()
    assert open_order.status == "cancelled"


def test_hold_then_release(superuser_client, shop):
    order = place_order()

    run(superuser_client, "hold_selected", order, reason="Fraud check")
    order.refresh_from_db()
    assert (order.status, order.status_before_hold) == ("on_hold", "unfulfilled")

    response = run(superuser_client, "release_selected", order)

    assert messages_of(response) == ["1 order released."]
    order.refresh_from_db()
    assert (order.status, order.status_before_hold) == ("unfulfilled", "")
    assert history(order)[-2:] == ["held", "released"]
    held = OrderHistory.objects.get(order=order, kind="held")
    assert (held.message, held.actor.username) == ("Put on hold: Fraud check", "root")


def test_hold_needs_a_reason(superuser_client, shop):
    order = place_order()

    response = run(superuser_client, "hold_selected", order, reason="")

    assert "reason" in response.context["form"].errors
    order.refresh_from_db()
    assert order.status == "unfulfilled"


def test_release_of_an_order_not_on_hold_is_an_error(superuser_client, shop):
    order = place_order()

    response = run(superuser_client, "release_selected", order)

    assert messages_of(response) == [f"Order {order.number}: The order is not on hold."]
    assert "released" not in history(order)


def test_flag_then_unflag(superuser_client, shop):
    order = place_order()

    response = run(superuser_client, "flag_selected", order, reason="Gift wrap missing")

    assert messages_of(response) == ["1 order flagged."]
    order.refresh_from_db()
    assert (order.flagged, order.flag_reason) == (True, "Gift wrap missing")

    run(superuser_client, "unflag_selected", order)

    order.refresh_from_db()
    assert (order.flagged, order.flag_reason) == (False, "")
    assert history(order)[-2:] == ["flagged", "unflagged"]


def test_confirm_of_an_unconfirmed_order_and_of_one_already_confirmed(superuser_client, shop):
    transfer = place_order(method="bank_transfer", email="t@example.jp")
    card = place_order(email="c@example.jp")

    response = run(superuser_client, "confirm_selected", transfer, card)

    assert messages_of(response) == [
        f"Order {card.number}: An order that is Unfulfilled cannot become Unfulfilled.",
        "1 order confirmed.",
    ]
    transfer.refresh_from_db()
    assert transfer.status == "unfulfilled"
    assert history(transfer)[-1] == "confirmed"
    assert "confirmed" not in history(card)


# --- Permissions -----------------------------------------------------------------------------


def test_staff_without_the_change_permission_cannot_run_actions(shop):
    order = place_order()
    viewer = staff_client("orders.view_order")
    before = (transactions(order), history(order))

    changelist = viewer.get(ORDERS)
    held = run(viewer, "hold_selected", order, reason="Sneaky")
    refunded = run(viewer, "refund_selected", order, amount="3780", reason="Sneaky")
    cancelled = run(viewer, "cancel_selected", order, reason="Sneaky")

    assert changelist.status_code == 200
    assert listed(changelist) == [order.pk]
    assert action_choices(changelist) == []
    assert held.status_code == refunded.status_code == cancelled.status_code == 200
    order.refresh_from_db()
    assert (order.status, order.refunded_total) == ("unfulfilled", D("0"))
    assert (transactions(order), history(order)) == before


def test_staff_with_the_change_permission_run_actions_in_their_name(shop):
    order = place_order()
    staff = staff_client("orders.view_order", "orders.change_order")

    run(staff, "flag_selected", order, reason="Check address")

    order.refresh_from_db()
    assert order.flagged
    flagged = OrderHistory.objects.get(order=order, kind="flagged")
    assert flagged.actor is not None and flagged.actor.username != "root"


# --- Carts -----------------------------------------------------------------------------------


def test_carts_are_listed_read_only_without_their_token(superuser_client, shop):
    web_jp = Channel.objects.get(code="web-jp")
    cart = services.cart_create(channel=web_jp, email="browsing@example.jp")
    services.cart_line_set(cart, sku="TEE-BLUE-M", quantity=2)
    services.cart_line_set(cart, sku="TEA-MATCHA-100", quantity=1)
    order = place_order()

    changelist = superuser_client.get(CARTS)
    open_only = superuser_client.get(CARTS, {"state__exact": "open"})
    by_channel = superuser_client.get(CARTS, {"channel__id__exact": web_jp.pk})
    page = superuser_client.get(f"{CARTS}{cart.pk}/change/")
    post = superuser_client.post(f"{CARTS}{cart.pk}/change/", {"email": "x@example.com"})
    placed = superuser_client.get(f"{CARTS}{order.cart_id}/change/")

    assert listed(changelist) == sorted([cart.pk, order.cart_id])
    content = changelist.content.decode()
    assert f"{cart.token[:8]}…" in content
    assert cart.token not in content
    assert "browsing@example.jp" in content
    assert [c.line_count for c in changelist.context["cl"].result_list if c.pk == cart.pk] == [2]
    assert listed(open_only) == [cart.pk]
    assert listed(by_channel) == sorted([cart.pk, order.cart_id])
    assert page.status_code == 200
    assert "TEE-BLUE-M" in page.content.decode()
    assert "TEA-MATCHA-100" in page.content.decode()
    assert cart.token not in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert post.status_code == 403
    assert change_url(order) in placed.content.decode()
    assert superuser_client.get(f"{CARTS}add/").status_code == 403
    cart.refresh_from_db()
    assert cart.email == "browsing@example.jp"
    assert Cart.objects.get(pk=order.cart_id).state == "completed"


# --- Shipping methods ------------------------------------------------------------------------


def form_data(response) -> dict:
    """The POST a browser sends back from an admin change page, unchanged."""
    data: dict = {}

    def add(form) -> None:
        for name, field in form.fields.items():
            key, value = form.add_prefix(name), form[name].value()
            if isinstance(field.widget, CheckboxInput):
                if value:
                    data[key] = "on"
            elif value is not None:
                data[key] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def test_shipping_methods_are_edited_with_their_rates(superuser_client, shop):
    changelist = superuser_client.get(METHODS)
    page = f"{METHODS}{shop.yamato.pk}/change/"
    response = superuser_client.get(page)

    assert changelist.status_code == 200
    assert sorted(m.code for m in changelist.context["cl"].result_list) == ["ground", "yamato"]
    assert response.status_code == 200
    assert "Okinawa" in response.content.decode()

    data = form_data(response)
    total = int(data["rates-TOTAL_FORMS"])
    data.update(
        {
            "rates-TOTAL_FORMS": str(total + 1),
            f"rates-{total}-country": "jp",
            f"rates-{total}-region": "Hokkaido",
            f"rates-{total}-from_threshold": "0",
            f"rates-{total}-price": "1400",
        }
    )
    saved = superuser_client.post(page, data)

    assert saved.status_code == 302
    rate = ShippingRate.objects.get(method=shop.yamato, region="Hokkaido")
    assert (rate.country, rate.price) == ("JP", D("1400"))
    assert ShippingMethod.objects.get(pk=shop.yamato.pk).rates.count() == 4


def test_a_shipping_rate_with_a_bad_country_is_a_form_error(superuser_client, shop):
    page = f"{METHODS}{shop.yamato.pk}/change/"
    data = form_data(superuser_client.get(page))
    total = int(data["rates-TOTAL_FORMS"])
    data.update(
        {
            "rates-TOTAL_FORMS": str(total + 1),
            f"rates-{total}-country": "J1",
            f"rates-{total}-price": "1400",
            f"rates-{total}-from_threshold": "0",
        }
    )

    response = superuser_client.post(page, data)

    assert response.status_code == 200
    assert "two-letter ISO 3166 country code" in response.content.decode()
    assert shop.yamato.rates.count() == 3


# --- Payments, notifications, idempotency keys -----------------------------------------------


def test_payments_are_read_only_with_their_transactions_and_no_card_token(superuser_client, shop):
    order = place_order()
    services.payment_refund(order, amount=D("500"), reason="Late")
    payment = Payment.objects.get(order=order)

    changelist = superuser_client.get(PAYMENTS)
    page = superuser_client.get(f"{PAYMENTS}{payment.pk}/change/")
    post = superuser_client.post(f"{PAYMENTS}{payment.pk}/change/", {"status": "voided"})

    assert [p.pk for p in changelist.context["cl"].result_list] == [payment.pk]
    assert "3780 JPY" in changelist.content.decode()
    content = page.content.decode()
    assert page.status_code == 200
    for t in Transaction.objects.filter(payment=payment):
        assert t.gateway_reference in content
    assert "Late" in content
    assert "tok_visa" not in content
    assert 'name="_save"' not in content
    assert post.status_code == 403
    assert superuser_client.get(f"{PAYMENTS}add/").status_code == 403
    assert Payment.objects.get(pk=payment.pk).status == "captured"


def test_payment_notifications_and_idempotency_keys_are_read_only(superuser_client, shop):
    services.notification_handle(
        "test", {"id": "evt_123", "type": "payment.captured", "merchant_reference": "nope"}
    )
    idempotency_begin(scope="user:1", key="key-abc", fingerprint="f" * 64)
    notification = PaymentNotification.objects.get()
    record = IdempotencyRecord.objects.get()

    notifications = superuser_client.get(NOTIFICATIONS)
    keys = superuser_client.get(KEYS)
    notification_page = superuser_client.get(f"{NOTIFICATIONS}{notification.pk}/change/")
    key_page = superuser_client.get(f"{KEYS}{record.pk}/change/")

    assert "evt_123" in notifications.content.decode()
    assert "unknown_payment" in notifications.content.decode()
    assert "key-abc" in keys.content.decode()
    assert notification_page.status_code == key_page.status_code == 200
    assert 'name="_save"' not in notification_page.content.decode()
    assert 'name="_save"' not in key_page.content.decode()
    for url in (NOTIFICATIONS, KEYS):
        assert superuser_client.get(f"{url}add/").status_code == 403
    assert superuser_client.post(f"{KEYS}{record.pk}/change/", {"key": "other"}).status_code == 403
    assert superuser_client.post(f"{KEYS}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert IdempotencyRecord.objects.get().key == "key-abc"
