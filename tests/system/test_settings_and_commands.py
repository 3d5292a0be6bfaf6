"""The product as an operator meets it: production settings, demo data, the API schema."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone
from rest_framework.authtoken.models import Token

from catalog.models import (
    Attribute,
    AttributeChoice,
    BundleComponent,
    Category,
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
    Token,
    Customer,
    Address,
    Consent,
    ExternalIdentifier,
    Purchase,
    LoyaltyAccount,
    PointEntry,
    Segment,
    SegmentMembership,
]


def seeded_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in SEEDED_MODELS}


@pytest.fixture
def seeded(db) -> dict[str, int]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", products=30, customers=20, stdout=out, stderr=err)
    assert err.getvalue() == ""
    assert "Catalogue: " in out.getvalue()
    assert "0 bad." in out.getvalue()
    assert "hanako@example.jp / demo-password-2026" in out.getvalue()
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
    call_command("seed_demo", products=30, customers=20, stdout=io.StringIO(), stderr=io.StringIO())

    assert seeded_counts() == seeded


def test_seed_demo_gives_the_catalogue_manager_a_working_token(seeded, api_client):
    token = Token.objects.get(user__username="catalogue")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = api_client.get("/api/v1/staff/products/", {"page_size": 1})

    assert response.status_code == 200
    assert response.json()["count"] == 32


def test_seed_demo_creates_customers_with_purchases_points_and_segments(seeded):
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


def test_seed_demo_customer_login_works(seeded):
    signed_in = account_authenticate(email="hanako@example.jp", password="demo-password-2026")

    assert signed_in.customer.last_name_reading == "ヤマダ"
    assert signed_in.customer.purchases.exists()


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
