"""Sign-in lockout for the storefront (django-axes), on top of the per-address throttle.

The throttle slows one address down whatever e-mail it tries; Axes stops one address guessing
one account: after AXES_FAILURE_LIMIT wrong passwords for an e-mail from an address, that pair
is refused for AXES_COOLOFF_TIME, even with the right password. Keyed on e-mail and address
together, so nobody can lock a customer out from elsewhere. The failures are counted in the
database (works with Redis down) and listed in the admin under "Access attempts".

The service stays free of HTTP: this module holds the request-bound part and tells Axes about
failures through Django's own `user_login_failed` signal, as `authenticate()` would. Axes is
given DRF's request, not Django's, so its middleware never swaps this API's problem+json answer
for the admin's HTML lockout page.
"""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions

from commerce.lockout import seconds_until_unlocked
from customers import services
from customers.errors import InvalidCredentials


class SignInLocked(exceptions.Throttled):
    default_detail = _("Too many failed sign-ins for this e-mail address. Try again later.")
    default_code = "sign_in_locked"


def _credentials(email: str) -> dict:
    # What Axes files the attempt under: the e-mail as typed, trimmed and case-folded, so
    # "Hana@Example.com" and "hana@example.com " count as one account.
    return {settings.AXES_USERNAME_FORM_FIELD: email.strip().lower()[:254]}


def sign_in(request, *, email: str, password: str) -> services.SignedIn:
    credentials = _credentials(email)
    if not AxesProxyHandler.is_allowed(request, credentials):
        raise SignInLocked(wait=seconds_until_unlocked(request, credentials))
    try:
        signed_in = services.account_authenticate(email=email, password=password)
    except InvalidCredentials:
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):
            raise SignInLocked(wait=seconds_until_unlocked(request, credentials)) from None
        raise
    AxesProxyHandler.reset_attempts(
        username=credentials[settings.AXES_USERNAME_FORM_FIELD],
        ip_address=request.axes_ip_address,
    )
    return signed_in
