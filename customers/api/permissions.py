from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.throttling import ScopedRateThrottle

from customers.models import Customer


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


class SignInThrottle(ScopedRateThrottle):
    """Per client address, whatever the e-mail: guessing many accounts' passwords is slowed as
    much as guessing one's."""

    scope_attr = "throttle_scope"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
