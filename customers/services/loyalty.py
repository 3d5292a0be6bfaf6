"""The loyalty programme: joining, the point ledger and tiers.

Every change locks the account row, writes a ledger entry and updates the stored sums in the
same transaction, so `balance` always equals the sum of the entries and `lifetime_points` the sum
of earnings, reversals and adjustments (expiry and redemption do not lower a tier).

Earnings are lots: `remaining` is what is left of each for redemption and expiry, spent oldest
expiry first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce import events
from customers import events as customer_events
from customers.errors import NotEnoughPoints, ProfileClosed, ValidationFailed
from customers.models import (
    Customer,
    HistoryEntry,
    LoyaltyAccount,
    LoyaltyProgramme,
    PointEntry,
    Purchase,
    Tier,
)
from customers.services.profiles import actor_label, history_add

LIFETIME_KINDS = (PointEntry.Kind.EARN, PointEntry.Kind.REVERSE, PointEntry.Kind.ADJUST)


def programme_active() -> LoyaltyProgramme | None:
    return LoyaltyProgramme.objects.filter(is_active=True).first()


@transaction.atomic
def loyalty_join(
    customer: Customer, *, actor: AbstractBaseUser | str | None = None
) -> tuple[LoyaltyAccount, bool]:
    """Make the customer a member of the active programme (once). Emits `loyalty.joined`."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not customer.is_active:
        raise ProfileClosed()
    existing = LoyaltyAccount.objects.filter(customer=customer).first()
    if existing is not None:
        return existing, False
    programme = programme_active()
    if programme is None:
        raise ValidationFailed(detail=_("There is no active loyalty programme to join."))
    account = LoyaltyAccount.objects.create(
        customer=customer, programme=programme, tier=_tier_for(programme, 0)
    )
    history_add(
        customer,
        kind=HistoryEntry.Kind.LOYALTY,
        message=_("Joined %(programme)s.") % {"programme": programme.name},
        actor=actor,
    )
    events.publish(
        type=customer_events.LOYALTY_JOINED,
        subject_type="customer",
        subject_id=customer.pk,
        payload={
            "customer_id": customer.pk,
            "account_id": account.pk,
            "programme": programme.name,
            "tier": account.tier.name if account.tier else None,
        },
    )
    return account, True


def _lock_customer(customer: Customer) -> None:
    """Every write locks the customer row before the account (and a merge does the same), so
    concurrent writers queue in one order instead of deadlocking. Closed profiles are refused."""
    state = (
        Customer.objects.select_for_update()
        .filter(pk=customer.pk)
        .values_list("state", flat=True)
        .first()
    )
    if state != Customer.State.ACTIVE:
        raise ProfileClosed()


def _lock(customer: Customer) -> LoyaltyAccount | None:
    return (
        LoyaltyAccount.objects.select_for_update(of=("self",))
        .select_related("programme", "tier")
        .filter(customer=customer)
        .first()
    )


def _tier_for(programme: LoyaltyProgramme, lifetime_points: int) -> Tier | None:
    return (
        programme.tiers.filter(threshold__lte=max(lifetime_points, 0))
        .order_by("-threshold")
        .first()
    )


def _record(
    account: LoyaltyAccount,
    *,
    kind: str,
    points: int,
    remaining: int = 0,
    expires_at: datetime | None = None,
    reference: str = "",
    reason: str = "",
    actor: AbstractBaseUser | str | None = None,
) -> PointEntry:
    """The one place that writes the ledger and its sums; re-evaluates the tier."""
    if remaining > 0 and account.balance < 0:
        # A debt (points reversed after they were spent) is paid from the new lot first, so
        # only what the member can actually spend is left in it to redeem or expire.
        remaining = max(remaining + account.balance, 0)
    entry = PointEntry.objects.create(
        account=account,
        kind=kind,
        points=points,
        remaining=remaining,
        expires_at=expires_at,
        reference=reference,
        reason=reason,
        actor=actor_label(actor),
    )
    account.balance += points
    if kind in LIFETIME_KINDS:
        account.lifetime_points += points
    old_tier = account.tier
    account.tier = _tier_for(account.programme, account.lifetime_points)
    account.save(update_fields=["balance", "lifetime_points", "tier"])
    events.publish(
        type=customer_events.LOYALTY_POINTS_CHANGED,
        subject_type="customer",
        subject_id=account.customer_id,
        payload={
            "customer_id": account.customer_id,
            "kind": kind,
            "points": points,
            "balance": account.balance,
            "reference": reference,
        },
    )
    if account.tier != old_tier:
        _tier_changed(account, old_tier)
    return entry


def _tier_changed(account: LoyaltyAccount, old_tier: Tier | None) -> None:
    old_name = old_tier.name if old_tier else None
    new_name = account.tier.name if account.tier else None
    history_add(
        account.customer,
        kind=HistoryEntry.Kind.LOYALTY,
        message=_("Tier changed from %(old)s to %(new)s.")
        % {"old": old_name or _("none"), "new": new_name or _("none")},
    )
    events.publish(
        type=customer_events.LOYALTY_TIER_CHANGED,
        subject_type="customer",
        subject_id=account.customer_id,
        payload={
            "customer_id": account.customer_id,
            "from_tier": old_name,
            "to_tier": new_name,
            "lifetime_points": account.lifetime_points,
        },
    )


def _consume(account: LoyaltyAccount, points: int, *, first_reference: str = "") -> int:
    """Take up to `points` from the remaining lots, the given order's lot first, then the
    soonest to expire. Returns what it took."""
    left = points
    lots = account.entries.select_for_update().filter(remaining__gt=0)
    ordered = []
    if first_reference:
        ordered += list(lots.filter(reference=first_reference, kind=PointEntry.Kind.EARN))
    ordered += list(
        lots.exclude(pk__in=[lot.pk for lot in ordered]).order_by(
            F("expires_at").asc(nulls_last=True), "id"
        )
    )
    for lot in ordered:
        if left == 0:
            break
        taken = min(lot.remaining, left)
        lot.remaining -= taken
        lot.save(update_fields=["remaining"])
        left -= taken
    return points - left


def points_for(account: LoyaltyAccount, *, currency: str, amount: Decimal) -> int:
    rate = account.programme.earn_rates.filter(currency=currency).first()
    if rate is None or amount <= 0:
        return 0
    multiplier = account.tier.multiplier if account.tier else Decimal(1)
    points = (amount / rate.spend).to_integral_value(ROUND_FLOOR) * rate.points * multiplier
    return int(points.to_integral_value(ROUND_FLOOR))


def points_earn_for_purchase(purchase: Purchase) -> PointEntry | None:
    """Points for a paid order, once per order (a constraint on the reference backs it)."""
    programme = programme_active()
    if programme is None:
        return None
    account = _lock(purchase.customer)
    if account is None:
        if not programme.auto_enrol:
            return None
        loyalty_join(purchase.customer)
        account = _lock(purchase.customer)
    if account.entries.filter(kind=PointEntry.Kind.EARN, reference=purchase.order_id).exists():
        return None
    points = points_for(account, currency=purchase.currency, amount=purchase.total)
    if points <= 0:
        return None
    days = account.programme.points_expire_after_days
    return _record(
        account,
        kind=PointEntry.Kind.EARN,
        points=points,
        remaining=points,
        expires_at=purchase.paid_at + timedelta(days=days) if days else None,
        reference=purchase.order_id,
        reason=_("Order %(number)s") % {"number": purchase.order_number or purchase.order_id},
    )


def points_reverse_for_refund(purchase: Purchase) -> PointEntry | None:
    """Take back the share of an order's points that its refunds now cover. Computed from the
    totals, not the refund amount, so a repeated or late refund event cannot take twice."""
    account = _lock(purchase.customer)
    if account is None:
        return None
    entries = account.entries.filter(reference=purchase.order_id)
    earned = entries.filter(kind=PointEntry.Kind.EARN).aggregate(s=Sum("points"))["s"] or 0
    if earned == 0 or purchase.total <= 0:
        return None
    share = min(purchase.refunded / purchase.total, Decimal(1))
    # Points of this order that expired are gone already: a refund does not take them again.
    expired = -(entries.filter(kind=PointEntry.Kind.EXPIRE).aggregate(s=Sum("points"))["s"] or 0)
    due = min(int((earned * share).to_integral_value(ROUND_FLOOR)), earned - expired)
    reversed_so_far = -(
        entries.filter(kind=PointEntry.Kind.REVERSE).aggregate(s=Sum("points"))["s"] or 0
    )
    to_reverse = due - reversed_so_far
    if to_reverse <= 0:
        return None
    # Points already spent cannot be taken from a lot: the balance then goes below zero and
    # the next earnings pay it back. The ledger stays the truth either way.
    _consume(account, to_reverse, first_reference=purchase.order_id)
    return _record(
        account,
        kind=PointEntry.Kind.REVERSE,
        points=-to_reverse,
        reference=purchase.order_id,
        reason=_("Refund on order %(number)s")
        % {"number": purchase.order_number or purchase.order_id},
    )


@transaction.atomic
def points_redeem(
    customer: Customer,
    *,
    points: int,
    reference: str = "",
    reason: str = "",
    actor: AbstractBaseUser | str | None = None,
) -> PointEntry:
    if points <= 0:
        raise ValidationFailed({"points": [_("Redeem a positive number of points.")]})
    _lock_customer(customer)
    account = _lock(customer)
    if account is not None:
        _expire_lots(account, timezone.now())  # points past their date are not spendable
    if account is None or account.balance < points:
        raise NotEnoughPoints(
            _("The balance is %(balance)s points; %(points)s were asked for.")
            % {"balance": account.balance if account else 0, "points": points}
        )
    _consume(account, points)
    return _record(
        account,
        kind=PointEntry.Kind.REDEEM,
        points=-points,
        reference=reference,
        reason=reason,
        actor=actor,
    )


@transaction.atomic
def points_adjust(
    customer: Customer,
    *,
    points: int,
    reason: str,
    actor: AbstractBaseUser | str | None = None,
) -> PointEntry:
    """Staff goodwill or correction. A reason is required: it is what an audit will ask."""
    errors: dict[str, list[str]] = {}
    if not (reason or "").strip():
        errors["reason"] = [_("Say why the points change.")]
    if not points:
        errors["points"] = [_("Give a number of points other than zero.")]
    if errors:
        raise ValidationFailed(errors)
    _lock_customer(customer)
    account = _lock(customer)
    if account is None:
        account, _created = loyalty_join(customer, actor=actor)
        account = _lock(customer)
    if points < 0 and account.balance < -points:
        raise NotEnoughPoints(
            _("The balance is %(balance)s points; it cannot go below zero by an adjustment.")
            % {"balance": account.balance}
        )
    expires_at = None
    if points < 0:
        _consume(account, -points)
    elif account.programme.points_expire_after_days:
        expires_at = timezone.now() + timedelta(days=account.programme.points_expire_after_days)
    entry = _record(
        account,
        kind=PointEntry.Kind.ADJUST,
        points=points,
        remaining=max(points, 0),
        expires_at=expires_at,
        reason=reason.strip(),
        actor=actor,
    )
    history_add(
        customer,
        kind=HistoryEntry.Kind.LOYALTY,
        message=_("Points adjusted by %(points)+d: %(reason)s")
        % {"points": points, "reason": reason.strip()},
        actor=actor,
    )
    return entry


def _expire_lots(account: LoyaltyAccount, now: datetime) -> int:
    """Expire what is left of the account's lots past their date (caller holds the account
    lock). One entry per lot, referencing the lot's order, so a later refund of that order
    knows those points are already gone. Returns the points expired."""
    lots = list(
        account.entries.select_for_update()
        .filter(remaining__gt=0, expires_at__lte=now)
        .order_by("expires_at", "id")
    )
    expired = 0
    for lot in lots:
        points, lot.remaining = lot.remaining, 0
        lot.save(update_fields=["remaining"])
        _record(
            account,
            kind=PointEntry.Kind.EXPIRE,
            points=-points,
            reference=lot.reference,
            reason=_("Points past their expiry date"),
        )
        expired += points
    return expired


def points_expire_due(*, now: datetime | None = None, batch: int = 500) -> int:
    """Expire what is left of lots past their date, one account per transaction. Returns the
    number of accounts touched. Safe to run twice: an expired lot has nothing left."""
    now = now or timezone.now()
    touched = 0
    while True:
        account_ids = list(
            PointEntry.objects.filter(remaining__gt=0, expires_at__lte=now)
            .values_list("account_id", flat=True)
            .distinct()[:batch]
        )
        if not account_ids:
            return touched
        for account_id in account_ids:
            with transaction.atomic():
                # Customer row first, as every other writer (a merge may have moved or
                # removed the account since the ids were read).
                customer_id = (
                    LoyaltyAccount.objects.filter(pk=account_id)
                    .values_list("customer_id", flat=True)
                    .first()
                )
                Customer.objects.select_for_update().filter(pk=customer_id).first()
                account = (
                    LoyaltyAccount.objects.select_for_update(of=("self",))
                    .select_related("programme", "tier")
                    .filter(pk=account_id, customer_id=customer_id)
                    .first()
                )
                if account is not None:
                    touched += bool(_expire_lots(account, now))


def loyalty_recount(account: LoyaltyAccount) -> LoyaltyAccount:
    """Set the stored sums from the ledger (after entries moved in a merge)."""
    sums = account.entries.aggregate(
        balance=Sum("points"), lifetime=Sum("points", filter=Q(kind__in=LIFETIME_KINDS))
    )
    account.balance = sums["balance"] or 0
    account.lifetime_points = sums["lifetime"] or 0
    # A debt brought in by one side is paid from the other side's lots, as a new earning
    # would pay it: what is left to spend never exceeds the balance.
    left = account.entries.aggregate(s=Sum("remaining"))["s"] or 0
    if left > max(account.balance, 0):
        _consume(account, left - max(account.balance, 0))
    old_tier = account.tier
    account.tier = _tier_for(account.programme, account.lifetime_points)
    account.save(update_fields=["balance", "lifetime_points", "tier"])
    if account.tier != old_tier:
        _tier_changed(account, old_tier)
    return account
