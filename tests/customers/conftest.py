"""Fixtures for the customers tests: a loyalty programme, its tiers, a few people.

Every test here that touches the database ends by checking the point ledger of every account:
whatever a test did, `balance` must be the sum of the entries, `lifetime_points` the sum of
earnings, reversals and adjustments, and what is left in the lots what the member can spend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db.models import Q, Sum

from customers.models import Customer, EarnRate, LoyaltyAccount, LoyaltyProgramme, Tier
from customers.services.loyalty import LIFETIME_KINDS
from tests.customers import factories


@dataclass
class Programme:
    programme: LoyaltyProgramme
    member: Tier  # from 0 lifetime points, x1
    silver: Tier  # from 500, x1
    gold: Tier  # from 2,000, x2


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """The production hasher costs ~0.3 s a password; the tests check behaviour, not cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def programme(db) -> Programme:
    """1 point per 100 JPY and per 1 USD; points expire a year after the order was paid."""
    programme = LoyaltyProgramme.objects.create(name="Friends", points_expire_after_days=365)
    EarnRate.objects.create(programme=programme, currency="JPY", spend=Decimal(100), points=1)
    EarnRate.objects.create(programme=programme, currency="USD", spend=Decimal(1), points=1)
    return Programme(
        programme=programme,
        member=Tier.objects.create(programme=programme, name="Member", threshold=0),
        silver=Tier.objects.create(programme=programme, name="Silver", threshold=500),
        gold=Tier.objects.create(
            programme=programme, name="Gold", threshold=2000, multiplier=Decimal(2)
        ),
    )


@pytest.fixture
def alice(db) -> Customer:
    return factories.customer(email="alice@example.com", first_name="Alice", last_name="Abe")


@pytest.fixture
def bob(db) -> Customer:
    return factories.customer(email="bob@example.com", first_name="Bob", last_name="Baba")


def ledger_problems() -> list[str]:
    problems = []
    accounts = LoyaltyAccount.objects.annotate(
        ledger=Sum("entries__points"),
        lifetime=Sum("entries__points", filter=Q(entries__kind__in=LIFETIME_KINDS)),
        left=Sum("entries__remaining"),
    )
    for account in accounts:
        ledger, lifetime, left = account.ledger or 0, account.lifetime or 0, account.left or 0
        if account.balance != ledger:
            problems.append(f"account {account.pk}: balance {account.balance} != ledger {ledger}")
        if account.lifetime_points != lifetime:
            problems.append(
                f"account {account.pk}: lifetime {account.lifetime_points} != ledger {lifetime}"
            )
        if left != max(account.balance, 0):
            problems.append(f"account {account.pk}: lots hold {left}, balance {account.balance}")
    return problems


@pytest.fixture(autouse=True)
def ledger_balances(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the database, every account must agree with its ledger.

    Requesting `db` here (it honours the test's own `django_db` marker) makes this teardown
    run before the test database is rolled back or flushed, while the rows are still there.
    """
    uses_db = request.node.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db"} & set(request.fixturenames)
    )
    if not uses_db:
        yield
        return
    request.getfixturevalue("db")
    yield
    assert ledger_problems() == []
