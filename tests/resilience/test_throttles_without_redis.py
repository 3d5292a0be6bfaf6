"""Sign-in, registration, password reset and the guest order lookup while the cache's Redis (where
their throttles count) is down (issue #12, defect 3): they keep working, still throttled per
process, or with THROTTLE_WHEN_CACHE_DOWN="refuse" answer 503 with Retry-After. Never a 500.

The cache is a Redis of the test's own (`cache_redis`), stopped in the test.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core import mail
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from automation.messages.services import messages_send_due
from customers import services
from customers.models import Customer
from tests.commerce.conftest import RedisServer
from tests.conftest import HTTPS
from tests.orders_access.conftest import place

pytestmark = pytest.mark.django_db

PASSWORD = "Kyoto-autumn-leaves-42"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def allowed(scope: str) -> int:
    rate = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]
    return SimpleRateThrottle.parse_rate(None, rate)[0]


def post(path: str, body: dict):
    return APIClient(**HTTPS).post(path, body, format="json")


def sign_in(email: str, password: str = PASSWORD):
    return post("/api/v1/customers/sign-in/", {"email": email, "password": password})


def test_sign_in_registration_password_reset_and_order_lookup_work_while_the_cache_is_down(
    cache_redis: RedisServer, shop
):
    services.account_register(email="alice@example.com", password=PASSWORD)
    order = place(APIClient(**HTTPS), email="guest@example.jp")
    mail.outbox.clear()

    cache_redis.stop()
    signed_in = sign_in("alice@example.com")
    registered = post(
        "/api/v1/customers/register/", {"email": "bob@example.com", "password": PASSWORD}
    )
    reset = post("/api/v1/customers/password-reset/", {"email": "alice@example.com"})
    looked_up = post(
        "/api/v1/orders/lookup/", {"number": order.number, "email": "guest@example.jp"}
    )

    assert signed_in.status_code == 200, signed_in.content
    assert signed_in.json()["customer"]["email"] == "alice@example.com"
    assert registered.status_code == 201, registered.content
    assert registered.json()["customer"]["email"] == "bob@example.com"
    assert reset.status_code == 202, reset.content
    messages_send_due()  # account mails go through the messages queue
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert looked_up.status_code == 200, looked_up.content
    assert looked_up.json()["number"] == order.number


def test_while_the_cache_is_down_sign_ins_are_still_throttled_in_each_process(cache_redis):
    limit = allowed("customer_sign_in")
    cache_redis.stop()

    answers = [sign_in(f"guess{n}@example.com", "wrong-password-1") for n in range(limit + 1)]

    assert [a.status_code for a in answers] == [401] * limit + [429]
    assert answers[-1]["Content-Type"] == PROBLEM
    assert answers[-1].json()["code"] == "throttled"
    assert int(answers[-1]["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/customers/sign-in/", {"email": "alice@example.com", "password": PASSWORD}),
        ("/api/v1/customers/register/", {"email": "bob@example.com", "password": PASSWORD}),
        ("/api/v1/customers/password-reset/", {"email": "alice@example.com"}),
        ("/api/v1/orders/lookup/", {"number": "W-1", "email": "guest@example.jp"}),
    ],
)
def test_set_to_refuse_the_throttled_views_answer_503_with_retry_after_while_the_cache_is_down(
    cache_redis: RedisServer, settings, path, body
):
    settings.THROTTLE_WHEN_CACHE_DOWN = "refuse"
    settings.THROTTLE_CACHE_DOWN_RETRY_AFTER = 30
    services.account_register(email="alice@example.com", password=PASSWORD)
    customers_before = Customer.objects.count()

    cache_redis.stop()
    response = post(path, body)

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == PROBLEM
    assert response["Retry-After"] == "30"
    assert response.json()["code"] == "throttle_unavailable"
    assert response.json()["status"] == 503
    assert response.json()["title"] == "Service unavailable"
    assert Customer.objects.count() == customers_before


def test_once_the_cache_is_back_the_throttles_count_there_again(cache_redis: RedisServer):
    limit = allowed("customer_sign_in")
    cache_redis.stop()
    while_down = sign_in("guess@example.com", "wrong-password-1")  # counted in this process

    cache_redis.start()
    answers = [sign_in(f"guess{n}@example.com", "wrong-password-1") for n in range(limit + 1)]
    client = cache_redis.client()
    counters = client.keys("*throttle_customer_sign_in_*")
    client.close()

    assert while_down.status_code == 401
    assert [a.status_code for a in answers] == [401] * limit + [429]
    assert len(counters) == 1
