"""Where a rendered message goes: Django's e-mail backends, and a small interface for short-text
media (SMS, LINE) with a recording provider for tests and the demo and a LINE Messaging API push.

A provider returns the provider's id for the message, or raises `ProviderError`; `permanent`
says retrying cannot help (an unknown recipient), so the message fails at once.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import urllib3
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class ProviderError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    message_id: int
    medium: str
    recipient: str
    subject: str
    text: str
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Provider(Protocol):
    name: str

    def send(self, outgoing: Outgoing) -> str: ...


class EmailProvider:
    """Through whatever EMAIL_BACKEND is configured: the console in the demo, SMTP or an ESP's
    backend in production, locmem in tests."""

    name = "email"

    def send(self, outgoing: Outgoing) -> str:
        message_id = f"<message-{outgoing.message_id}@{settings.MESSAGES_MESSAGE_ID_DOMAIN}>"
        mail = EmailMultiAlternatives(
            subject=outgoing.subject,
            body=outgoing.text,
            to=[outgoing.recipient],
            headers={"Message-ID": message_id, **outgoing.headers},
        )
        if outgoing.html:
            mail.attach_alternative(outgoing.html, "text/html")
        try:
            mail.send(fail_silently=False)
        except Exception as error:
            raise ProviderError(f"{type(error).__name__}: {error}") from error
        return message_id


class RecordingProvider:
    """Sends nothing: records what it would send (here and in the log). The default for SMS and
    LINE until a real provider is configured, and what tests read."""

    name = "recording"
    # The latest only: a worker that records for months must not grow without end.
    sent: deque[Outgoing] = deque(maxlen=1000)
    _lock = threading.Lock()
    _count = 0

    def send(self, outgoing: Outgoing) -> str:
        with self._lock:
            RecordingProvider.sent.append(outgoing)
            RecordingProvider._count += 1
            number = RecordingProvider._count
        logger.info("%s to %s: %s", outgoing.medium, outgoing.recipient, outgoing.text)
        return f"recorded-{number}"


class LinePushProvider:
    """LINE Messaging API push (POST /v2/bot/message/push) with the channel access token from
    LINE_CHANNEL_ACCESS_TOKEN. The message id is the retry key LINE deduplicates on."""

    name = "line"

    def __init__(self) -> None:
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=10), retries=False)

    def send(self, outgoing: Outgoing) -> str:
        token = settings.LINE_CHANNEL_ACCESS_TOKEN
        if not token:
            raise ProviderError("LINE_CHANNEL_ACCESS_TOKEN is not set", permanent=True)
        retry_key = f"{settings.LINE_RETRY_KEY_NAMESPACE}-{outgoing.message_id:012d}"
        try:
            response = self.http.request(
                "POST",
                f"{settings.LINE_API_URL.rstrip('/')}/v2/bot/message/push",
                body=json.dumps(
                    {
                        "to": outgoing.recipient,
                        "messages": [{"type": "text", "text": outgoing.text[:5000]}],
                    }
                ),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {token}",
                    # LINE answers 409 to a second push with the same key: sent before.
                    "X-Line-Retry-Key": _uuid_for(retry_key),
                },
            )
        except urllib3.exceptions.HTTPError as error:
            raise ProviderError(f"LINE unreachable: {error}") from error
        if response.status == 409:
            return response.headers.get("x-line-request-id", "sent before")
        if response.status >= 400:
            permanent = 400 <= response.status < 500 and response.status != 429
            raise ProviderError(
                f"LINE answered {response.status}: {response.data[:200]!r}", permanent=permanent
            )
        return response.headers.get("x-line-request-id", "")


def _uuid_for(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, text))


_providers: dict[str, Provider] = {}


def provider_for(medium: str) -> Provider:
    """MESSAGES_PROVIDERS names a class per medium; one instance each per process."""
    if medium not in _providers:
        _providers[medium] = import_string(settings.MESSAGES_PROVIDERS[medium])()
    return _providers[medium]
