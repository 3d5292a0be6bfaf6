"""Reads for messages: which template applies, whether a notification is on, who hears it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automation.messages import defaults, kinds
from automation.messages.context import order_context, sample_context
from automation.models import Message, MessageTemplate, NotificationSetting
from automation.models.messages import Medium
from commerce.models import Channel
from customers.models import Customer, ExternalIdentifier
from orders.models import Order

BUILT_IN = "built-in"


@dataclass(frozen=True)
class Wording:
    subject: str
    text: str
    html: str
    template: MessageTemplate | None
    version: str


def wording_for(
    *, kind: str, medium: str, language: str, channel: Channel | None
) -> Wording | None:
    """The merchant's template for this channel, else theirs for all channels, else (for the
    message's language, then English) the built-in wording. None: nothing to say."""
    candidates = MessageTemplate.objects.filter(kind=kind, medium=medium).select_related("channel")
    found = {(t.language, t.channel_id): t for t in candidates}
    for lang in dict.fromkeys((language, "en")):
        for channel_id in (channel.pk, None) if channel else (None,):
            template = found.get((lang, channel_id))
            if template is not None:
                return Wording(
                    subject=template.subject,
                    text=template.body_text,
                    html=template.body_html,
                    template=template,
                    version=f"{template.pk}:v{template.version}",
                )
    built_in = defaults.wording(kind, language)
    if built_in is None:
        return None
    if medium == Medium.EMAIL:
        return Wording(built_in.subject, built_in.text, "", None, BUILT_IN)
    return Wording("", built_in.short, "", None, BUILT_IN)


def latest_order(channel: Channel | None) -> Order | None:
    """The latest order of the channel (or of any): previews show real lines and totals."""
    orders = Order.objects.exclude(number=None).order_by("-placed_at")
    if channel is not None:
        found = orders.filter(channel=channel).first()
        if found is not None:
            return found
    return orders.first()


def preview_context(
    kind: str, language: str, channel: Channel | None
) -> tuple[dict[str, Any], Order | None]:
    """What a template is checked and previewed against: the latest real order's context over
    the sample (so keys an order lacks, such as a refund, still render), or the sample alone."""
    order = latest_order(channel)
    if order is None:
        return sample_context(language), None
    context = {
        **sample_context(language),
        **order_context(order, language=language, with_upsell=kind in kinds.WITH_UPSELL),
    }
    if context["fulfilments"]:
        context["fulfilment"] = context["fulfilments"][0]
    return context, order


def notification_enabled(channel: Channel | None, kind: str) -> bool:
    if channel is None:
        return True
    setting = NotificationSetting.objects.filter(channel=channel, kind=kind).first()
    return setting is None or setting.enabled


@dataclass(frozen=True)
class Recipient:
    medium: str
    address: str
    language: str
    customer: Customer | None


def recipient_for_order(order: Order) -> Recipient | None:
    """The customer's preferred medium where they have an address on it, else e-mail; a guest
    by the order's e-mail. None: nobody to tell (an anonymous till sale)."""
    customer = order.customer if order.customer_id else None
    if customer is not None and not customer.is_active:
        customer = None
    language = (
        (customer.language if customer else "")
        or order.language
        or order.channel.default_language
        or "en"
    )
    email = (customer.email if customer else "") or order.email
    if customer is not None:
        if customer.preferred_medium == Medium.SMS and (customer.phone or order.phone):
            return Recipient(Medium.SMS, customer.phone or order.phone, language, customer)
        if customer.preferred_medium == Medium.LINE:
            line_id = line_user_of(customer)
            if line_id:
                return Recipient(Medium.LINE, line_id, language, customer)
    if email:
        return Recipient(Medium.EMAIL, email, language, customer)
    return None


def line_user_of(customer: Customer) -> str:
    return (
        ExternalIdentifier.objects.filter(customer=customer, kind=ExternalIdentifier.Kind.LINE_USER)
        .values_list("value", flat=True)
        .first()
        or ""
    )


def address_on(customer: Customer, medium: str) -> str:
    if medium == Medium.EMAIL:
        return customer.email
    if medium == Medium.SMS:
        return customer.phone
    return line_user_of(customer)


def messages_of_order(order_id: int):
    return Message.objects.filter(order_id=order_id).order_by("-created_at", "-id")


def messages_of_customer(customer_id: int):
    return (
        Message.objects.filter(customer_id=customer_id)
        .select_related("order")
        .order_by("-created_at", "-id")
    )
