"""The product as an operator meets it: production settings, demo data, the API schema."""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.models import Q, Sum
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken

from automation.models import BackInStockRequest, Rule, RuleRun, SimulationReport
from catalog.models import (
    Attribute,
    AttributeChoice,
    BundleComponent,
    Category,
    CompetitorPrice,
    Product,
    ProductAttributeValue,
    ProductChannelListing,
    ProductType,
    ProductVariant,
    TaxClass,
    VariantAttributeValue,
    VariantChannelListing,
)
from commerce.models import Channel
from customers.models import (
    Address,
    Consent,
    Customer,
    ExternalIdentifier,
    LoyaltyAccount,
    PointEntry,
    Purchase,
    Segment,
    SegmentMembership,
)
from customers.services import account_authenticate
from demo.services import OPERATIONS_TOKEN
from inventory.selectors import stock_reconcile
from orders.models import (
    Cart,
    Discount,
    DiscountCode,
    DiscountRedemption,
    Order,
    OrderLine,
    Payment,
    ShippingMethod,
    ShippingRate,
    Transaction,
)


def manage(*args: str, **env: str | None) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh process with the test's environment changed by `env`
    (None removes a variable)."""
    environment = {**os.environ}
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "shop.example.com",
    # No real gateway exists here: a staging set-up on the test gateway, with a secret of its own.
    "ORDERS_ALLOW_TEST_GATEWAY": "1",
    "ORDERS_TEST_GATEWAY_SECRET": secrets.token_urlsafe(32),
}


# --- Settings ------------------------------------------------------------------------------


def test_settings_pass_the_deployment_checks_in_production():
    result = manage("check", "--deploy", "--fail-level", "DEBUG", **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize(
    "secret_key",
    [
        pytest.param(None, id="missing"),
        pytest.param("django-insecure-development-only-never-use-in-production", id="development"),
        pytest.param("django-insecure-" + secrets.token_urlsafe(40), id="generated insecure"),
    ],
)
def test_settings_refuse_to_start_without_a_real_secret_key_when_debug_is_off(secret_key):
    result = manage("check", **{**PRODUCTION, "SECRET_KEY": secret_key})

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is the development key while DEBUG is off." in (
        result.stderr
    )


def test_settings_start_without_a_secret_key_in_development():
    result = manage("check", DEBUG="1", SECRET_KEY=None)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"


# --- Demo data -------------------------------------------------------------------------------

SEEDED_MODELS = [
    Rule,
    RuleRun,
    BackInStockRequest,
    SimulationReport,
    CompetitorPrice,
    Channel,
    TaxClass,
    Category,
    Attribute,
    AttributeChoice,
    ProductType,
    Product,
    ProductVariant,
    ProductAttributeValue,
    VariantAttributeValue,
    VariantChannelListing,
    ProductChannelListing,
    BundleComponent,
    get_user_model(),
    Group,
    AuthToken,
    Customer,
    Address,
    Consent,
    ExternalIdentifier,
    Purchase,
    LoyaltyAccount,
    PointEntry,
    Segment,
    SegmentMembership,
    ShippingMethod,
    ShippingRate,
    Discount,
    DiscountCode,
    DiscountRedemption,
    Cart,
    Order,
    OrderLine,
    Payment,
    Transaction,
]


def seeded_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in SEEDED_MODELS}


# Small, to keep the seed quick: 30 orders still take every scripted path (paid, authorized,
# awaiting, settled, refunded, cancelled, held, flagged, pickup, codes, buy 2 get 1).
SEED = {"products": 30, "customers": 20, "orders": 30}


@pytest.fixture
def seeded(db) -> dict[str, int]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", **SEED, stdout=out, stderr=err)
    assert err.getvalue() == ""
    assert "Catalogue: " in out.getvalue()
    assert "0 bad." in out.getvalue()
    assert "hanako@example.jp / demo-password-2026" in out.getvalue()
    assert "Orders: 30 placed through checkout (" in out.getvalue()
    return seeded_counts()


def test_seed_demo_creates_channels_of_every_kind(seeded):
    channels = list(Channel.objects.all())

    assert len(channels) >= 3
    assert any(c.currency == "JPY" and c.prices_include_tax for c in channels)
    assert any(c.currency != "JPY" for c in channels)
    assert any(c.kind == Channel.Kind.POS for c in channels)
    assert Channel.objects.get(code="web-us").currency == "USD"
    assert Channel.objects.get(code="web-us").prices_include_tax is False


def test_seed_demo_creates_a_priced_published_catalogue(seeded, api_client):
    web_jp = Channel.objects.get(code="web-jp")

    assert seeded["Category"] == 15
    assert seeded["Product"] == 32  # 30, and two gift sets made of them
    assert seeded["BundleComponent"] == 6
    unpriced = Product.objects.exclude(variants__channel_listings__channel=web_jp)
    assert list(unpriced) == []
    assert not ProductVariant.objects.filter(channel_listings__isnull=True).exists()
    storefront = api_client.get("/api/v1/channels/web-jp/products/", {"page_size": 100}).json()
    assert storefront["count"] >= 25
    assert all(p["price_from"]["currency"] == "JPY" for p in storefront["results"])
    assert all("." not in p["price_from"]["amount"] for p in storefront["results"])


def test_seed_demo_run_twice_duplicates_nothing(seeded):
    call_command("seed_demo", **SEED, stdout=io.StringIO(), stderr=io.StringIO())

    assert seeded_counts() == seeded


def test_seed_demo_gives_the_catalogue_manager_a_working_token(db, api_client):
    out = io.StringIO()
    call_command("seed_demo", **SEED, stdout=out, stderr=io.StringIO())
    token = re.search(r"catalogue staff, API token (\w+)\)", out.getvalue()).group(1)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    response = api_client.get("/api/v1/staff/products/", {"page_size": 1})

    assert response.status_code == 200
    assert response.json()["count"] == 32


def test_seed_demo_operations_token_works_as_the_readme_prints_it(seeded, api_client):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {OPERATIONS_TOKEN}")

    response = api_client.get("/api/v1/staff/orders/", {"page_size": 1})

    assert response.status_code == 200
    assert response.json()["count"] == 30
    # Stored as knox stores any token: a digest and a lookup key, never the token itself.
    [row] = AuthToken.objects.filter(user__username="operations")
    assert row.digest == hash_token(OPERATIONS_TOKEN)
    assert OPERATIONS_TOKEN not in (row.digest, row.token_key)
    assert timedelta(days=29) < row.expiry - timezone.now() <= timedelta(days=30)


def test_seed_demo_creates_customers_with_purchases_points_segments_and_orders(seeded):
    assert seeded["Customer"] >= 20
    assert Customer.objects.filter(acquired_channel__kind=Channel.Kind.POS).exists()
    assert Customer.objects.filter(acquired_channel__code="web-us").exists()
    assert Purchase.objects.filter(currency="JPY").exists()
    assert Purchase.objects.filter(currency="USD").exists()
    assert not Purchase.objects.filter(paid_at__gt=timezone.now()).exists()
    assert Purchase.objects.filter(refunded__gt=0).exists()
    assert Customer.objects.filter(user__isnull=False).count() >= 2
    assert seeded["LoyaltyAccount"] > 0
    for account in LoyaltyAccount.objects.annotate(ledger=Sum("entries__points")):
        assert account.balance == (account.ledger or 0), account
    assert not Customer.objects.filter(order_count__gt=0, scores_computed_at__isnull=True).exists()
    assert set(Segment.objects.values_list("slug", flat=True)) >= {
        "high-spenders-jpy-email",
        "at-risk-regulars",
        "lapsing",
    }
    for segment in Segment.objects.all():
        assert segment.computed_at is not None
        assert segment.member_count == segment.memberships.count()
    assert_orders_are_a_working_business()


def assert_orders_are_a_working_business():
    """The orders seeded through checkout and staff actions (same seed as above: one seed is
    slow enough)."""
    now = timezone.now()
    orders = Order.objects.all()
    assert orders.count() == 30
    assert set(orders.values_list("channel__code", flat=True)) >= {
        "web-jp",
        "app-jp",
        "web-us",
        "phone-jp",
        "marketplace-jp",
    }
    assert set(orders.values_list("status", flat=True)) >= {
        "unfulfilled",
        "unconfirmed",
        "on_hold",
        "cancelled",
    }
    assert set(orders.values_list("payment_status", flat=True)) >= {
        "paid",
        "authorized",
        "awaiting",
        "partially_refunded",
        "refunded",
        "not_charged",
    }
    assert set(orders.values_list("payment_method", flat=True)) == {
        "card",
        "cod",
        "bank_transfer",
        "pay_at_store",
    }
    assert orders.filter(flagged=True).exclude(flag_reason="").exists()
    assert orders.filter(pickup_location__pickup_enabled=True).exists()
    assert orders.filter(currency="USD", prices_include_tax=False).exists()
    assert orders.filter(customer__email="hanako@example.jp").count() == 3
    assert not orders.filter(customer__isnull=True).exists()
    assert not orders.filter(Q(placed_at__gt=now) | Q(paid_at__gt=now)).exists()
    first, last = orders.order_by("placed_at").first(), orders.order_by("placed_at").last()
    assert last.placed_at - first.placed_at > timedelta(days=14)
    assert list(orders.order_by("placed_at").values_list("number", flat=True)) == sorted(
        orders.values_list("number", flat=True)
    )
    # Money: every total is the sum of its transactions; the stock ledger balances.
    success = Q(payments__transactions__status="success")
    sums = orders.annotate(
        captured=Sum(
            "payments__transactions__amount",
            filter=success & Q(payments__transactions__kind="capture"),
            default=0,
        ),
        refunded=Sum(
            "payments__transactions__amount",
            filter=success & Q(payments__transactions__kind="refund"),
            default=0,
        ),
    )
    for order in sums:
        assert (order.paid_total, order.refunded_total) == (order.captured, order.refunded), order
        assert order.total == order.subtotal + order.shipping_total + (
            0 if order.prices_include_tax else order.tax_total
        ), order
    assert stock_reconcile() == []
    # Shipping for every channel, discounts used, carts left behind.
    for channel in Channel.objects.all():
        assert ShippingMethod.objects.filter(channel=channel, is_active=True).exists(), channel
    yamato = ShippingMethod.objects.get(channel__code="web-jp", code="yamato")
    assert yamato.free_over == 5500
    assert yamato.rates.filter(region="沖縄県").exists()
    assert ShippingMethod.objects.get(channel__code="web-us", code="ground").rates.filter(
        region="NY"
    )
    assert Discount.objects.filter(kind="bxgy", buy_quantity=2, get_quantity=1).exists()
    assert DiscountCode.objects.filter(single_use=True, batch="demo-winback").count() == 50
    assert DiscountCode.objects.get(code="WELCOME10").discount.per_customer_limit == 1
    assert DiscountRedemption.objects.count() >= 5
    assert orders.exclude(discounts=[]).count() >= 5
    declined = Cart.objects.filter(state="open", payments__status=Payment.Status.DECLINED)
    assert declined.exists()
    assert Cart.objects.filter(
        state="open", lines__isnull=False, last_activity_at__lt=now - timedelta(hours=2)
    ).exists()


def test_seed_demo_customer_login_works(seeded, api_client):
    signed_in = account_authenticate(email="hanako@example.jp", password="demo-password-2026")

    assert signed_in.customer.last_name_reading == "ヤマダ"
    assert signed_in.customer.purchases.exists()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {signed_in.token}")
    mine = api_client.get("/api/v1/orders/")
    assert mine.status_code == 200, mine.content
    assert mine.json()["count"] == 3


# --- API schema ------------------------------------------------------------------------------


def test_openapi_schema_describes_the_storefront_product_list(api_client, db):
    response = api_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    product_list = paths["/api/v1/channels/{channel}/products/"]["get"]
    parameters = {p["name"] for p in product_list["parameters"]}
    assert {"channel", "category", "attr", "q", "price_min", "price_max", "sort", "page"} <= (
        parameters
    )
    assert "/api/v1/staff/products/" in paths


@pytest.mark.django_db
def test_postgresql_sessions_run_without_jit_and_parallel_workers():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        jit = cursor.fetchone()[0]
        cursor.execute("SHOW max_parallel_workers_per_gather")
        workers = cursor.fetchone()[0]

    assert (jit, workers) == ("off", "0")
