"""The ready-made abandoned-cart rule with a moved clock: a reminder once the cart has been idle
60 minutes, a second a day later with a code valid 72 hours for that customer only, and nothing
for a cart that became an order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from automation.models import Message, RuleRun
from automation.rules.engine import runs_advance_due
from automation.rules.library import install
from automation.rules.triggers import carts_abandoned_sweep
from customers.models import ConsentSource, Customer
from customers.services.consent import consent_set
from orders import services
from orders.models import Cart, Discount, DiscountCode

from .conftest import JP_ADDRESS, deliver, dispatch_all

R = RuleRun.Status


@pytest.fixture(autouse=True)
def _daytime_everywhere(settings) -> None:
    settings.MESSAGES_QUIET_HOURS = (0, 0)  # no quiet hours: the clock of the test run is any


@pytest.fixture
def hanako(db) -> Customer:
    customer = Customer.objects.create(email="hanako@example.jp", first_name="花子", language="ja")
    consent_set(customer, medium="email", granted=True, source=ConsentSource.STOREFRONT)
    return customer


@pytest.fixture
def rule(db):
    Discount.objects.create(
        name="Cart comeback 10%", kind=Discount.Kind.PERCENTAGE, value=Decimal(10)
    )
    return install("abandoned_cart", status="active")


def idle_cart(omni, customer, minutes: int) -> Cart:
    cart = services.cart_create(
        channel=omni.yamato.channel, customer=customer, email=customer.email
    )
    services.cart_line_set(cart, sku="TEE-RED-M", quantity=1, add=True)
    Cart.objects.filter(pk=cart.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=minutes)
    )
    cart.refresh_from_db()
    return cart


def order_from(cart: Cart):
    services.cart_update(cart, shipping_address=JP_ADDRESS, shipping_method="yamato")
    return services.checkout_complete(
        cart, payment=services.PaymentInput(method="card", token="tok_visa")
    )


def test_reminder_at_60_minutes_then_a_code_valid_72_hours_a_day_later(omni, hanako, rule):
    cart = idle_cart(omni, hanako, minutes=59)
    assert carts_abandoned_sweep() == 0
    Cart.objects.filter(pk=cart.pk).update(last_activity_at=timezone.now() - timedelta(minutes=61))
    assert carts_abandoned_sweep() == 1
    assert carts_abandoned_sweep() == 0  # one idle spell, one trigger
    deliver()
    first = Message.objects.get(kind="abandoned_cart")
    assert first.status == Message.Status.SENT and first.recipient == "hanako@example.jp"
    assert "Everyday Tee" in first.body_text or "TEE" in str(first.context)
    run = RuleRun.objects.get(rule=rule)
    assert run.status == R.WAITING and run.due_at - run.started_at == timedelta(hours=24)
    assert not DiscountCode.objects.exists()

    assert runs_advance_due(now=run.due_at - timedelta(seconds=1)) == 0
    assert runs_advance_due(now=run.due_at) == 1
    deliver(now=run.due_at + timedelta(minutes=1))  # a day later: past the 16 h e-mail cap
    second = Message.objects.get(kind="abandoned_cart_offer")
    code = DiscountCode.objects.get()
    assert code.customer_id == hanako.pk and code.single_use
    assert code.code in second.body_text
    assert (
        timedelta(hours=71, minutes=59) < code.expires_at - second.created_at <= timedelta(hours=72)
    )
    run.refresh_from_db()
    assert run.status == R.SUCCEEDED


def test_a_cart_ordered_at_minute_59_gets_nothing(omni, hanako, rule):
    cart = idle_cart(omni, hanako, minutes=59)
    order_from(cart)
    dispatch_all()
    Cart.objects.filter(pk=cart.pk).update(last_activity_at=timezone.now() - timedelta(minutes=61))
    assert carts_abandoned_sweep() == 0
    deliver()
    assert not Message.objects.filter(kind__startswith="abandoned_cart").exists()
    assert not RuleRun.objects.filter(rule=rule).exists()


def test_ordering_after_the_first_reminder_ends_the_run_before_the_code(omni, hanako, rule):
    cart = idle_cart(omni, hanako, minutes=61)
    carts_abandoned_sweep()
    deliver()
    run = RuleRun.objects.get(rule=rule)
    assert run.status == R.WAITING
    order_from(cart)
    deliver()
    run.refresh_from_db()
    assert run.status == R.EXITED and "order.placed" in run.reason
    assert runs_advance_due(now=timezone.now() + timedelta(days=2)) == 0
    deliver()
    assert Message.objects.filter(kind="abandoned_cart").count() == 1
    assert not Message.objects.filter(kind="abandoned_cart_offer").exists()
    assert not DiscountCode.objects.exists()


def test_phone_and_pos_carts_are_never_abandoned(omni, hanako, rule):
    cart = services.cart_create(channel=omni.phone, customer=hanako, email=hanako.email)
    Cart.objects.filter(pk=cart.pk).update(last_activity_at=timezone.now() - timedelta(hours=2))
    assert carts_abandoned_sweep() == 0


def test_a_guest_cart_with_a_known_customers_e_mail_is_reminded_with_their_consent(
    omni, hanako, rule
):
    cart = services.cart_create(channel=omni.yamato.channel, email="HANAKO@example.jp")
    services.cart_line_set(cart, sku="TEE-RED-M", quantity=1, add=True)
    Cart.objects.filter(pk=cart.pk).update(last_activity_at=timezone.now() - timedelta(minutes=61))
    assert carts_abandoned_sweep() == 1
    deliver()
    reminder = Message.objects.get(kind="abandoned_cart")
    assert reminder.customer_id == hanako.pk and reminder.status == Message.Status.SENT


def test_a_guest_without_a_profile_gets_no_marketing_reminder(omni, rule):
    cart = services.cart_create(channel=omni.yamato.channel, email="stranger@example.jp")
    services.cart_line_set(cart, sku="TEE-RED-M", quantity=1, add=True)
    Cart.objects.filter(pk=cart.pk).update(last_activity_at=timezone.now() - timedelta(minutes=61))
    carts_abandoned_sweep()
    deliver()
    reminder = Message.objects.get(kind="abandoned_cart")
    assert reminder.status == Message.Status.SUPPRESSED and "consent" in reminder.reason
