"""Triggers: the event types a rule may start from, and the ones we compute.

Computed triggers are re-derived from the database by sweeps, so a lost event delays an action
by one sweep instead of losing it:
- `cart.abandoned`: an open cart with contact details, idle for AUTOMATION_CART_IDLE_MINUTES,
  with no order, in a shopper's channel (the phone and POS channels are staff's: skipped);
  published once per idle spell (a `ComputedTrigger` row per cart and last activity).
- schedules: `schedule` rules run once per slot (every N minutes, or at a local time of day in
  an IANA zone) for each member of their audience, in pages.
- dates: `date` rules run for each customer whose last order / registration was N days ago
  (today in the rule's zone), once per day.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from automation.models import ComputedTrigger, Rule, RuleRun
from automation.rules.context import Subject
from commerce import events
from commerce.models import Channel
from customers.models import Consent, Customer, SegmentMembership
from orders.models import Cart, Order

CART_ABANDONED = "cart.abandoned"
COMPUTED = {CART_ABANDONED: "a cart with contact details left idle, with no order since"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@cache
def trigger_types() -> tuple[str, ...]:
    from automation.webhooks.payloads import CATALOGUE

    extra = {CART_ABANDONED, "price.competitor_changed"}
    return tuple(sorted(set(CATALOGUE) | extra))


def trigger_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in trigger_types()] + [
        ("schedule", "schedule"),
        ("date", "date"),
    ]


# --- cart.abandoned -------------------------------------------------------------------------


def carts_abandoned_sweep(*, now: datetime | None = None, batch: int = 500) -> int:
    """Publish `cart.abandoned` for carts idle long enough. Returns how many were published."""
    from orders.carts.services import cart_payload

    now = now or timezone.now()
    idle = timedelta(minutes=settings.AUTOMATION_CART_IDLE_MINUTES)
    carts = (
        Cart.objects.filter(
            state=Cart.State.OPEN,
            last_activity_at__lte=now - idle,
            last_activity_at__gte=now - timedelta(days=7),
        )
        .filter(~Q(email="") | Q(customer__isnull=False))
        .exclude(channel__kind__in=[Channel.Kind.PHONE, Channel.Kind.POS])
        .filter(~Exists(Order.objects.filter(cart_id=OuterRef("pk"))))
        .filter(lines__isnull=False)
        .distinct()
        .select_related("channel", "customer")
        .order_by("last_activity_at")[:batch]
    )
    published = 0
    for cart in carts:
        key = f"{CART_ABANDONED}:{cart.pk}:{cart.last_activity_at.timestamp():.0f}"
        try:
            with transaction.atomic():
                ComputedTrigger.objects.create(key=key)
                payload = cart_payload(cart)
                payload["idle_minutes"] = int((now - cart.last_activity_at).total_seconds() // 60)
                if payload.get("customer_id") is None and cart.email:
                    # A guest who gave the e-mail of a profile we know: the reminder is theirs,
                    # with their consent (checked when it is sent) and language.
                    payload["customer_id"] = (
                        Customer.objects.filter(
                            email__iexact=cart.email, state=Customer.State.ACTIVE
                        )
                        .values_list("pk", flat=True)
                        .first()
                    )
                events.publish(
                    type=CART_ABANDONED, subject_type="cart", subject_id=cart.pk, payload=payload
                )
        except IntegrityError:
            continue
        published += 1
    return published


# --- schedules and dates ------------------------------------------------------------------------


def _zone(definition: dict, key: str) -> ZoneInfo:
    return ZoneInfo((definition.get(key) or {}).get("time_zone") or settings.TIME_ZONE)


def schedule_slot(schedule: dict, now: datetime) -> datetime | None:
    """The latest slot at or before `now` (UTC), or None when today has none yet."""
    zone = ZoneInfo(schedule.get("time_zone") or settings.TIME_ZONE)
    if schedule.get("every_minutes"):
        every = int(schedule["every_minutes"]) * 60
        return datetime.fromtimestamp(int(now.timestamp()) // every * every, tz=ZoneInfo("UTC"))
    hour, minute = (int(p) for p in schedule["at"].split(":"))
    local = now.astimezone(zone)
    weekdays = schedule.get("weekdays") or list(WEEKDAYS)
    for back in range(0, 8):
        day = local.date() - timedelta(days=back)
        if WEEKDAYS[day.weekday()] not in weekdays:
            continue
        slot = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(ZoneInfo("UTC"))
        if slot <= now:
            return slot
    return None


def _audience(definition: dict):
    """Customers a time rule is for: a segment's members, or everyone active."""
    customers = Customer.objects.filter(state=Customer.State.ACTIVE)
    audience = definition.get("audience") or {}
    if audience.get("segment"):
        customers = customers.filter(
            Exists(
                SegmentMembership.objects.filter(
                    customer=OuterRef("pk"), segment__slug=audience["segment"]
                )
            )
        )
    if audience.get("consent"):
        customers = customers.filter(
            Exists(
                Consent.objects.filter(
                    customer=OuterRef("pk"), medium=audience["consent"], granted=True
                )
            )
        )
    return customers


def time_rules_tick(*, now: datetime | None = None, page: int = 500) -> int:
    """Start the runs of schedule and date rules that are due, a page per rule per tick; the
    next tick takes the next page (customers who have their run for this slot are left out)."""
    from automation.rules.engine import globally_paused, start

    now = now or timezone.now()
    if globally_paused():
        return 0
    started = 0
    rules = Rule.objects.filter(
        trigger__in=["schedule", "date"],
        status__in=[Rule.Status.ACTIVE, Rule.Status.SHADOW],
        published_version__isnull=False,
    ).select_related("published_version")
    for rule in rules:
        version = rule.published_version
        definition = version.definition
        if rule.trigger == "schedule":
            slot = schedule_slot(definition.get("schedule") or {}, now)
            if slot is None or slot < version.published_at - timedelta(minutes=1):
                continue  # never backfill slots from before the version was published
            key = f"schedule:{slot:%Y-%m-%dT%H:%M}"
            customers = _audience(definition)
        else:
            date_rule = definition.get("date") or {}
            zone = _zone(definition, "date")
            local = now.astimezone(zone)
            at = date_rule.get("at") or "00:00"
            if local.strftime("%H:%M") < at:
                continue
            target = local.date() - timedelta(days=int(date_rule.get("offset_days") or 0))
            start_utc = datetime.combine(target, time(0), tzinfo=zone)
            end_utc = start_utc + timedelta(days=1)
            column = {"last_order": "last_order_at", "registered": "acquired_at"}[
                date_rule["field"]
            ]
            key = f"date:{local.date().isoformat()}"
            customers = _audience(definition).filter(
                **{f"{column}__gte": start_utc, f"{column}__lt": end_utc}
            )
        done = RuleRun.objects.filter(version=version, trigger_key=key).values("customer_id")
        for customer in customers.exclude(pk__in=done).order_by("pk")[:page]:
            with transaction.atomic():
                run = start(
                    rule,
                    version,
                    event=None,
                    now=now,
                    trigger_key=key,
                    subject=Subject(
                        type="customer",
                        id=str(customer.pk),
                        customer_id=customer.pk,
                        email=customer.email,
                        channel_code=(definition.get("audience") or {}).get("channel", ""),
                    ),
                )
            started += run is not None
    return started
