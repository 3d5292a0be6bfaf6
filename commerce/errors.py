"""Domain errors. Each has a stable snake_case code and the HTTP status an API gives it.

Services raise these; every door (API, admin, command, task) reports them in its own way, and the
API turns them into RFC 9457 problem details.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code: str = "domain_error"
    status: int = 400
    title: Any = _("The request cannot be carried out")

    def __init__(self, detail: Any = None, **extra: Any) -> None:
        self.detail = detail if detail is not None else self.title
        self.extra = extra
        super().__init__(str(self.detail))


class ValidationFailed(DomainError):
    """Input breaks a business rule; `errors` maps fields to messages, like a serializer's."""

    code = "invalid"
    status = 400
    title = _("Invalid input")

    def __init__(self, errors: dict[str, list[str]] | None = None, detail: Any = None) -> None:
        self.errors = errors or {}
        super().__init__(detail or _("Some fields are not valid."), errors=self.errors)


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = _("Not found")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = _("The current state does not allow this")
