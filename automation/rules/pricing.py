"""The guardrails of the repricing action: what price a competitor's move leads to, or why
none. Pure reads; `adjust_price` (actions.py) applies the proposal through the catalogue.

Order of the rails: target = competitor - undercut; then the floor (cost * (1 + margin %)),
the ceiling, the maximum change per step and the daily budget (against the price the day
started with, in the merchant's zone) clamp it; the cooldown may refuse any change; a change
beyond `approval_above` % waits for staff. Rounded to the currency's minor unit.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce.money import quantize


def _decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
    if value in (None, ""):
        return default
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return default


def _skip(reason: str, **extra: Any) -> dict[str, Any]:
    return {"skip": True, "reason": reason, **extra}


def price_proposal(
    *, variant, channel, params: dict[str, Any], event: dict[str, Any], rule_id: int
) -> dict[str, Any]:
    from catalog.models import PriceChange, VariantChannelListing
    from inventory.models import SupplierItem

    listing = VariantChannelListing.objects.filter(variant=variant, channel=channel).first()
    if listing is None:
        return _skip(_("Not sold in %(channel)s.") % {"channel": channel.code})
    current = listing.price
    competitor = _decimal(event.get("competitor_price"))
    if competitor is None:
        return _skip(_("The event carries no competitor price."))
    cost = SupplierItem.objects.filter(variant=variant).aggregate(c=Min("cost"))["c"]
    if cost is None:
        return _skip(
            _("No cost known for %(sku)s: without a floor the price is left alone.")
            % {"sku": variant.sku}
        )
    now = timezone.now()
    cooldown = int(params.get("cooldown_hours") or 0)
    automated = PriceChange.objects.filter(variant=variant, channel=channel, source="automation")
    if cooldown and automated.filter(changed_at__gte=now - timedelta(hours=cooldown)).exists():
        return _skip(_("Cooldown: changed by automation in the last %(h)s h.") % {"h": cooldown})
    floor = cost * (1 + _decimal(params.get("floor_margin"), Decimal(0)) / 100)
    ceiling = _decimal(params.get("ceiling")) or listing.compare_at_price
    target = competitor - (_decimal(params.get("undercut"), Decimal(0)) or 0)
    rails = []
    if target < floor:
        target, rails = floor, [*rails, "floor"]
    if ceiling is not None and target > ceiling:
        target, rails = ceiling, [*rails, "ceiling"]
    max_step = _decimal(params.get("max_step"))
    if max_step is not None:
        limit = current * max_step / 100
        if abs(target - current) > limit:
            target = current + limit if target > current else current - limit
            rails.append("max_step")
    max_day = _decimal(params.get("max_day"))
    if max_day is not None:
        zone = ZoneInfo(settings.TIME_ZONE)
        day_start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
        first_today = automated.filter(changed_at__gte=day_start).order_by("changed_at").first()
        opening = (
            first_today.previous
            if first_today is not None and first_today.previous is not None
            else current
        )
        limit = opening * max_day / 100
        low, high = opening - limit, opening + limit
        if target < low or target > high:
            target = min(max(target, low), high)
            rails.append("max_day")
    # The rails may contradict (a floor above today's budget): the floor wins, never below cost.
    if target < floor:
        target = floor
    new_price = Decimal(quantize(target, channel.currency))
    if new_price == current:
        return _skip(_("No change: %(price)s already.") % {"price": current}, rails=rails)
    change_pct = (new_price - current) / current * 100 if current else Decimal(100)
    proposal = {
        "sku": variant.sku,
        "channel": channel.code,
        "currency": channel.currency,
        "current": str(quantize(current, channel.currency)),
        "competitor_price": str(competitor),
        "cost": str(cost),
        "floor": str(quantize(floor, channel.currency)),
        "ceiling": str(ceiling) if ceiling is not None else None,
        "new_price": str(new_price),
        "change_pct": str(change_pct.quantize(Decimal("0.01"))),
        "rails": rails,
        "summary": _("%(sku)s in %(channel)s: %(old)s → %(new)s %(currency)s (%(pct)s %%)")
        % {
            "sku": variant.sku,
            "channel": channel.code,
            "old": quantize(current, channel.currency),
            "new": new_price,
            "currency": channel.currency,
            "pct": change_pct.quantize(Decimal("0.1")),
        },
        "compare_at_price": str(listing.compare_at_price)
        if listing.compare_at_price is not None
        else None,
    }
    threshold = _decimal(params.get("approval_above"))
    proposal["needs_approval"] = threshold is not None and abs(change_pct) > threshold
    return proposal
