"""The kernel's data: sales channels and the domain-event outbox."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from commerce.money import currency_exponent, known_currencies


def validate_currency(value: str) -> None:
    if value not in known_currencies():
        raise ValidationError(
            _("%(value)s is not an ISO 4217 currency code."), params={"value": value}
        )


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class Channel(models.Model):
    """Where a sale happens: a web shop, an app, a store's till, the call centre, a marketplace."""

    class Kind(models.TextChoices):
        WEB = "web", _("Web shop")
        APP = "app", _("Mobile app")
        POS = "pos", _("Store (POS)")
        PHONE = "phone", _("Phone / call centre")
        MARKETPLACE = "marketplace", _("Marketplace")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    prices_include_tax = models.BooleanField(_("prices include tax"), default=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    default_language = models.CharField(_("default language"), max_length=10, default="en")
    country = models.CharField(
        _("country"),
        max_length=2,
        blank=True,
        help_text=_(
            "Where it sells (ISO 3166 code): phone numbers without a country code are "
            "read as this country's."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def currency_exponent(self) -> int:
        return currency_exponent(self.currency)


class OutboxEvent(models.Model):
    """A domain event, written in the transaction of the change that caused it.

    Rows are kept after dispatch: they are the history that automation dry-runs replay.
    """

    type = models.CharField(_("type"), max_length=100, db_index=True)
    subject_type = models.CharField(_("subject type"), max_length=50)
    subject_id = models.CharField(_("subject id"), max_length=64)
    payload = models.JSONField(_("payload"), encoder=DjangoJSONEncoder, default=dict)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    # Set after OUTBOX_MAX_ATTEMPTS failures: the relay leaves it until staff retry it.
    dead_lettered_at = models.DateTimeField(_("dead-lettered at"), null=True, blank=True)
    # Set when an automation rule's action caused the event: the rule engine refuses to run
    # rules past a causation depth, so two rules can never ping-pong forever.
    caused_by_run = models.BigIntegerField(_("caused by rule run"), null=True, blank=True)
    causation_depth = models.PositiveSmallIntegerField(_("causation depth"), default=0)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["type", "occurred_at"], name="outbox_type_time"),
            models.Index(fields=["subject_type", "subject_id"], name="outbox_subject"),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(dispatched_at__isnull=True),
                name="outbox_pending",
            ),
            models.Index(
                fields=["dead_lettered_at"],
                condition=models.Q(dead_lettered_at__isnull=False, dispatched_at__isnull=True),
                name="outbox_dead_letters",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.subject_type}:{self.subject_id}"


class EventReceipt(models.Model):
    """A consumer handled an event. Written in the same transaction as the consumer's effect,
    so that a re-delivered event finds the receipt and has no second effect."""

    consumer = models.CharField(_("consumer"), max_length=100)
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="receipts")
    handled_at = models.DateTimeField(_("handled at"), default=timezone.now)

    class Meta:
        verbose_name = _("event receipt")
        verbose_name_plural = _("event receipts")
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event"], name="receipt_once_per_consumer")
        ]

    def __str__(self) -> str:
        return f"{self.consumer} ← {self.event_id}"


class ProcessHeartbeat(models.Model):
    """When a background process (the Celery worker, beat) last showed it is alive.

    Kept in the database, not the cache, so that readiness can still tell a stale worker apart
    from a Redis outage.
    """

    class Process(models.TextChoices):
        WORKER = "worker", _("Celery worker")
        BEAT = "beat", _("Celery beat")

    process = models.CharField(_("process"), max_length=20, choices=Process.choices, unique=True)
    seen_at = models.DateTimeField(_("seen at"))
    hostname = models.CharField(_("host name"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("process heartbeat")
        verbose_name_plural = _("process heartbeats")

    def __str__(self) -> str:
        return f"{self.process} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"
