"""System checks of the kernel's production settings (`manage.py check --deploy`)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register

DEVELOPMENT_TEST_GATEWAY_SECRET = "test-gateway-secret"


@register(Tags.security, deploy=True)
def check_test_gateway_secret(app_configs, **kwargs) -> list[Warning]:
    """The test gateway allowed on a server with DEBUG off (a staging set-up) must not verify
    notifications with the secret printed in the code: anyone could forge a payment."""
    if (
        not settings.DEBUG
        and settings.ORDERS_TEST_GATEWAY_ENABLED
        and settings.ORDERS_TEST_GATEWAY_SECRET == DEVELOPMENT_TEST_GATEWAY_SECRET
    ):
        return [
            Warning(
                "The test gateway is allowed (ORDERS_ALLOW_TEST_GATEWAY) with its development "
                "secret: anyone can sign a payment notification.",
                hint="Set ORDERS_TEST_GATEWAY_SECRET to a long random value.",
                id="commerce.W001",
            )
        ]
    return []
