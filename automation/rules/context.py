"""What a rule's conditions and actions see: the event, and the objects it is about loaded
fresh at evaluation time (never the copy in the event, which may be hours old after a wait).

Each root (`order`, `customer`, `cart`, ...) is loaded on first use and kept for the rest of the
evaluation, so a rule that only reads `event.*` costs no query. Values are plain data: Decimals
for money, ints, strings, lists; the condition evaluator compares them by type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from catalog.models import ProductVariant
from commerce.models import Channel, OutboxEvent
from customers.models import Consent, Customer, SegmentMembership
from orders.core.records import order_payload
from orders.models import Cart, Fulfilment, Order, Payment

MISSING = object()

# Fraud signals (docs/automation.md): points each, an order scoring >= the rule's threshold is
# held. Simple on purpose: a merchant can read why an order scored what it did.
FRAUD_FIRST_ORDER_HIGH_VALUE = Decimal("30000")


def _id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass
class Subject:
    """Who and what a run is about, derived from the event (or the time trigger)."""

    type: str
    id: str
    customer_id: int | None = None
    order_id: int | None = None
    cart_id: int | None = None
    product_id: int | None = None
    variant_id: int | None = None
    fulfilment_id: int | None = None
    email: str = ""
    channel_code: str = ""


def subject_of(event: OutboxEvent | None, wanted: str | None = None, **known: Any) -> Subject:
    payload = event.payload if event is not None else {}
    keys = {
        "customer_id": _id(payload.get("customer_id")),
        "order_id": _id(payload.get("order_id")),
        "cart_id": _id(payload.get("cart_id")),
        "variant_id": _id(payload.get("variant_id")),
        "product_id": _id(payload.get("product_id")),
        "fulfilment_id": _id(payload.get("fulfilment_id")),
        "email": payload.get("email") or "",
        "channel_code": payload.get("channel") or "",
    }
    if event is not None:
        own = {
            "order": "order_id",
            "cart": "cart_id",
            "customer": "customer_id",
            "variant": "variant_id",
            "product": "product_id",
            "fulfilment": "fulfilment_id",
        }
        key = own.get(event.subject_type)
        if key and keys[key] is None:
            keys[key] = _id(event.subject_id)
    keys.update({k: v for k, v in known.items() if v is not None})
    if keys["order_id"] and "customer_id" not in payload and event is not None:
        keys["customer_id"] = (
            Order.objects.filter(pk=keys["order_id"]).values_list("customer_id", flat=True).first()
        )
    subject_type = wanted or (event.subject_type if event is not None else "customer")
    subject_id = {
        "order": keys["order_id"],
        "cart": keys["cart_id"],
        "customer": keys["customer_id"] or keys["email"],
        "variant": keys["variant_id"],
        "product": keys["product_id"],
        "fulfilment": keys["fulfilment_id"],
    }.get(subject_type)
    if subject_id is None and event is not None:
        subject_id = event.subject_id if subject_type == event.subject_type else ""
    return Subject(type=subject_type, id=str(subject_id or ""), **keys)


@dataclass
class EvalContext:
    event: OutboxEvent | None
    subject: Subject
    now: datetime
    variables: dict[str, Any] = field(default_factory=dict)
    # Simulation: objects are today's, not the event's moment; conditions reading them are
    # marked in the report.
    simulated: bool = False
    _cache: dict[str, Any] = field(default_factory=dict)
    used_current_data: set[str] = field(default_factory=set)

    def root(self, name: str) -> Any:
        if name not in self._cache:
            loader = getattr(self, f"_load_{name}", None)
            self._cache[name] = loader() if loader else None
        if name not in ("event", "local", "channel", "run"):
            self.used_current_data.add(name)
        return self._cache[name]

    def resolve(self, path: str, item: Any = None) -> Any:
        head, *rest = path.split(".")
        value = item if head == "item" else self.root(head)
        for key in rest:
            if isinstance(value, dict):
                value = value.get(key, MISSING)
            else:
                return MISSING
            if value is MISSING:
                return MISSING
        return value

    def get(self, path: str, default: Any = "") -> Any:
        """`resolve`, with `default` for a missing or empty value: for actions, not conditions."""
        value = self.resolve(path)
        return default if value is MISSING or value is None else value

    # --- loaders -------------------------------------------------------------------------

    def _load_event(self) -> dict[str, Any]:
        if self.event is None:
            return {}
        return {
            **self.event.payload,
            "type": self.event.type,
            "occurred_at": self.event.occurred_at,
        }

    def _load_run(self) -> dict[str, Any]:
        return dict(self.variables)

    def _load_channel(self) -> dict[str, Any]:
        code = self.subject.channel_code
        order = self.root("order") if not code and self.subject.order_id else None
        code = code or (order or {}).get("channel", "")
        return {"code": code}

    def channel_object(self) -> Channel | None:
        code = self.resolve("channel.code")
        return Channel.objects.filter(code=code).first() if isinstance(code, str) and code else None

    def _load_order(self) -> dict[str, Any] | None:
        if not self.subject.order_id:
            return None
        order = (
            Order.objects.select_related("channel", "pickup_location")
            .prefetch_related("lines")
            .filter(pk=self.subject.order_id)
            .first()
        )
        if order is None:
            return None
        # The same fields as the order's events carry (order_payload), read fresh, plus what
        # only conditions need.
        data = dict(order_payload(order))
        billing = order.billing_address or {}
        data.update(
            {
                "id": order.pk,
                "flagged": order.flagged,
                "billing_region": billing.get("region", ""),
                "is_pickup": order.pickup_location_id is not None,
            }
        )
        data["units"] = sum(line["quantity"] for line in data["lines"])
        data["fraud_signals"] = fraud_signals(order)
        data["fraud_score"] = sum(points for _name, points in data["fraud_signals"])
        return data

    def _load_customer(self) -> dict[str, Any] | None:
        customer = None
        if self.subject.customer_id:
            customer = (
                Customer.objects.select_related("loyalty__tier")
                .filter(pk=self.subject.customer_id)
                .first()
            )
        if customer is None:
            return None
        consents = dict(Consent.objects.filter(customer=customer).values_list("medium", "granted"))
        loyalty = getattr(customer, "loyalty", None)
        last = customer.last_order_at
        return {
            "id": customer.pk,
            "email": customer.email,
            "first_name": customer.first_name,
            "language": customer.language,
            "state": customer.state,
            "time_zone": customer.time_zone,
            "tags": sorted(customer.tags.values_list("name", flat=True)),
            "segments": sorted(
                SegmentMembership.objects.filter(customer=customer).values_list(
                    "segment__slug", flat=True
                )
            ),
            "rfm_segment": customer.rfm_segment,
            "orders_count": customer.order_count,
            "lifetime_value": customer.lifetime_value,
            "days_since_last_order": (self.now - last).days if last else None,
            "member": loyalty is not None,
            "tier": loyalty.tier.name if loyalty is not None and loyalty.tier_id else "",
            "points": loyalty.balance if loyalty is not None else 0,
            "consent": {medium: bool(granted) for medium, granted in consents.items()},
        }

    def _load_cart(self) -> dict[str, Any] | None:
        if not self.subject.cart_id:
            return None
        cart = Cart.objects.select_related("channel").filter(pk=self.subject.cart_id).first()
        if cart is None:
            return None
        payload = (
            self.event.payload
            if self.event is not None and self.event.subject_type == "cart"
            else {}
        )
        ordered = Order.objects.filter(cart_id=cart.pk).exists()
        return {
            "id": cart.pk,
            "state": cart.state,
            "channel": cart.channel.code,
            "email": cart.email,
            "customer_id": cart.customer_id,
            "has_contact": bool(cart.email or cart.phone or cart.customer_id),
            "idle_minutes": int((self.now - cart.last_activity_at).total_seconds() // 60),
            "ordered": ordered,
            "value": Decimal(str(payload.get("value")))
            if payload.get("value") is not None
            else None,
            "currency": payload.get("currency", cart.channel.currency),
            "lines": payload.get("lines", []),
        }

    def _load_variant(self) -> dict[str, Any] | None:
        if not self.subject.variant_id:
            return None
        variant = (
            ProductVariant.objects.select_related("product")
            .filter(pk=self.subject.variant_id)
            .first()
        )
        if variant is None:
            return None
        from inventory.models import Stock
        from inventory.selectors import free_units

        location_ids = Stock.objects.filter(variant=variant).values_list("location_id", flat=True)
        free = free_units(variant_ids=[variant.pk], location_ids=list(location_ids))
        return {
            "id": variant.pk,
            "sku": variant.sku,
            "product_id": variant.product_id,
            "name": variant.product.name,
            "category_id": variant.product.category_id,
            # Free to sell over every location: "sold out" means nowhere, not at one store.
            "available": sum(free.values()),
        }

    def _load_product(self) -> dict[str, Any] | None:
        variant = self.root("variant")
        return {"id": variant["product_id"], "name": variant["name"]} if variant else None

    def _load_stock(self) -> dict[str, Any] | None:
        event = self.root("event")
        if self.event is None or self.event.subject_type != "stock":
            return None
        return {k: event.get(k) for k in ("available", "threshold", "level", "location", "on_hand")}

    def _load_fulfilment(self) -> dict[str, Any] | None:
        if not self.subject.fulfilment_id:
            return None
        fulfilment = (
            Fulfilment.objects.select_related("location")
            .filter(pk=self.subject.fulfilment_id)
            .first()
        )
        if fulfilment is None:
            return None
        return {
            "id": fulfilment.pk,
            "state": fulfilment.state,
            "location": fulfilment.location.code if fulfilment.location_id else "",
            "tracking_number": fulfilment.tracking_number,
        }

    def _load_local(self) -> dict[str, Any]:
        local = self.now.astimezone(self.zone())
        return {
            "hour": local.hour,
            "weekday": ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()],
            "date": local.date().isoformat(),
        }

    def zone(self) -> ZoneInfo:
        customer = self.root("customer") if self.subject.customer_id else None
        name = (customer or {}).get("time_zone") or ""
        if not name:
            channel = self.channel_object()
            name = channel.time_zone if channel else ""
        return ZoneInfo(name or settings.TIME_ZONE)

    # --- windows -------------------------------------------------------------------------

    def window(self, function: str, of: str, days: int) -> Any:
        since = self.now - timedelta(days=days)
        customer_id = self.subject.customer_id
        if of.startswith("orders"):
            orders = Order.objects.filter(placed_at__gte=since, placed_at__lte=self.now)
            if customer_id:
                orders = orders.filter(customer_id=customer_id)
            elif self.subject.email:
                orders = orders.filter(email__iexact=self.subject.email)
            else:
                return 0 if function == "count" else Decimal(0)
            if function == "count":
                return orders.count()
            return orders.aggregate(total=Sum("total"))["total"] or Decimal(0)
        if of == "messages":
            from automation.models import Message

            if not customer_id:
                return 0
            return Message.objects.filter(customer_id=customer_id, created_at__gte=since).count()
        if of == "runs":
            from automation.models import RuleRun

            return (
                RuleRun.objects.filter(
                    subject_type=self.subject.type,
                    subject_id=self.subject.id,
                    started_at__gte=since,
                )
                .exclude(status=RuleRun.Status.SKIPPED)
                .count()
            )
        return 0


def fraud_signals(order: Order) -> list[tuple[str, int]]:
    """(signal, points) for a placed order. Reads few rows: the customer's earlier orders
    and the orders to the same address in the last day."""
    signals: list[tuple[str, int]] = []
    earlier = Order.objects.filter(placed_at__lt=order.placed_at).filter(
        Q(customer_id=order.customer_id) if order.customer_id else Q(email__iexact=order.email)
    )
    if order.total >= FRAUD_FIRST_ORDER_HIGH_VALUE and not earlier.exists():
        signals.append(("first_order_high_value", 40))
    shipping = order.shipping_address or {}
    billing = order.billing_address or {}
    if (
        billing
        and shipping
        and (
            billing.get("country") != shipping.get("country")
            or (billing.get("region") and billing.get("region") != shipping.get("region"))
        )
    ):
        signals.append(("billing_shipping_apart", 30))
    declined = 0
    if order.cart_id:
        declined = Payment.objects.filter(
            cart_id=order.cart_id, status=Payment.Status.DECLINED
        ).count()
    if declined >= 3:
        signals.append(("many_declined_payments", 30))
    postal = shipping.get("postal_code")
    if postal:
        same_address = (
            Order.objects.filter(
                placed_at__gte=order.placed_at - timedelta(days=1),
                shipping_address__postal_code=postal,
                shipping_address__line1=shipping.get("line1", ""),
            )
            .exclude(customer_id=order.customer_id)
            .values("email")
            .distinct()
            .count()
        )
        if same_address >= 3:
            signals.append(("many_orders_to_one_address", 30))
    return signals


def now() -> datetime:
    return timezone.now()
