"""RFM scores, named segments, and merchant-defined segments by rule.

RFM: each customer who has bought is scored 1-5 on recency (last order), frequency (order count)
and monetary value (lifetime value, ranked within their main currency: yen and dollars do not
compare). The score is the customer's percentile band: PERCENT_RANK gives tied customers the
same, lower rank, so the many one-order customers all score F=1 instead of being spread over
bands by chance. One UPDATE with window functions does everyone; it runs on PostgreSQL and on
the demo's SQLite alike.

Merchant segments are a list of conditions that must all hold (see `CONDITIONS`), compiled to
one query over active customers; membership is stored so that the admin filters and automation
read it cheaply, and is refreshed by the same beat task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.errors import ValidationFailed
from customers.models import (
    Consent,
    Customer,
    CustomerSpend,
    Medium,
    Purchase,
    Segment,
    SegmentMembership,
)

Band = Customer.RfmSegment

# (segment, condition on r, f, m and the order count), first match wins. Read as a table:
# who bought once and recently is new; the best on all three are champions; big spenders who
# stopped are the ones not to lose; ...; what is left is hibernating.
RFM_RULES: list[tuple[str, str]] = [
    (Band.NEW, "c.order_count = 1 AND s.r >= 4"),
    (Band.CHAMPIONS, "s.r >= 4 AND s.f >= 4 AND s.m >= 4"),
    (Band.CANNOT_LOSE, "s.r = 1 AND s.f >= 4 AND s.m >= 4"),
    (Band.AT_RISK, "s.r <= 2 AND s.f >= 3"),
    (Band.LOYAL, "s.r >= 3 AND s.f >= 4"),
    (Band.POTENTIAL_LOYALIST, "s.r >= 4"),
    (Band.NEEDS_ATTENTION, "s.r = 3 AND s.f >= 2"),
    (Band.PROMISING, "s.r = 3"),
    (Band.LOST, "s.r = 1"),
]
FALLBACK_BAND = Band.HIBERNATING


def _score(rank: str) -> str:
    return (
        f"CASE WHEN {rank} < 0.2 THEN 1 WHEN {rank} < 0.4 THEN 2 WHEN {rank} < 0.6 THEN 3 "
        f"WHEN {rank} < 0.8 THEN 4 ELSE 5 END"
    )


def _rfm_sql(table: str) -> str:
    segment = " ".join(f"WHEN {cond} THEN '{band}'" for band, cond in RFM_RULES)
    return f"""
        UPDATE {table} AS c SET
            rfm_recency = s.r, rfm_frequency = s.f, rfm_monetary = s.m,
            rfm_segment = CASE {segment} ELSE '{FALLBACK_BAND}' END,
            churn_risk = (c.churn_risk_from IS NOT NULL AND c.churn_risk_from <= %s),
            scores_computed_at = %s
        FROM (
            SELECT id, {_score("rr")} AS r, {_score("fr")} AS f, {_score("mr")} AS m
            FROM (
                SELECT id,
                    PERCENT_RANK() OVER (ORDER BY last_order_at) AS rr,
                    PERCENT_RANK() OVER (ORDER BY order_count) AS fr,
                    PERCENT_RANK() OVER (
                        PARTITION BY primary_currency ORDER BY lifetime_value
                    ) AS mr
                FROM {table}
                WHERE state = 'active' AND order_count > 0
            ) AS ranks
        ) AS s
        WHERE c.id = s.id
    """


@dataclass(frozen=True)
class RfmResult:
    scored: int
    prospects: int


def rfm_recompute(*, now=None) -> RfmResult:
    """Score every active customer and name their segment; set the churn-risk flag."""
    now = now or timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_rfm_sql(Customer._meta.db_table), [stamp, stamp])
        scored = cursor.rowcount
        prospects = Customer.objects.filter(state=Customer.State.ACTIVE, order_count=0).update(
            rfm_recency=None,
            rfm_frequency=None,
            rfm_monetary=None,
            rfm_segment=Band.PROSPECT,
            churn_risk=False,
            scores_computed_at=now,
        )
    return RfmResult(scored=scored, prospects=prospects)


# --- Merchant segments -----------------------------------------------------------------------

OPERATORS = {"gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte", "eq": "exact"}


class RuleError(Exception):
    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


Apply = Callable[[QuerySet, int], QuerySet]


def _number(cond: dict[str, Any], index: int, key: str = "value") -> Decimal:
    try:
        return Decimal(str(cond[key]))
    except (KeyError, InvalidOperation):
        raise RuleError(index, _("needs a number in %(key)s") % {"key": key}) from None


def _operator(cond: dict[str, Any], index: int) -> str:
    op = cond.get("op", "gte")
    if op not in OPERATORS:
        raise RuleError(
            index,
            _("op must be one of %(ops)s") % {"ops": ", ".join(OPERATORS)},
        )
    return OPERATORS[op]


def _since(cond: dict[str, Any], index: int, now) -> Any:
    if cond.get("days") in (None, ""):
        return None
    days = _number(cond, index, "days")
    if days <= 0:
        raise RuleError(index, _("days must be positive"))
    return now - timedelta(days=float(days))


def _list(cond: dict[str, Any], index: int, choices: list[str] | None = None) -> list[str]:
    values = cond.get("in")
    if not isinstance(values, list) or not values:
        raise RuleError(index, _("needs a non-empty list in `in`"))
    values = [str(v) for v in values]
    if choices is not None:
        unknown = [v for v in values if v not in choices]
        if unknown:
            raise RuleError(
                index,
                _("unknown values %(unknown)s; use %(known)s")
                % {"unknown": ", ".join(unknown), "known": ", ".join(choices)},
            )
    return values


def _spent(cond, index, now) -> Apply:
    currency = str(cond.get("currency", "")).upper()
    if len(currency) != 3:
        raise RuleError(index, _("needs a three-letter currency"))
    op, value, since = _operator(cond, index), _number(cond, index), _since(cond, index, now)
    if since is None:
        spent = Subquery(
            CustomerSpend.objects.filter(customer=OuterRef("pk"), currency=currency).values(
                net=F("total_spent") - F("total_refunded")
            )[:1]
        )
    else:
        spent = Subquery(
            Purchase.objects.filter(customer=OuterRef("pk"), currency=currency, paid_at__gte=since)
            .values("customer")
            .annotate(net=Sum(F("total") - F("refunded")))
            .values("net")
        )

    def apply(qs: QuerySet, i: int) -> QuerySet:
        name = f"_spent_{i}"
        return qs.alias(**{name: Coalesce(spent, Decimal(0))}).filter(**{f"{name}__{op}": value})

    return apply


def _orders(cond, index, now) -> Apply:
    op, value, since = _operator(cond, index), _number(cond, index), _since(cond, index, now)
    if since is None:
        return lambda qs, i: qs.filter(**{f"order_count__{op}": value})
    count = Subquery(
        Purchase.objects.filter(customer=OuterRef("pk"), paid_at__gte=since)
        .values("customer")
        .annotate(n=Count("id"))
        .values("n")
    )

    def apply(qs: QuerySet, i: int) -> QuerySet:
        name = f"_orders_{i}"
        return qs.alias(**{name: Coalesce(count, 0)}).filter(**{f"{name}__{op}": value})

    return apply


def _days_since_last_order(cond, index, now) -> Apply:
    op, days = _operator(cond, index), _number(cond, index)
    boundary = now - timedelta(days=float(days))
    # More days since the last order means an earlier last order: the comparison flips.
    flipped = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte", "exact": "date"}[op]
    if op == "exact":
        return lambda qs, i: qs.filter(last_order_at__date=boundary.date())
    return lambda qs, i: qs.filter(**{f"last_order_at__{flipped}": boundary})


def _consent(cond, index, now) -> Apply:
    medium = cond.get("medium")
    if medium not in Medium.values:
        raise RuleError(index, _("medium must be one of %(m)s") % {"m": ", ".join(Medium.values)})
    granted = bool(cond.get("granted", True))
    opted_in = Exists(Consent.objects.filter(customer=OuterRef("pk"), medium=medium, granted=True))
    return lambda qs, i: qs.filter(opted_in if granted else ~opted_in)


def _choice(field: str, choices: list[str] | None = None) -> Callable:
    def build(cond, index, now) -> Apply:
        values = _list(cond, index, choices)
        return lambda qs, i: qs.filter(**{f"{field}__in": values})

    return build


def _flag(field: str, *, inverted: bool = False) -> Callable:
    def build(cond, index, now) -> Apply:
        value = cond.get("value", True)
        if not isinstance(value, bool):
            raise RuleError(index, _("value must be true or false"))
        return lambda qs, i: qs.filter(**{field: value != inverted})

    return build


CONDITIONS: dict[str, Callable] = {
    "spent": _spent,  # {currency, op, value, days?}: paid minus refunded
    "orders": _orders,  # {op, value, days?}
    "days_since_last_order": _days_since_last_order,  # {op, value}
    "consent": _consent,  # {medium, granted?}
    "rfm_segment": _choice("rfm_segment", Band.values),  # {in: [...]}
    "tier": _choice("loyalty__tier__name"),
    "tag": _choice("tags__name"),
    "acquired_channel": _choice("acquired_channel__code"),
    "language": _choice("language"),
    "churn_risk": _flag("churn_risk"),  # {value: true|false}
    "has_account": _flag("user__isnull", inverted=True),
}


def rule_compile(rule: Any, *, now=None) -> list[Apply]:
    """Check a rule and turn it into query steps. Raises ValidationFailed naming the condition."""
    now = now or timezone.now()
    if not isinstance(rule, list):
        raise ValidationFailed({"rule": [_("A rule is a list of conditions.")]})
    steps: list[Apply] = []
    errors: list[str] = []
    for index, cond in enumerate(rule):
        try:
            if not isinstance(cond, dict) or cond.get("field") not in CONDITIONS:
                raise RuleError(
                    index,
                    _("field must be one of %(fields)s") % {"fields": ", ".join(CONDITIONS)},
                )
            steps.append(CONDITIONS[cond["field"]](cond, index, now))
        except RuleError as exc:
            errors.append(
                _("Condition %(n)s: %(message)s.") % {"n": exc.index + 1, "message": exc.message}
            )
    if errors:
        raise ValidationFailed({"rule": errors})
    return steps


def segment_queryset(rule: Any, *, now=None) -> QuerySet:
    qs = Customer.objects.filter(state=Customer.State.ACTIVE)
    for i, step in enumerate(rule_compile(rule, now=now)):
        qs = step(qs, i)
    # Tags and tiers join to many rows; a customer must still count once.
    return qs.distinct() if any(c.get("field") == "tag" for c in rule) else qs


def segment_preview(rule: Any, *, sample: int = 10) -> tuple[int, list[Customer]]:
    """How many customers a rule matches now, and a few of them, without saving anything."""
    qs = segment_queryset(rule)
    return qs.count(), list(qs.order_by("-last_order_at", "-id")[:sample])


def segment_recompute(segment: Segment, *, now=None) -> int:
    """Bring the stored members in line with the rule; returns the member count."""
    now = now or timezone.now()
    members = segment_queryset(segment.rule, now=now)
    with transaction.atomic():
        SegmentMembership.objects.filter(segment=segment).exclude(
            customer_id__in=members.values("pk")
        ).delete()
        joining = members.exclude(memberships__segment=segment).values_list("pk", flat=True)
        SegmentMembership.objects.bulk_create(
            (
                SegmentMembership(segment=segment, customer_id=pk, since=now)
                for pk in joining.iterator()
            ),
            batch_size=5000,
            ignore_conflicts=True,
        )
        count = SegmentMembership.objects.filter(segment=segment).count()
        Segment.objects.filter(pk=segment.pk).update(member_count=count, computed_at=now)
    segment.member_count, segment.computed_at = count, now
    return count


def segments_recompute_all(*, now=None) -> dict[str, int]:
    return {
        segment.slug: segment_recompute(segment, now=now)
        for segment in Segment.objects.filter(is_active=True)
    }
