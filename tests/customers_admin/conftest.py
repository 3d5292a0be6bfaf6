"""Fixtures for the customers back office: a fast password hasher and a loyalty programme."""

from __future__ import annotations

from decimal import Decimal

import pytest

from customers.models import EarnRate, LoyaltyProgramme, Tier


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """The production hasher costs ~0.3 s a password; these tests check behaviour, not cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def programme(db) -> LoyaltyProgramme:
    """1 point per 100 JPY; tiers Member (from 0 lifetime points) and Gold (from 2,000)."""
    programme = LoyaltyProgramme.objects.create(name="Friends", points_expire_after_days=365)
    EarnRate.objects.create(programme=programme, currency="JPY", spend=Decimal(100), points=1)
    Tier.objects.create(programme=programme, name="Member", threshold=0)
    Tier.objects.create(programme=programme, name="Gold", threshold=2000, multiplier=Decimal(2))
    return programme
