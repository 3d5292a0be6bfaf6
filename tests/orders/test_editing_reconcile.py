"""Editing an order before it ships, and reconciling payments."""

from __future__ import annotations

import io
from decimal import Decimal as D

import pytest
from django.core.management import CommandError, call_command

from commerce.errors import Conflict
from commerce.models import OutboxEvent
from inventory.models import Reservation
from orders import services
from orders.models import Order, Transaction
from orders.payments.services import PaymentDeclined
from tests.orders.conftest import JP_ADDRESS


def place(shop, lines, *, token="tok_visa", method="card", email="buyer@example.jp"):
    channel = shop.tee.channel_listings.get(channel__code="web-jp").channel
    cart = services.cart_create(channel=channel)
    for sku, quantity in lines:
        services.cart_line_set(cart, sku=sku, quantity=quantity)
    services.cart_update(cart, email=email, shipping_address=JP_ADDRESS, shipping_method="yamato")
    return services.checkout_complete(
        cart, payment=services.PaymentInput(method=method, token=token)
    )


def allocated(order: Order) -> dict[int, int]:
    totals: dict[int, int] = {}
    for r in Reservation.objects.filter(reference=order.reference, state="active", kind="order"):
        totals[r.variant_id] = totals.get(r.variant_id, 0) + r.quantity
    return totals


@pytest.mark.django_db
def test_lowering_a_quantity_refunds_the_difference_and_moves_the_allocation(shop):
    # 2 x 2980 = 5960, shipping free from 5000: 5960 paid
    order = place(shop, [("TEE-RED-M", 2)])
    assert order.total == D("5960") and order.paid_total == D("5960")
    line = order.lines.get()
    edited = services.order_edit(order, quantities={line.pk: 1}, reason="customer called")
    # 2980, shipping stays as sold (free): 2980 refunded through the gateway
    assert edited.total == D("2980")
    assert edited.refunded_total == D("2980")
    assert edited.payment_status == "partially_refunded"
    assert allocated(edited) == {shop.tee_red.pk: 1}
    assert edited.history.filter(kind="edited").exists()
    refunds = Transaction.objects.filter(payment__order=order, kind="refund", status="success")
    assert sum(t.amount for t in refunds) == D("2980")
    assert OutboxEvent.objects.filter(
        type="order.updated", subject_id=str(order.pk), payload__change="edited"
    ).exists()


@pytest.mark.django_db
def test_adding_a_line_charges_the_extra_and_allocates_it(shop):
    order = place(shop, [("TEE-RED-M", 1)])  # 2980 + 800 = 3780
    edited = services.order_edit(order, add=[("TEA-MATCHA-100", 2)])
    # + 2 x 1620 = 3240 → 7020; shipping kept as sold (800)
    assert edited.total == D("7020")
    assert edited.paid_total == D("7020")
    assert edited.payment_status == "paid"
    assert allocated(edited) == {shop.tee_red.pk: 1, shop.matcha.variants.get().pk: 2}
    matcha = edited.lines.get(sku="TEA-MATCHA-100")
    # reduced 8 % band: 3240 x 8 / 108 = 240 exactly
    assert matcha.tax == D("240")


@pytest.mark.django_db
def test_an_edit_that_needs_more_stock_than_there_is_changes_nothing(shop):
    order = place(shop, [("TEE-RED-M", 1)])
    line = order.lines.get()
    with pytest.raises(Conflict):
        services.order_edit(order, quantities={line.pk: 500})
    order.refresh_from_db()
    assert order.total == D("3780")
    assert order.lines.get().quantity == 1
    assert allocated(order) == {shop.tee_red.pk: 1}


@pytest.mark.django_db
def test_a_declined_extra_charge_keeps_the_edit_and_flags_the_order(shop):
    order = place(shop, [("TEE-RED-M", 1)])
    order.payments.update(token="tok_declined")
    with pytest.raises(PaymentDeclined):
        services.order_edit(order, add=[("TEE-BLUE-M", 1)])
    order.refresh_from_db()
    assert order.total == D("3780") + D("3280")
    assert order.flagged and "declined" in order.flag_reason
    assert order.balance_due == D("3280")


@pytest.mark.django_db
def test_a_cancelled_order_cannot_be_edited(shop):
    order = place(shop, [("TEE-RED-M", 1)])
    services.order_cancel(order, reason="test")
    with pytest.raises(Conflict):
        services.order_edit(order, quantities={order.lines.get().pk: 2})


@pytest.mark.django_db
def test_reconcile_lists_an_order_whose_totals_drifted_and_fixes_it(shop):
    order = place(shop, [("TEE-RED-M", 1)])
    call_command("reconcile_payments", stdout=io.StringIO())  # clean: no error
    Order.objects.filter(pk=order.pk).update(paid_total=D("1"))
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("reconcile_payments", stdout=out)
    assert order.number in out.getvalue()
    call_command("reconcile_payments", "--fix", stdout=io.StringIO())
    order.refresh_from_db()
    assert order.paid_total == D("3780")


@pytest.mark.django_db
def test_reconcile_compares_a_settlement_file(shop, tmp_path):
    order = place(shop, [("TEE-RED-M", 1)])
    capture = Transaction.objects.get(payment__order=order, kind="capture")
    good = tmp_path / "good.csv"
    good.write_text(
        f"reference,kind,amount,currency\n{capture.gateway_reference},capture,3780,JPY\n"
    )
    call_command("reconcile_payments", "--settlement", str(good), stdout=io.StringIO())
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "reference,kind,amount,currency\n"
        f"{capture.gateway_reference},capture,3700,JPY\n"
        "cap_unknown,capture,100,JPY\n"
    )
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("reconcile_payments", "--settlement", str(bad), stdout=out)
    text = out.getvalue()
    assert "settlement_amount" in text and "cap_unknown" in text


@pytest.mark.django_db
def test_staff_edit_through_the_api(shop, api_client):
    from django.contrib.auth.models import Permission

    from tests.factories import StaffFactory, token_for

    order = place(shop, [("TEE-RED-M", 1)])
    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="change_order"))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(staff)}")
    r = api_client.post(
        f"/api/v1/staff/orders/{order.number}/edit/",
        {"add": [{"sku": "TEE-BLUE-M", "quantity": 1}], "reason": "phone"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["total"] == "7060"  # 2980 + 3280 + 800
    assert Order.objects.get(pk=order.pk).paid_total == D("7060")


@pytest.mark.django_db
def test_staff_read_line_ids_from_the_order_and_edit_by_them(shop, api_client):
    from django.contrib.auth.models import Permission

    from tests.factories import StaffFactory, token_for

    order = place(shop, [("TEE-RED-M", 1), ("TEE-BLUE-M", 2)])
    staff = StaffFactory()
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_order", "change_order"])
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(staff)}")

    lines = api_client.get(f"/api/v1/staff/orders/{order.number}/").json()["lines"]
    ids = {line["sku"]: line["id"] for line in lines}
    assert set(ids) == {"TEE-RED-M", "TEE-BLUE-M"}
    r = api_client.post(
        f"/api/v1/staff/orders/{order.number}/edit/",
        {"quantities": {str(ids["TEE-BLUE-M"]): 1}, "reason": "phone"},
        format="json",
    )

    assert r.status_code == 200, r.content
    assert {line["sku"]: line["quantity"] for line in r.json()["lines"]} == {
        "TEE-RED-M": 1,
        "TEE-BLUE-M": 1,
    }
    assert dict(order.lines.values_list("sku", "quantity")) == {"TEE-RED-M": 1, "TEE-BLUE-M": 1}


def dispatch_all() -> None:
    from commerce.events import dispatch

    for event_id in OutboxEvent.objects.filter(dispatched_at__isnull=True).values_list(
        "pk", flat=True
    ):
        dispatch(event_id)


@pytest.mark.django_db
def test_erasing_the_customer_removes_them_from_orders_and_order_events(shop):
    from customers.services.privacy import customer_erase

    order = place(shop, [("TEE-RED-M", 1)], email="erase.me@example.jp")
    dispatch_all()
    customer_erase(order.customer)
    dispatch_all()
    order.refresh_from_db()
    assert order.email == "" and order.shipping_address["line1"] == ""
    assert order.shipping_address["country"] == "JP"  # where stays, who goes
    assert order.total == D("3780")
    for event in OutboxEvent.objects.filter(subject_type="order", subject_id=str(order.pk)):
        assert "erase.me@example.jp" not in str(event.payload)
        assert "Hanako" not in str(event.payload)


@pytest.mark.django_db
def test_a_merge_moves_orders_to_the_surviving_profile(shop):
    from customers.services.merge import customer_merge

    first = place(shop, [("TEE-RED-M", 1)], email="one@example.jp")
    second = place(shop, [("TEE-RED-M", 1)], email="two@example.jp")
    dispatch_all()
    customer_merge(survivor=first.customer, duplicate=second.customer)
    dispatch_all()
    second.refresh_from_db()
    assert second.customer_id == first.customer_id
