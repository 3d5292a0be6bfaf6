"""Personal, expiring discount codes (`discount_code_issue`): what automation sends in an
abandoned-cart reminder, "a unique code valid 72 h after sending, that works once for that
customer only".

A code bound to a customer works in a cart signed in as that customer, or in a guest cart with
the customer's e-mail (any case); from its `expires_at` on it is refused as `code_expired`.
Prices as in tests/orders/test_totals.py: web-jp tee red 2980, Yamato to Tokyo 800.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from commerce.errors import ValidationFailed
from customers.services import account_register, customer_create, customer_merge
from orders.models import Cart, Discount, DiscountCode, DiscountRedemption, Order, Payment
from orders.payments.services import payment_authorize
from orders.placement.checkout import PaymentInput, _prepare, payment_finish
from orders.pricing.discounts import (
    CODE_ALPHABET,
    ISSUED_CODE_LENGTH,
    CartLine,
    DiscountNotApplicable,
    code_get,
    discount_apply,
)
from orders.pricing.quotes import cart_quote
from orders.services import discount_code_issue
from tests.factories import ChannelFactory
from tests.orders.conftest import JP_ADDRESS
from tests.orders.test_totals import PASSWORD, cart_with, client, complete

REMINDER = "automation run 42"
NOT_YOURS = (
    "This code is personal and not for this cart: sign in as the customer it was sent to, or "
    "check out with the e-mail address it was sent to."
)


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def come_back(db) -> Discount:
    return Discount.objects.create(name="Come back", kind="percentage", value=D(10))


def issue(discount: Discount, customer, *, hours: int = 72) -> DiscountCode:
    return discount_code_issue(
        discount=discount,
        customer=customer,
        expires_at=timezone.now() + timedelta(hours=hours),
        prefix="back-",
        issued_by=REMINDER,
    )


def refusal(call) -> DiscountNotApplicable:
    with pytest.raises(DiscountNotApplicable) as raised:
        call()
    return raised.value


# --- Issuing ---------------------------------------------------------------------------------


def test_discount_code_issue_gives_distinct_random_single_use_codes_for_the_customer(come_back):
    hana = customer_create(email="hana@example.jp")
    expires_at = timezone.now() + timedelta(hours=72)

    codes = [
        discount_code_issue(
            discount=come_back,
            customer=hana,
            expires_at=expires_at,
            prefix="back-",
            issued_by=REMINDER,
        )
        for _ in range(30)
    ]

    values = [code.code for code in codes]
    assert len(set(values)) == 30
    assert all(len(v) == len("BACK-") + ISSUED_CODE_LENGTH == 15 for v in values)
    assert all(v.startswith("BACK-") and set(v[5:]) <= set(CODE_ALPHABET) for v in values)
    stored = DiscountCode.objects.filter(discount=come_back)
    assert stored.count() == 30
    assert set(
        stored.values_list("single_use", "customer_id", "expires_at", "issued_by", "times_used")
    ) == {(True, hana.pk, expires_at, REMINDER, 0)}
    assert code_get(values[0].lower()).customer == hana


def test_discount_code_issue_without_a_customer_or_expiry_is_a_plain_single_use_code(come_back):
    code = discount_code_issue(discount=come_back, customer=None, expires_at=None)

    assert (code.customer_id, code.expires_at, code.single_use, code.issued_by) == (
        None,
        None,
        True,
        "",
    )
    assert len(code.code) == ISSUED_CODE_LENGTH


def test_discount_code_issue_refuses_bad_input_by_field_and_creates_nothing(come_back):
    automatic = Discount.objects.create(
        name="Free shipping", kind="percentage", value=D(100), target="shipping", automatic=True
    )

    with pytest.raises(ValidationFailed) as raised:
        discount_code_issue(
            discount=automatic,
            customer=None,
            expires_at=timezone.now() - timedelta(seconds=1),
            prefix="x" * 31,
            issued_by="y" * 101,
        )

    assert raised.value.errors == {
        "discount": ["An automatic promotion applies without a code."],
        "expires_at": ["The code would be expired already: give a time to come."],
        "issued_by": ["Say what issued the code in at most 100 characters."],
        "prefix": ["A prefix has at most 30 characters."],
    }
    assert not DiscountCode.objects.exists()


# --- Whose cart, and until when (the rule itself) ----------------------------------------------


@pytest.fixture
def lines() -> list[CartLine]:
    return [CartLine("TEE-1", 1, "", D(3000))]


@pytest.mark.parametrize(
    ("signed_in_as", "email", "reason"),
    [
        ("hana", "", None),
        ("hana", "ken@example.jp", None),  # signed in as her: the cart's e-mail does not matter
        (None, "hana@example.jp", None),
        (None, "  HANA@Example.JP ", None),
        ("ken", "hana@example.jp", "code_not_yours"),  # someone else's account, her address
        (None, "ken@example.jp", "code_not_yours"),
        (None, "", "code_not_yours"),
    ],
)
def test_a_personal_code_applies_only_to_its_customers_cart(
    come_back, lines, signed_in_as, email, reason
):
    jp = ChannelFactory(web_jp=True)
    people = {
        "hana": customer_create(email="hana@example.jp"),
        "ken": customer_create(email="ken@example.jp"),
    }
    code = code_get(issue(come_back, people["hana"]).code)
    customer_id = people[signed_in_as].pk if signed_in_as else None

    def apply():
        return discount_apply(
            come_back, code=code, channel=jp, lines=lines, customer_id=customer_id, email=email
        )

    if reason is None:
        assert apply().amount == D(300)
    else:
        refused = refusal(apply)
        assert (refused.reason, str(refused.detail)) == (reason, NOT_YOURS)


def test_a_personal_code_follows_its_customer_into_a_merge(come_back, lines):
    jp = ChannelFactory(web_jp=True)
    duplicate = customer_create(email="hana.old@example.jp")
    survivor = customer_create(email="hana@example.jp")
    code = issue(come_back, duplicate)
    customer_merge(survivor=survivor, duplicate=duplicate)
    code = code_get(code.code)

    applied = discount_apply(come_back, code=code, channel=jp, lines=lines, customer_id=survivor.pk)

    assert applied.amount == D(300)


def test_a_personal_code_is_refused_from_its_expiry_on(come_back, lines):
    jp = ChannelFactory(web_jp=True)  # Asia/Tokyo
    hana = customer_create(email="hana@example.jp")
    code = code_get(issue(come_back, hana).code)
    expires_at = code.expires_at

    def apply(now):
        return discount_apply(
            come_back, code=code, channel=jp, lines=lines, customer_id=hana.pk, now=now
        )

    assert apply(expires_at - timedelta(seconds=1)).amount == D(300)
    refused = refusal(lambda: apply(expires_at))
    assert refused.reason == "code_expired"
    # Told in the shop's time zone.
    tokyo = expires_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert str(refused.detail) == f"This code expired on {tokyo:%Y-%m-%d %H:%M} JST."
    assert refused.extra["expires_at"] == expires_at.isoformat()
    # Its discount runs on: the code's own expiry is what stops it.
    assert Discount.objects.get(pk=come_back.pk).valid_until is None


# --- Through the storefront API ----------------------------------------------------------------


def test_the_customers_own_cart_uses_the_code_once_then_it_is_used_up(shop, come_back):
    alice = account_register(email="alice@example.com", password=PASSWORD)
    api = client(alice.token)
    code = issue(come_back, alice.customer).code

    token, cart = cart_with(
        api, "web-jp", {"TEE-RED-M": 1}, address=JP_ADDRESS, method="yamato", code=code
    )
    assert cart["discount_code_problem"] is None
    assert [(d["code"], d["amount"]) for d in cart["discounts"]] == [(code, "298")]
    placed = complete(api, token)
    assert placed.status_code == 201, placed.content
    assert placed.json()["total"] == "3482"  # 2980 - 298 + 800

    again, cart = cart_with(
        api, "web-jp", {"TEE-RED-M": 1}, address=JP_ADDRESS, method="yamato", code=code
    )
    assert cart["discount_code_problem"]["reason"] == "used_up"
    assert cart["discounts"] == []
    refused = complete(api, again)

    assert refused.status_code == 400, refused.content
    assert (refused.json()["code"], refused.json()["reason"], refused.json()["detail"]) == (
        "discount_not_applicable",
        "used_up",
        "This code has already been used.",
    )
    assert Order.objects.count() == 1
    assert DiscountCode.objects.get(code=code).times_used == 1
    assert list(DiscountRedemption.objects.values_list("reference", "customer_id")) == [
        (placed.json()["number"], alice.customer.pk)
    ]


@pytest.mark.parametrize("signed_in", [True, False])
def test_another_customers_cart_is_refused_the_code(shop, come_back, signed_in):
    alice = account_register(email="alice@example.com", password=PASSWORD)
    bob = account_register(email="bob@example.com", password=PASSWORD)
    code = issue(come_back, alice.customer).code
    api = client(bob.token if signed_in else None)

    token, cart = cart_with(
        api,
        "web-jp",
        {"TEE-RED-M": 1},
        address=JP_ADDRESS,
        method="yamato",
        code=code,
        email="bob@example.com",
    )
    assert cart["discount_code_problem"] == {"reason": "code_not_yours", "detail": NOT_YOURS}
    assert (cart["discounts"], cart["total"]) == ([], "3780")
    refused = complete(api, token)

    assert refused.status_code == 400, refused.content
    body = refused.json()
    assert (body["code"], body["reason"], body["detail"], body["discount_code"]) == (
        "discount_not_applicable",
        "code_not_yours",
        NOT_YOURS,
        code,
    )
    assert "alice" not in refused.content.decode().lower()
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert DiscountCode.objects.get(code=code).times_used == 0


def test_a_guest_cart_with_the_customers_email_may_use_the_code(shop, come_back):
    alice = account_register(email="alice@example.com", password=PASSWORD)
    code = issue(come_back, alice.customer).code
    guest = client()

    token, cart = cart_with(
        guest,
        "web-jp",
        {"TEE-RED-M": 1},
        address=JP_ADDRESS,
        method="yamato",
        code=code.lower(),
        email="Alice@Example.COM",
    )
    placed = complete(guest, token)

    assert cart["discount_code_problem"] is None
    assert placed.status_code == 201, placed.content
    order = Order.objects.get(number=placed.json()["number"])
    assert (order.discount_total, order.total) == (D(298), D(3482))
    assert DiscountCode.objects.get(code=code).times_used == 1
    assert DiscountRedemption.objects.get().customer_id == alice.customer.pk


def test_an_expired_code_is_shown_on_the_cart_and_refused_at_checkout_with_the_detail(
    shop, come_back
):
    alice = account_register(email="alice@example.com", password=PASSWORD)
    api = client(alice.token)
    code = issue(come_back, alice.customer).code
    token, cart = cart_with(
        api, "web-jp", {"TEE-RED-M": 1}, address=JP_ADDRESS, method="yamato", code=code
    )
    assert cart["discounts"][0]["code"] == code
    # The reminder went out 72 hours ago: its code ran out a second ago.
    expired_at = timezone.now() - timedelta(seconds=1)
    DiscountCode.objects.filter(code=code).update(expires_at=expired_at)
    tokyo = expired_at.astimezone(ZoneInfo("Asia/Tokyo"))
    detail = f"This code expired on {tokyo:%Y-%m-%d %H:%M} JST."

    shown = api.get(f"/api/v1/carts/{token}/").json()
    refused = complete(api, token)

    assert shown["discount_code_problem"] == {
        "reason": "code_expired",
        "detail": detail,
        "expires_at": expired_at.isoformat(),
    }
    assert (shown["discounts"], shown["total"]) == ([], "3780")
    assert refused.status_code == 400, refused.content
    body = refused.json()
    assert (body["code"], body["reason"], body["detail"], body["discount_code"]) == (
        "discount_not_applicable",
        "code_expired",
        detail,
        code,
    )
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert DiscountCode.objects.get(code=code).times_used == 0


def test_the_quote_refuses_the_code_from_72_hours_after_sending(shop, come_back):
    alice = account_register(email="alice@example.com", password=PASSWORD)
    sent = timezone.now()
    code = discount_code_issue(
        discount=come_back,
        customer=alice.customer,
        expires_at=sent + timedelta(hours=72),
        issued_by=REMINDER,
    )
    token, _ = cart_with(
        client(alice.token),
        "web-jp",
        {"TEE-RED-M": 1},
        address=JP_ADDRESS,
        method="yamato",
        code=code.code,
    )
    cart = Cart.objects.get(token=token)

    before = cart_quote(cart, now=sent + timedelta(hours=71, minutes=59))
    after = cart_quote(cart, now=sent + timedelta(hours=72))

    assert (before.code_problem, before.discount_total) == (None, D(298))
    assert (after.code_problem["reason"], after.discount_total) == ("code_expired", D(0))


# --- Checked again when the order is made ------------------------------------------------------
# The checkout's steps by hand (as tests/orders_api/test_payment_recovery.py does): `_prepare`
# priced the cart and wrote the payment, the gateway took the money, then `payment_finish`.


def prepared_and_paid(api, code: str) -> Payment:
    token, _ = cart_with(
        api, "web-jp", {"TEE-RED-M": 1}, address=JP_ADDRESS, method="yamato", code=code
    )
    payment = _prepare(Cart.objects.get(token=token), PaymentInput(token="tok_visa"), None)
    return payment_authorize(payment, capture=True)


def test_a_code_that_runs_out_while_the_card_is_charged_still_holds_for_that_payment(
    shop, come_back
):
    alice = account_register(email="alice@example.com", password=PASSWORD)
    code = issue(come_back, alice.customer).code
    payment = prepared_and_paid(client(alice.token), code)
    DiscountCode.objects.filter(code=code).update(
        expires_at=payment.created_at + timedelta(microseconds=1)
    )

    order = payment_finish(payment)

    assert (order.discount_total, order.total) == (D(298), D(3482))
    assert DiscountCode.objects.get(code=code).times_used == 1


def test_the_order_is_refused_when_the_code_is_no_longer_the_buyers(shop, come_back):
    alice = account_register(email="alice@example.com", password=PASSWORD)
    bob = customer_create(email="bob@example.com")
    code = issue(come_back, alice.customer).code
    payment = prepared_and_paid(client(alice.token), code)
    DiscountCode.objects.filter(code=code).update(customer=bob)

    refused = refusal(lambda: payment_finish(payment))

    assert (refused.reason, str(refused.detail)) == ("code_not_yours", NOT_YOURS)
    assert not Order.objects.exists()
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.VOIDED
    assert DiscountCode.objects.get(code=code).times_used == 0
    assert not DiscountRedemption.objects.exists()
