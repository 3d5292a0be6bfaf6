"""Reads of the run log: runs of an order, customer or product, and the "why didn't this fire"
explainer."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from automation.models import Rule, RuleRun
from automation.rules.conditions import all_true, first_failure
from automation.rules.context import EvalContext, subject_of
from commerce.models import OutboxEvent


def runs_of(
    *, order_id: int | None = None, customer_id: int | None = None, product_id: int | None = None
) -> QuerySet[RuleRun]:
    runs = RuleRun.objects.select_related("rule", "version")
    if order_id is not None:
        runs = runs.filter(order_id=order_id)
    if customer_id is not None:
        runs = runs.filter(customer_id=customer_id)
    if product_id is not None:
        runs = runs.filter(product_id=product_id)
    return runs.order_by("-started_at", "-id")


@dataclass(frozen=True)
class Explanation:
    rule: str
    event: str
    status: str
    reason: str


def explain_order(order) -> list[Explanation]:
    """For every active or shadow rule, what happened with each event of this order (and its
    parcels and cart): the run's status and reason, or, where no run exists, why not: the rule
    listens to another trigger, or its conditions evaluated now (on current data)."""
    events = list(
        OutboxEvent.objects.filter(
            Q(subject_type="order", subject_id=str(order.pk))
            | Q(subject_type="fulfilment", payload__order_id=order.pk)
            | (
                Q(subject_type="cart", subject_id=str(order.cart_id))
                if order.cart_id
                else Q(pk__in=[])
            )
        ).order_by("occurred_at", "id")
    )
    runs = {(run.rule_id, run.event_id): run for run in RuleRun.objects.filter(event__in=events)}
    rules = Rule.objects.filter(
        status__in=[Rule.Status.ACTIVE, Rule.Status.SHADOW, Rule.Status.PAUSED],
        published_version__isnull=False,
    ).select_related("published_version")
    lines: list[Explanation] = []
    for rule in rules:
        matching = [event for event in events if event.type == rule.trigger]
        if not matching:
            lines.append(
                Explanation(
                    rule.name,
                    "-",
                    _("not triggered"),
                    _("It starts on %(trigger)s; this order had none (it had: %(types)s).")
                    % {
                        "trigger": rule.trigger,
                        "types": ", ".join(sorted({e.type for e in events})) or "-",
                    },
                )
            )
            continue
        for event in matching:
            run = runs.get((rule.pk, event.pk))
            if run is not None:
                lines.append(
                    Explanation(
                        rule.name,
                        f"{event.type} #{event.pk}",
                        run.get_status_display(),
                        run.reason or "-",
                    )
                )
                continue
            definition = rule.published_version.definition
            ctx = EvalContext(
                event=event,
                subject=subject_of(event, definition.get("subject")),
                now=timezone.now(),
            )
            ok, traces = all_true(definition.get("conditions") or [], ctx)
            reason = (
                _("No run recorded (published after the event?). Its conditions hold today.")
                if ok
                else _("No run recorded. Today the first false condition is: %(why)s")
                % {"why": first_failure(traces)}
            )
            lines.append(Explanation(rule.name, f"{event.type} #{event.pk}", _("no run"), reason))
    return lines
