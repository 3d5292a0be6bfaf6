"""The actions a rule's steps take. Each goes through the service of the app that owns the
data (orders, customers, catalog, inventory, messages, webhooks), never around it.

An action is called inside the engine's transaction, after its `ActionExecution` claim: its
writes and the claim commit together. Whatever leaves the process (a message, a webhook) is a
row that its own queue sends after commit, carrying the claim's key. `preview` says what the
action would do without doing it: shadow runs log it, simulations count it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from automation.rules.context import EvalContext
from automation.rules.definition import DefinitionError


class ActionFailed(Exception):
    """The action cannot be done as asked (no recipient, unknown discount): the run fails with
    this message; it is not retried."""


class NeedsApproval(Exception):
    def __init__(self, summary: str, proposal: dict[str, Any]) -> None:
        super().__init__(summary)
        self.summary = summary
        self.proposal = proposal


@dataclass
class Call:
    ctx: EvalContext
    params: dict[str, Any]
    run: Any  # RuleRun
    key: str
    approved: dict[str, Any] | None = None


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    do: Any
    preview: Any
    # Sends something to a customer: counted as a message in simulations and caps.
    messages: bool = False

    def check(self, params: dict[str, Any], field: str) -> None:
        missing = [name for name in self.required if params.get(name) in (None, "")]
        if missing:
            raise DefinitionError(
                field,
                _("%(action)s needs %(names)s.")
                % {"action": self.name, "names": ", ".join(f"{n}=…" for n in missing)},
            )
        unknown = set(params) - set(self.required) - set(self.optional)
        if unknown:
            raise DefinitionError(
                field,
                _("%(action)s does not take %(names)s (it takes %(known)s).")
                % {
                    "action": self.name,
                    "names": ", ".join(sorted(unknown)),
                    "known": ", ".join((*self.required, *self.optional)) or "-",
                },
            )


# --- helpers ------------------------------------------------------------------------------


def _order(call: Call):
    from orders.models import Order

    order_id = call.ctx.subject.order_id
    order = Order.objects.filter(pk=order_id).first() if order_id else None
    if order is None:
        raise ActionFailed(_("This run has no order to act on."))
    return order


def _customer(call: Call):
    from customers.models import Customer

    customer_id = call.ctx.subject.customer_id
    customer = Customer.objects.filter(pk=customer_id).first() if customer_id else None
    if customer is None:
        raise ActionFailed(_("This run has no customer to act on."))
    return customer


def _channel(call: Call):
    from commerce.models import Channel

    code = call.params.get("channel") or call.ctx.get("channel.code")
    channel = Channel.objects.filter(code=code).first() if isinstance(code, str) else None
    if channel is None:
        raise ActionFailed(_("No channel to act in (give channel=…)."))
    return channel


def _variant(call: Call):
    from catalog.models import ProductVariant

    variant_id = call.ctx.subject.variant_id
    variant = (
        ProductVariant.objects.select_related("product").filter(pk=variant_id).first()
        if variant_id
        else None
    )
    if variant is None:
        raise ActionFailed(_("This run has no product variant to act on."))
    return variant


def _reference(call: Call) -> str:
    return f"automation run {call.run.pk}"


# --- messages -----------------------------------------------------------------------------


def _recipient(call: Call) -> tuple[str, str, str, Any]:
    """(medium, address, language, customer) for the run's subject."""
    from automation.messages.selectors import address_on
    from customers.models import Customer

    ctx = call.ctx
    medium = call.params.get("medium") or ""
    customer = None
    if ctx.subject.customer_id:
        customer = Customer.objects.filter(pk=ctx.subject.customer_id).first()
    if customer is not None and customer.is_active:
        medium = medium or customer.preferred_medium or "email"
        address = address_on(customer, medium)
        if address:
            return medium, address, customer.language or "en", customer
    email = ctx.get("cart.email") or ctx.subject.email or ctx.get("order.email")
    if isinstance(email, str) and email and medium in ("", "email"):
        language = (customer.language if customer else "") or "ja"
        return "email", email, language, customer
    raise ActionFailed(
        _("Nobody to send to: no address on %(medium)s.") % {"medium": medium or "email"}
    )


def _message_context(call: Call, language: str) -> dict[str, Any]:
    from automation.rules.recommend import alternatives_for, recommendations_for

    ctx = call.ctx
    context: dict[str, Any] = {
        "customer": {
            "name": ctx.get("customer.first_name") or ctx.get("event.first_name"),
            "language": language,
        }
    }
    variables = call.run.variables or {}
    if variables.get("code"):
        context["code"] = {
            "code": variables["code"],
            "expires_at": variables.get("code_expires_at", ""),
        }
    if ctx.subject.cart_id:
        cart = ctx.root("cart") or {}
        context["cart"] = {
            "lines": cart.get("lines", []),
            "value": str(cart.get("value") or ""),
            "currency": cart.get("currency", ""),
        }
    if ctx.subject.variant_id:
        variant = ctx.root("variant") or {}
        context["product"] = {"name": variant.get("name", ""), "sku": variant.get("sku", "")}
        if call.params.get("with") == "alternatives":
            context["alternatives"] = alternatives_for(
                variant_id=ctx.subject.variant_id, channel_code=ctx.get("channel.code")
            )
    if call.params.get("with") == "recommendations" and ctx.subject.customer_id:
        context["recommendations"] = recommendations_for(customer_id=ctx.subject.customer_id)
    if call.params.get("text"):
        context["text"] = call.params["text"]
    return context


def send_message(call: Call) -> dict[str, Any]:
    from automation.messages import kinds
    from automation.messages.services import message_queue
    from automation.models.messages import Category
    from orders.models import Order

    try:
        medium, address, language, customer = _recipient(call)
    except ActionFailed as nobody:
        # A customer without an address on the medium is not a failure of the rule: nothing
        # is sent, the run goes on, and the log says why.
        return {"message": None, "note": str(nobody)}
    kind = call.params["kind"]
    category = call.params.get("category") or (
        Category.TRANSACTIONAL if kind in kinds.TRANSACTIONAL else Category.MARKETING
    )
    order = None
    if call.ctx.subject.order_id:
        order = Order.objects.filter(pk=call.ctx.subject.order_id).first()
    channel = call.ctx.channel_object()
    message = message_queue(
        kind=kind,
        recipient=address,
        medium=medium,
        language=language,
        category=category,
        channel=channel,
        customer=customer,
        order=order,
        event=call.run.event if kind in kinds.TRANSACTIONAL else None,
        context={**_message_context(call, language), "automation_key": call.key},
    )
    if message is None:
        return {"message": None, "note": "already sent for this event"}
    return {"message": message.pk, "medium": medium, "recipient": address, "category": category}


def send_message_preview(call: Call) -> dict[str, Any]:
    try:
        medium, address, _language, customer = _recipient(call)
    except ActionFailed as failure:
        return {"would": "nothing", "reason": str(failure)}
    return {
        "medium": medium,
        "recipient": address,
        "customer_id": customer.pk if customer else None,
        "kind": call.params["kind"],
    }


def notify_back_in_stock(call: Call) -> dict[str, Any]:
    from automation.rules.services import back_in_stock_notify

    channel = _channel(call)
    sent = back_in_stock_notify(variant=_variant(call), channel=channel, key=call.key)
    return {"notified": sent}


def notify_back_in_stock_preview(call: Call) -> dict[str, Any]:
    from automation.models import BackInStockRequest

    waiting = BackInStockRequest.objects.filter(
        variant_id=call.ctx.subject.variant_id, notified_at__isnull=True
    ).count()
    return {"would_notify": waiting}


# --- codes --------------------------------------------------------------------------------


def issue_code(call: Call) -> dict[str, Any]:
    from orders.models import Discount
    from orders.services import discount_code_issue

    discount = Discount.objects.filter(name=call.params["discount"]).first()
    if discount is None:
        raise ActionFailed(
            _("There is no discount named “%(name)s”.") % {"name": call.params["discount"]}
        )
    customer = _customer(call) if call.ctx.subject.customer_id else None
    hours = int(call.params.get("expires_hours") or 72)
    expires_at = timezone.now() + timedelta(hours=hours)
    code = discount_code_issue(
        discount=discount,
        customer=customer,
        expires_at=expires_at,
        prefix=str(call.params.get("prefix") or ""),
        issued_by=_reference(call),
    )
    call.run.variables = {
        **(call.run.variables or {}),
        "code": code.code,
        "code_expires_at": expires_at.isoformat(),
    }
    return {"code": code.code, "expires_at": expires_at.isoformat()}


def issue_code_preview(call: Call) -> dict[str, Any]:
    hours = int(call.params.get("expires_hours") or 72)
    call.run.variables = {**(call.run.variables or {}), "code": "(code)"}
    return {"discount": call.params["discount"], "expires_hours": hours}


# --- orders and customers ------------------------------------------------------------------


def flag_order(call: Call) -> dict[str, Any]:
    from orders.services import order_flag

    order = _order(call)
    if order.flagged:
        return {"order": order.number, "note": "already flagged"}
    reason = str(call.params.get("reason") or _("Automation"))
    order_flag(order, reason=f"{reason} ({_reference(call)})")
    return {"order": order.number, "flagged": True}


def hold_order(call: Call) -> dict[str, Any]:
    from orders.models import Order
    from orders.services import order_hold

    order = _order(call)
    if order.status == Order.Status.ON_HOLD:
        return {"order": order.number, "note": "already on hold"}
    reason = str(call.params.get("reason") or _("Automation"))
    order_hold(order, reason=f"{reason} ({_reference(call)})")
    return {"order": order.number, "held": True}


def tag_customer(call: Call) -> dict[str, Any]:
    from customers.services import customer_tag_add, customer_tag_remove

    customer = _customer(call)
    tag = str(call.params["tag"])
    if call.params.get("remove"):
        changed = customer_tag_remove(customer, tag)
    else:
        changed = customer_tag_add(customer, tag)
    return {"customer": customer.pk, "tag": tag, "changed": changed}


def award_points(call: Call) -> dict[str, Any]:
    from customers.services import points_adjust

    customer = _customer(call)
    entry = points_adjust(
        customer,
        points=int(call.params["points"]),
        reason=str(call.params.get("reason") or _("Automation")),
        actor=_reference(call),
    )
    return {"customer": customer.pk, "points": entry.points}


def alert_staff(call: Call) -> dict[str, Any]:
    from automation.rules.services import alert_raise

    title = str(call.params["title"])
    if call.ctx.subject.order_id:
        number = call.ctx.get("order.number")
        title = f"{title} ({number})" if number else title
    body = str(call.params.get("details") or "")
    if call.params.get("with") == "alternatives" and call.ctx.subject.variant_id:
        from automation.rules.recommend import alternatives_for

        names = [
            f"{p['name']} ({p['price']})"
            for p in alternatives_for(
                variant_id=call.ctx.subject.variant_id,
                channel_code=call.ctx.get("channel.code") or call.params.get("channel", ""),
            )
        ]
        body = "\n".join(
            [body, _("In-stock alternatives: %(names)s") % {"names": ", ".join(names) or "-"}]
        ).strip()
    alert = alert_raise(
        title=title,
        body=body,
        key=f"action:{call.key}",
        rule=call.run.rule,
        run=call.run,
        order_id=call.ctx.subject.order_id,
        customer_id=call.ctx.subject.customer_id,
    )
    return {"alert": alert.pk if alert else None}


# --- catalogue and stock -------------------------------------------------------------------


def hide_product(call: Call) -> dict[str, Any]:
    from automation.models import AutomationHide
    from catalog.models import ProductChannelListing
    from catalog.services import product_listing_set

    variant = _variant(call)
    channel = _channel(call)
    listing = ProductChannelListing.objects.filter(product=variant.product, channel=channel).first()
    if listing is None or not listing.is_published:
        return {"product": variant.product_id, "note": "not on sale in this channel"}
    try:
        with transaction.atomic():
            AutomationHide.objects.create(product=variant.product, channel=channel, run=call.run)
    except IntegrityError:
        return {"product": variant.product_id, "note": "already hidden by automation"}
    product_listing_set(
        product=variant.product,
        channel=channel,
        is_published=False,
        visible_in_listings=listing.visible_in_listings,
        available_from=listing.available_from,
        available_until=listing.available_until,
    )
    return {"product": variant.product_id, "channel": channel.code, "hidden": True}


def restore_product(call: Call) -> dict[str, Any]:
    from automation.models import AutomationHide
    from catalog.models import ProductChannelListing
    from catalog.services import product_listing_set

    variant = _variant(call)
    channel = _channel(call)
    hide = (
        AutomationHide.objects.select_for_update()
        .filter(product=variant.product, channel=channel, restored_at__isnull=True)
        .first()
    )
    if hide is None:
        return {"product": variant.product_id, "note": "not hidden by automation: left as it is"}
    listing = ProductChannelListing.objects.filter(product=variant.product, channel=channel).first()
    product_listing_set(
        product=variant.product,
        channel=channel,
        is_published=True,
        visible_in_listings=listing.visible_in_listings if listing else True,
        available_from=listing.available_from if listing else None,
        available_until=listing.available_until if listing else None,
    )
    hide.restored_at = timezone.now()
    hide.save(update_fields=["restored_at"])
    return {"product": variant.product_id, "channel": channel.code, "restored": True}


def draft_purchase_order(call: Call) -> dict[str, Any]:
    from inventory.services import purchase_order_draft_for

    quantity = call.params.get("quantity")
    order, created = purchase_order_draft_for(
        variant=_variant(call),
        quantity=int(quantity) if quantity else None,
        reference=_reference(call),
    )
    return {"purchase_order": order.pk, "created": created}


def adjust_price(call: Call) -> dict[str, Any]:
    from automation.rules.pricing import price_proposal
    from catalog.services import variant_price_set

    variant = _variant(call)
    channel = _channel(call)
    proposal = call.approved or price_proposal(
        variant=variant,
        channel=channel,
        params=call.params,
        event=call.ctx.root("event"),
        rule_id=call.run.rule_id,
    )
    if proposal.get("skip"):
        return proposal
    if proposal.get("needs_approval") and call.approved is None:
        raise NeedsApproval(proposal["summary"], proposal)
    variant_price_set(
        variant=variant,
        channel=channel,
        price=Decimal(proposal["new_price"]),
        compare_at_price=proposal.get("compare_at_price"),
        source="automation",
        reference=_reference(call),
    )
    return {k: v for k, v in proposal.items() if k != "needs_approval"}


def adjust_price_preview(call: Call) -> dict[str, Any]:
    from automation.rules.pricing import price_proposal

    return price_proposal(
        variant=_variant(call),
        channel=_channel(call),
        params=call.params,
        event=call.ctx.root("event"),
        rule_id=call.run.rule_id,
    )


# --- webhooks -----------------------------------------------------------------------------


def call_webhook(call: Call) -> dict[str, Any]:
    """Send the trigger event to one endpoint, by name: a fulfilment partner, an ERP. The
    delivery carries its own id as the `webhook-id` header, which receivers dedupe on."""
    from automation.models import WebhookEndpoint
    from automation.webhooks.services import deliveries_enqueue_on_commit, delivery_create

    endpoint = WebhookEndpoint.objects.filter(name=call.params["endpoint"]).first()
    if endpoint is None:
        raise ActionFailed(
            _("There is no webhook endpoint named “%(name)s”.") % {"name": call.params["endpoint"]}
        )
    if call.run.event is None:
        raise ActionFailed(_("A webhook sends the trigger event: this run has none."))
    delivery = delivery_create(endpoint=endpoint, event=call.run.event)
    deliveries_enqueue_on_commit([delivery.pk])
    return {"delivery": delivery.pk, "endpoint": endpoint.name}


def _plain_preview(call: Call) -> dict[str, Any]:
    return {"params": call.params}


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action(
            "send_message",
            _("Send a message"),
            ("kind",),
            ("medium", "category", "with", "text"),
            send_message,
            send_message_preview,
            messages=True,
        ),
        Action(
            "issue_code",
            _("Create a single-use discount code"),
            ("discount",),
            ("expires_hours", "prefix"),
            issue_code,
            issue_code_preview,
        ),
        Action(
            "flag_order",
            _("Flag the order for follow-up"),
            (),
            ("reason",),
            flag_order,
            _plain_preview,
        ),
        Action(
            "hold_order", _("Put the order on hold"), (), ("reason",), hold_order, _plain_preview
        ),
        Action(
            "tag_customer",
            _("Tag (or untag) the customer"),
            ("tag",),
            ("remove",),
            tag_customer,
            _plain_preview,
        ),
        Action(
            "award_points",
            _("Award loyalty points"),
            ("points",),
            ("reason",),
            award_points,
            _plain_preview,
        ),
        Action(
            "alert_staff",
            _("Create a task for staff"),
            ("title",),
            ("details", "with", "channel"),
            alert_staff,
            _plain_preview,
        ),
        Action(
            "hide_product",
            _("Take the product off sale in the channel"),
            (),
            ("channel",),
            hide_product,
            _plain_preview,
        ),
        Action(
            "restore_product",
            _("Put back on sale what automation took off"),
            (),
            ("channel",),
            restore_product,
            _plain_preview,
        ),
        Action(
            "notify_back_in_stock",
            _("Tell the shoppers who asked that it is back"),
            (),
            ("channel",),
            notify_back_in_stock,
            notify_back_in_stock_preview,
            messages=True,
        ),
        Action(
            "draft_purchase_order",
            _("Draft a purchase order to the supplier"),
            (),
            ("quantity",),
            draft_purchase_order,
            _plain_preview,
        ),
        Action(
            "adjust_price",
            _("Adjust the price within guardrails"),
            ("floor_margin",),
            (
                "undercut",
                "ceiling",
                "max_step",
                "max_day",
                "cooldown_hours",
                "approval_above",
                "channel",
            ),
            adjust_price,
            adjust_price_preview,
        ),
        Action(
            "call_webhook",
            _("Send the event to a webhook endpoint"),
            ("endpoint",),
            (),
            call_webhook,
            _plain_preview,
        ),
    )
}
