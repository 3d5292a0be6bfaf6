"""Messages to customers: the templates merchants edit, per-channel switches, and the log.

The log row is the message: it is created (under a unique constraint on event, kind and
recipient) before anything is sent, claimed by the worker that sends it, and keeps what was sent
and why it was not.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from commerce.models import Channel, OutboxEvent


class Medium(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    LINE = "line", _("LINE")


class Category(models.TextChoices):
    TRANSACTIONAL = "transactional", _("Transactional (about an order or an account)")
    MARKETING = "marketing", _("Marketing (needs consent; caps and quiet hours apply)")


class MessageTemplate(models.Model):
    """A merchant's wording of one message kind, for one language, medium and (optionally) channel.

    Where none matches, the built-in wording shipped with the product is used, so every channel
    has every notification from the first day. Saving validates the template (see
    `automation.messages.rendering`) and increases `version`; each message records the version it
    was rendered from.
    """

    kind = models.CharField(_("message kind"), max_length=50)
    medium = models.CharField(_("medium"), max_length=10, choices=Medium.choices)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    channel = models.ForeignKey(
        Channel,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("channel"),
        help_text=_("Blank: every channel that has no template of its own."),
    )
    subject = models.CharField(
        _("subject"), max_length=250, blank=True, help_text=_("E-mail only.")
    )
    body_text = models.TextField(
        _("text"), help_text=_("The plain-text e-mail, or the whole SMS / LINE message.")
    )
    body_html = models.TextField(_("HTML"), blank=True, help_text=_("E-mail only; optional."))
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["kind", "medium", "language", "channel__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "medium", "language", "channel"],
                name="template_once_per_channel",
            ),
            models.UniqueConstraint(
                fields=["kind", "medium", "language"],
                condition=Q(channel__isnull=True),
                name="template_once_for_all_channels",
            ),
        ]

    def __str__(self) -> str:
        where = self.channel.code if self.channel_id else _("all channels")
        return f"{self.kind} · {self.get_medium_display()} · {self.language} · {where}"


class NotificationSetting(models.Model):
    """A transactional notification switched off (or back on) for one channel. No row: on."""

    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    kind = models.CharField(_("message kind"), max_length=50)
    enabled = models.BooleanField(_("sent"), default=True)

    class Meta:
        verbose_name = _("notification setting")
        verbose_name_plural = _("notification settings")
        ordering = ["channel__code", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "kind"], name="notification_once_per_channel"
            )
        ]

    def __str__(self) -> str:
        state = _("on") if self.enabled else _("off")
        return f"{self.channel.code} · {self.kind}: {state}"


class Message(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Suppressed")

    kind = models.CharField(_("kind"), max_length=50, db_index=True)
    category = models.CharField(
        _("category"), max_length=15, choices=Category.choices, default=Category.TRANSACTIONAL
    )
    medium = models.CharField(_("medium"), max_length=10, choices=Medium.choices)
    language = models.CharField(_("language"), max_length=10)
    recipient = models.CharField(_("recipient"), max_length=254)
    channel = models.ForeignKey(
        Channel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("channel"),
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("customer"),
    )
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("order"),
    )
    fulfilment = models.ForeignKey(
        "orders.Fulfilment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("parcel / pickup"),
    )
    event = models.ForeignKey(
        OutboxEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("caused by event"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    reason = models.CharField(_("reason"), max_length=250, blank=True)
    due_at = models.DateTimeField(_("send at"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("template"),
    )
    template_version = models.CharField(
        _("template version"),
        max_length=30,
        blank=True,
        help_text=_('"built-in", or the merchant template\'s id and version.'),
    )
    subject = models.CharField(_("subject"), max_length=250, blank=True)
    body_text = models.TextField(_("text sent"), blank=True)
    provider = models.CharField(_("provider"), max_length=50, blank=True)
    provider_id = models.CharField(_("provider's id"), max_length=250, blank=True)
    context = models.JSONField(
        _("data for the template"),
        default=dict,
        blank=True,
        help_text=_(
            "What a message without an order needs (an account link); cleared once it is sent."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        constraints = [
            # The exactly-once guarantee: a second delivery of an event cannot add a second row.
            models.UniqueConstraint(
                fields=["event", "kind", "recipient"],
                condition=Q(event__isnull=False),
                name="message_once_per_event_kind_recipient",
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=["queued", "sending"]),
                name="message_pending",
            ),
            models.Index(
                fields=["customer", "medium", "sent_at"],
                condition=Q(category="marketing", status="sent"),
                name="message_marketing_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient} ({self.get_status_display()})"
