import logging

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError
from rest_framework import exceptions, permissions
from rest_framework.throttling import ScopedRateThrottle

from customers.models import Customer

logger = logging.getLogger(__name__)

# What a cache backend raises when its server is down or hangs: redis-py's errors, and socket
# errors for the others (memcached clients).
CACHE_ERRORS = (RedisError, OSError)

# Where the throttles count while the shared cache is down: this process's memory.
local_counters = LocMemCache("throttle-fallback", {})


class IsCustomer(permissions.BasePermission):
    """A signed-in storefront customer with an open profile. Anonymous callers get 401 (token
    authentication's challenge), staff and closed profiles 403."""

    message = _("Sign in with a customer account.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        customer = Customer.objects.filter(user=user, state=Customer.State.ACTIVE).first()
        if customer is None:
            return False
        request.customer = customer
        return True


class ThrottleUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = _("This is unavailable for a moment. Try again shortly.")
    default_code = "throttle_unavailable"

    def __init__(self, wait: int) -> None:
        super().__init__()
        self.wait = wait  # DRF turns it into Retry-After, as for a 429


class SignInThrottle(ScopedRateThrottle):
    """Per client address, whatever the e-mail: guessing many accounts' passwords is slowed as
    much as guessing one's. Each view names its own scope (its own rate and bucket).

    The counters live in the shared cache (Redis in production). While it is unreachable the
    throttle fails open to this process's memory (THROTTLE_WHEN_CACHE_DOWN="local", the
    default): customers can still sign in, and guessing is still limited, each process counting
    on its own. "refuse" answers 503 with Retry-After instead. Never a 500.
    """

    scope_attr = "throttle_scope"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            if settings.THROTTLE_WHEN_CACHE_DOWN == "refuse":
                logger.warning("Throttle counters unreachable, refusing %s: %r", self.scope, exc)
                raise ThrottleUnavailable(wait=settings.THROTTLE_CACHE_DOWN_RETRY_AFTER) from exc
            logger.warning(
                "Throttle counters unreachable, counting %s locally: %r", self.scope, exc
            )
            self.cache = local_counters
            return super().allow_request(request, view)
