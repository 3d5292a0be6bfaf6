"""Webhooks: endpoints other systems register, one delivery per (endpoint, event), every attempt.

A delivery is created in the transaction that dispatches its event, so an event is offered to
every endpoint exactly once; its attempts are the log staff read when a receiver misbehaves.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from commerce.models import Channel, OutboxEvent


class WebhookEndpoint(models.Model):
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    event_types = models.JSONField(
        _("event types"),
        default=list,
        help_text=_('The event types to send, e.g. ["order.paid", "fulfilment.created"].'),
    )
    channel = models.ForeignKey(
        Channel,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("only for channel"),
        help_text=_("Blank: events of every channel."),
    )
    # Kept to sign with; never shown again after it is created or rotated.
    secret = models.CharField(_("secret"), max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    paused_at = models.DateTimeField(
        _("paused by the circuit breaker"), null=True, blank=True, editable=False
    )
    pause_reason = models.CharField(_("why paused"), max_length=250, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(
        _("failures in a row"), default=0, editable=False
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERING = "delivering", _("Delivering")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Refused by the receiver")
        DEAD = "dead", _("Dead letter (retries used up)")

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("endpoint"),
    )
    event = models.ForeignKey(
        OutboxEvent, on_delete=models.CASCADE, related_name="+", verbose_name=_("event")
    )
    event_type = models.CharField(_("event type"), max_length=100)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    # The end of this round of retries: the window starts when the delivery is created, and
    # again when staff retry it or resume its endpoint.
    retry_until = models.DateTimeField(_("retries until"), null=True, blank=True, editable=False)
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_once_per_endpoint")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "delivering"]),
                name="delivery_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.event_id} → {self.endpoint.name}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery,
        on_delete=models.CASCADE,
        related_name="attempt_log",
        verbose_name=_("delivery"),
    )
    attempted_at = models.DateTimeField(_("at"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    response_excerpt = models.CharField(_("response (start)"), max_length=500, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    succeeded = models.BooleanField(_("succeeded"), default=False)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["-attempted_at", "-id"]
        indexes = [models.Index(fields=["succeeded", "attempted_at"], name="attempt_prune")]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.attempted_at:%Y-%m-%d %H:%M:%S}"
