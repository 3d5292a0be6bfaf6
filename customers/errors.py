"""Errors the customers app raises; the API turns them into problem details."""

from django.utils.translation import gettext_lazy as _

from commerce.errors import Conflict, DomainError, NotFound, ValidationFailed

__all__ = [
    "CustomerNotFound",
    "InvalidConfirmationLink",
    "InvalidCredentials",
    "InvalidResetLink",
    "MergeRefused",
    "NotEnoughPoints",
    "ProfileClosed",
    "ValidationFailed",
]


class CustomerNotFound(NotFound):
    code = "customer_not_found"
    title = _("No such customer")


class InvalidCredentials(DomainError):
    """Deliberately the same whether the e-mail is unknown or the password is wrong."""

    code = "invalid_credentials"
    status = 401
    title = _("The e-mail address or the password is not correct.")


class InvalidResetLink(DomainError):
    code = "invalid_reset_link"
    status = 400
    title = _("This password reset link is invalid, has been used or has expired.")


class InvalidConfirmationLink(DomainError):
    code = "invalid_confirmation_link"
    status = 400
    title = _("This confirmation link is invalid, has been used or has expired.")


class MergeRefused(Conflict):
    code = "merge_refused"
    title = _("These profiles cannot be merged")


class ProfileClosed(Conflict):
    code = "profile_closed"
    title = _("This profile has been merged or erased")


class NotEnoughPoints(Conflict):
    code = "not_enough_points"
    title = _("Not enough points")
