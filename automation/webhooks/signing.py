"""Secrets and signatures, as the Standard Webhooks specification has them
(https://www.standardwebhooks.com): HMAC-SHA256 over "<webhook-id>.<timestamp>.<body>",
secrets written "whsec_" + base64, so receivers can verify with any of its libraries."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from automation.models import WebhookEndpoint

SECRET_PREFIX = "whsec_"


def secret_generate() -> str:
    # 192 bits: the specification asks for 24 to 64 random bytes.
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The current secret, and the previous one while its grace period after a rotation lasts:
    a receiver that has not switched yet still finds a signature it can check."""
    keys = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        keys.append(endpoint.previous_secret)
    return keys


def signature_header(keys: list[str], *, msg_id: str, timestamp: datetime, body: bytes) -> str:
    """`webhook-signature`: one "v1,<base64>" per secret, separated by spaces."""
    return " ".join(Webhook(key).sign(msg_id, timestamp, body) for key in keys)
