"""System checks of the orders app (run by `migrate`, `check` and the web server's start-up)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from orders.payments.gateways import registered_gateway_codes


@register()
def check_payment_gateway_is_registered(app_configs, **kwargs) -> list[Error]:
    """ORDERS_GATEWAY must name a gateway some app registered: otherwise the first card checkout
    would fail instead of the deployment."""
    codes = registered_gateway_codes()
    if settings.ORDERS_GATEWAY in codes:
        return []
    return [
        Error(
            f"ORDERS_GATEWAY is {settings.ORDERS_GATEWAY!r}, and no payment gateway of that code "
            f"is registered (registered: {', '.join(sorted(codes)) or 'none'}).",
            hint="Register the provider's gateway with orders.payments.gateways.gateway_register() in an "
            "AppConfig.ready(), or set ORDERS_GATEWAY to one of the registered codes.",
            id="orders.E001",
        )
    ]
