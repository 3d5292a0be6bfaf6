"""Writing and sending messages: exactly once per (event, kind, recipient).

1. `message_queue` writes the log row in the caller's transaction (the event's dispatch); the
   unique constraint makes a second delivery of the event add nothing. After commit the row's
   id goes to the `messages` queue.
2. `message_send` claims the row (queued → sending, in one UPDATE), checks the guards, renders
   and hands it to the provider, then marks it sent. A worker that dies after claiming leaves
   the row `sending`; once the claim is older than MESSAGES_CLAIM_TIMEOUT the beat sweeper
   (`messages_send_due`) claims it again, so the message goes out once, not zero times.
   The residual case: the provider accepted it and the worker died before writing "sent". The
   message is then sent a second time, with the same Message-ID header (e-mail) or LINE retry
   key, so a receiver that deduplicates on them shows it once.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch, Q
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from automation.messages import defaults, kinds
from automation.messages.context import (
    Amount,
    fulfilment_context,
    order_context,
    sample_context,
    shop_context,
)
from automation.messages.providers import Outgoing, ProviderError, provider_for
from automation.messages.rendering import render, render_message, template_check
from automation.messages.selectors import address_on, preview_context, wording_for
from automation.models import Message, MessageTemplate
from automation.models.messages import Category, Medium
from commerce.errors import ValidationFailed
from commerce.events import send_task_quietly
from commerce.models import Channel, OutboxEvent
from customers.models import Consent, Customer
from orders.models import Fulfilment, Order, OrderLine

logger = logging.getLogger(__name__)

S = Message.Status
PARCEL = Fulfilment.State
RETRY_DELAYS = (60, 300, 1800, 7200)  # seconds; after these, the message has failed


TEMPLATE_FIELDS = ("subject", "body_text", "body_html")


def template_validate(fields: dict[str, Any]) -> None:
    """Refuse a template now, with the field, the line and the reason, so that it can never
    fail at send time: every part compiles and renders over the channel's latest order."""
    errors: dict[str, list[str]] = {}
    if fields.get("medium") == Medium.EMAIL and not (fields.get("subject") or "").strip():
        errors["subject"] = [_("An e-mail needs a subject.")]
    sample, _order = preview_context(
        fields.get("kind", ""), fields.get("language") or "en", fields.get("channel")
    )
    for field in TEMPLATE_FIELDS:
        try:
            template_check(fields.get(field) or "", field=field, sample=sample)
        except ValidationError as error:
            errors.setdefault(field, []).extend(error.message_dict.get(field, []))
    if errors:
        raise ValidationFailed(errors)


@transaction.atomic
def template_save(
    template: MessageTemplate, *, changed: list[str] | None, actor: AbstractBaseUser | None
) -> MessageTemplate:
    """Save a merchant's template (checked first). `changed`: the fields edited, None for a new
    one. The version goes up when the wording changed, so each message names what it used."""
    template_validate(
        {
            f: getattr(template, f)
            for f in ("kind", "medium", "language", "channel", *TEMPLATE_FIELDS)
        }
    )
    if changed is not None and any(f in changed for f in TEMPLATE_FIELDS):
        template.version = F("version") + 1
    template.updated_by = actor
    template.save()
    template.refresh_from_db(fields=["version"])
    return template


def message_queue(
    *,
    kind: str,
    recipient: str,
    medium: str,
    language: str,
    category: str = Category.TRANSACTIONAL,
    channel: Channel | None = None,
    customer: Customer | None = None,
    order: Order | None = None,
    fulfilment: Fulfilment | None = None,
    event: OutboxEvent | None = None,
    context: dict[str, Any] | None = None,
    due_at: datetime | None = None,
) -> Message | None:
    """Log a message to send. None when this event already has it for this kind and recipient."""
    try:
        with transaction.atomic():
            message = Message.objects.create(
                kind=kind,
                category=category,
                medium=medium,
                language=language,
                recipient=recipient,
                channel=channel,
                customer=customer,
                order=order,
                fulfilment=fulfilment,
                event=event,
                context=context or {},
                due_at=due_at or timezone.now(),
            )
    except IntegrityError:
        if event is None:
            raise  # only an event's second delivery may meet the unique constraint
        return None
    if message.due_at <= timezone.now() + timedelta(seconds=5):
        transaction.on_commit(partial(hand_off, message.pk))
    return message


def hand_off(message_id: int) -> None:
    """To the messages queue; if the broker is down the sweeper sends it within a minute."""
    send_task_quietly("automation.send_message", message_id, queue="messages")


def _claim(message_id: int, now: datetime) -> bool:
    stale = now - timedelta(seconds=settings.MESSAGES_CLAIM_TIMEOUT)
    return bool(
        Message.objects.filter(pk=message_id)
        .filter(Q(status=S.QUEUED, due_at__lte=now) | Q(status=S.SENDING, claimed_at__lt=stale))
        .update(status=S.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )


def _finish(message: Message, **fields: Any) -> None:
    Message.objects.filter(pk=message.pk, status=S.SENDING).update(**fields)


def _defer(message: Message, until: datetime, reason: str) -> None:
    # A deferral is not an attempt: the count is for provider failures.
    _finish(message, status=S.QUEUED, due_at=until, reason=reason, attempts=F("attempts") - 1)


def customer_zone(customer: Customer | None, channel: Channel | None) -> ZoneInfo:
    name = (
        (customer.time_zone if customer else "")
        or (channel.time_zone if channel else "")
        or (
            customer.acquired_channel.time_zone if customer and customer.acquired_channel_id else ""
        )
        or settings.TIME_ZONE
    )
    return ZoneInfo(name)


def quiet_until(now: datetime, zone: ZoneInfo) -> datetime | None:
    """The end of quiet hours when `now` falls inside them in `zone`, else None."""
    start, end = settings.MESSAGES_QUIET_HOURS
    local = now.astimezone(zone)
    hour = local.hour + local.minute / 60
    inside = start <= hour or hour < end if start > end else start <= hour < end
    if not inside:
        return None
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(hour=int(end)), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def marketing_guard(message: Message, now: datetime) -> tuple[str, str, datetime | None] | None:
    """(status, reason, defer until) when a marketing message may not go now; None when it may.
    Checked at send time: consent given yesterday and withdrawn today means no."""
    customer = message.customer
    if customer is None or not customer.is_active:
        return S.SUPPRESSED, _("No active customer to ask for consent."), None
    consent = Consent.objects.filter(customer=customer, medium=message.medium).first()
    if consent is None or not consent.granted:
        return (
            S.SUPPRESSED,
            _("No marketing consent for %(medium)s.") % {"medium": message.medium},
            None,
        )
    cap = timedelta(hours=settings.MESSAGES_FREQUENCY_CAP_HOURS[message.medium])
    last = (
        Message.objects.filter(
            customer=customer,
            medium=message.medium,
            category=Category.MARKETING,
            status__in=[S.SENT, S.SENDING],
        )
        .exclude(pk=message.pk)
        .annotate(at=Coalesce("sent_at", "claimed_at"))
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if last is not None and last + cap > now:
        return (
            S.QUEUED,
            _("Deferred: frequency cap of %(hours)s h for %(medium)s.")
            % {
                "hours": settings.MESSAGES_FREQUENCY_CAP_HOURS[message.medium],
                "medium": message.medium,
            },
            last + cap,
        )
    until = quiet_until(now, customer_zone(customer, message.channel))
    if until is not None:
        return S.QUEUED, _("Deferred: quiet hours in the customer's time zone."), until
    return None


def transactional_guard(message: Message) -> str | None:
    """A reason not to send any more (the moment passed), or None."""
    if (
        message.kind == kinds.PICKUP_REMINDER
        and message.fulfilment_id
        and message.fulfilment.state != PARCEL.READY
    ):
        return _("The order was collected or cancelled before the reminder was due.")
    if message.order_id is None and message.kind in kinds.ORDER_KINDS:
        return _("The order no longer exists.")
    return None


def message_context(message: Message) -> dict[str, Any]:
    language = message.language
    extra = dict(message.context or {})
    if message.order is not None:
        context = order_context(
            message.order, language=language, with_upsell=message.kind in kinds.WITH_UPSELL
        )
        currency = message.order.currency
        if "refund_amount" in extra:
            context["refund"] = {
                "amount": Amount(Decimal(str(extra.pop("refund_amount"))), currency, language)
            }
        if "cancellation_reason" in extra:
            context["cancellation"] = {"reason": extra.pop("cancellation_reason")}
        if message.fulfilment is not None:
            context["fulfilment"] = fulfilment_context(
                Fulfilment.objects.select_related("location", "carrier")
                .prefetch_related("lines__order_line")
                .get(pk=message.fulfilment_id),
                message.order.channel.time_zone,
                language,
            )
        elif context["fulfilments"]:  # a test send of a parcel's mail: the order's first parcel
            context["fulfilment"] = context["fulfilments"][0]
    elif message.kind == kinds.TEST:
        context = sample_context(language)
    else:
        context = {"shop": shop_context(message.channel), "customer": {"language": language}}
    if message.category == Category.MARKETING and message.customer is not None:
        from customers.views import unsubscribe_url

        context["unsubscribe_url"] = unsubscribe_url(message.customer, message.medium)
    context.update(extra)
    return context


def _outgoing(message: Message) -> tuple[Outgoing, str, MessageTemplate | None]:
    wording = wording_for(
        kind=message.kind, medium=message.medium, language=message.language, channel=message.channel
    )
    if wording is None:
        raise ProviderError(_("No template for %(kind)s.") % {"kind": message.kind}, permanent=True)
    context = message_context(message)
    with translation.override(message.language):
        rendered = render_message(
            subject=wording.subject, text=wording.text, html=wording.html, context=context
        )
        html = rendered.html
        if message.medium == Medium.EMAIL and not html:
            html = render(
                defaults.HTML_LAYOUT,
                {**context, "subject": rendered.subject, "body": rendered.text},
                html=True,
            )
    headers = {}
    if message.category == Category.MARKETING and context.get("unsubscribe_url"):
        # RFC 8058 one-click: mail providers POST to the link; customers.views records it.
        headers["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    outgoing = Outgoing(
        message_id=message.pk,
        medium=message.medium,
        recipient=message.recipient,
        subject=rendered.subject,
        text=rendered.text,
        html=html if message.medium == Medium.EMAIL else "",
        headers=headers,
    )
    return outgoing, wording.version, wording.template


def message_send(message_id: int, *, now: datetime | None = None) -> str:
    """Claim, check, render, send. Returns the status the message is left in (or "skipped"
    when another worker has it, or it is done). Never raises for a provider's failure."""
    now = now or timezone.now()
    if not _claim(message_id, now):
        return "skipped"
    # The order as the context reads it (channel, pickup store, lines): no second fetch there.
    # The customer (a wide row) only where the guards need it: marketing.
    message = (
        Message.objects.select_related("order__channel", "order__pickup_location", "channel")
        .prefetch_related(Prefetch("order__lines", queryset=OrderLine.objects.order_by("id")))
        .defer("order__routing")
        .get(pk=message_id)
    )
    if message.category == Category.MARKETING:
        # One customer's marketing messages pass the guards one at a time (the customer's row
        # is the lock), and one being sent counts against the cap: two workers cannot both
        # send inside it.
        with transaction.atomic():
            Customer.objects.select_for_update().filter(pk=message.customer_id).exists()
            verdict = marketing_guard(message, now)
            if verdict is not None:
                status, reason, until = verdict
                if status == S.QUEUED:
                    _defer(message, until, reason)
                else:
                    _finish(message, status=status, reason=reason)
                return status
        message.recipient = address_on(message.customer, message.medium) or message.recipient
    else:
        reason = transactional_guard(message)
        if reason:
            _finish(message, status=S.SUPPRESSED, reason=reason)
            return S.SUPPRESSED
    provider = provider_for(message.medium)
    try:
        outgoing, version, template = _outgoing(message)
        provider_id = provider.send(outgoing)
    except ProviderError as error:
        return _failed(message, provider.name, str(error), permanent=error.permanent, now=now)
    except Exception as error:  # a bug or a template fault: logged, retried, never lost silently
        logger.exception("Message %s could not be sent", message_id)
        return _failed(
            message, provider.name, f"{type(error).__name__}: {error}", permanent=False, now=now
        )
    _finish(
        message,
        status=S.SENT,
        sent_at=timezone.now(),
        provider=provider.name,
        provider_id=provider_id[:250],
        recipient=outgoing.recipient,
        subject=outgoing.subject[:250],
        template=template,
        template_version=version,
        reason="",
        # An account link is a key to the account: it lives only until the mail is sent.
        **({"context": {}} if message.kind in kinds.SENSITIVE else {}),
        body_text=_redacted(message, outgoing.text),
    )
    return S.SENT


def _redacted(message: Message, text: str) -> str:
    link = (message.context or {}).get("link")
    if message.kind in kinds.SENSITIVE and link:
        return text.replace(link, _("[link removed once sent]"))
    return text


def _failed(message: Message, provider: str, error: str, *, permanent: bool, now: datetime) -> str:
    attempts = message.attempts + 1  # the claim counted it in the database
    if permanent or attempts > len(RETRY_DELAYS):
        _finish(message, status=S.FAILED, provider=provider, reason=error[:250])
        return S.FAILED
    _finish(
        message,
        status=S.QUEUED,
        provider=provider,
        reason=(_("Retrying: %(error)s") % {"error": error})[:250],
        due_at=now + timedelta(seconds=RETRY_DELAYS[attempts - 1]),
    )
    return S.QUEUED


def messages_send_due(*, batch: int = 200, now: datetime | None = None) -> int:
    """Send what is due: deferred and retried messages, lost hand-offs, stale claims. Several
    sweepers at once take different rows (SKIP LOCKED on the pick)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.MESSAGES_CLAIM_TIMEOUT)
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(Q(status=S.QUEUED, due_at__lte=now) | Q(status=S.SENDING, claimed_at__lt=stale))
            .order_by("due_at", "id")
            .values_list("id", flat=True)[:batch]
        )
    sent = 0
    for message_id in ids:
        sent += message_send(message_id, now=now) == S.SENT
    return sent


def messages_send_again(*, message_ids: list[int]) -> list[int]:
    """Failed messages get a fresh set of attempts, starting now. Returns those queued."""
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update()
            .filter(pk__in=message_ids, status=S.FAILED)
            .values_list("pk", flat=True)
        )
        Message.objects.filter(pk__in=ids).update(
            status=S.QUEUED, due_at=timezone.now(), attempts=0, reason=""
        )
        for message_id in ids:
            transaction.on_commit(partial(hand_off, message_id))
    return ids


def message_send_test(
    *,
    kind: str,
    to: str,
    medium: str = Medium.EMAIL,
    order: Order | None = None,
    language: str = "en",
    channel: Channel | None = None,
) -> Message:
    """A one-off: the kind's template rendered over `order` (or sample data) to `to`. Queued
    like any message, so the admin request never waits for the mail server."""
    with transaction.atomic():
        message = Message.objects.create(
            kind=kind,
            medium=medium,
            language=language,
            recipient=to,
            channel=channel or (order.channel if order else None),
            order=order,
            context={"test": True},
        )
        transaction.on_commit(partial(hand_off, message.pk))
    return message


def account_message_queue(
    *, kind: str, to: str, language: str, customer_id: int | None, context: dict[str, Any]
) -> Message:
    """The account mails (confirm your e-mail, password reset) the customers app asks for."""
    with transaction.atomic():
        message = Message.objects.create(
            kind=kind,
            medium=Medium.EMAIL,
            language=language,
            recipient=to,
            customer_id=customer_id,
            context=context,
        )
        transaction.on_commit(partial(hand_off, message.pk))
    return message
