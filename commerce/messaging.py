"""The seam through which an app below `automation` asks for a message to a person: the account
mails of `customers` (confirm your e-mail, reset your password).

`automation` registers the sender at start-up; it logs the message and sends it from the
messages queue with the merchant's templates, like every other message. The kernel names no app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Sender = Callable[..., Any]

_sender: Sender | None = None


def register_sender(sender: Sender) -> None:
    global _sender
    _sender = sender


def account_message_send(
    *, kind: str, to: str, language: str, customer_id: int | None, context: dict[str, Any]
) -> None:
    """Queue an account message. `context` holds what the template needs beyond the shop (a
    link, its validity in hours); it is kept only until the message is sent."""
    if _sender is None:
        raise RuntimeError("No message sender is registered (is the automation app installed?)")
    _sender(kind=kind, to=to, language=language, customer_id=customer_id, context=context)
