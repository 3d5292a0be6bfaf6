"""The rule engine: start runs from events, walk their steps, park them on waits.

Guarantees (docs/automation.md):
- one run per (rule version, trigger, subject): the unique constraint on `RuleRun`;
- one effect per (run, step): the `ActionExecution` claim, written in the effect's transaction;
- never early: a wait is a `due_at`, and only the due tick (or the event a run waits for)
  moves a run past it; guard conditions are checked again first;
- every evaluation that reaches a rule leaves a run row saying what happened and why.

Runs start inside the event's dispatch (`commerce.events.dispatch`), each rule in a savepoint so
one failing rule never undoes another; immediate steps run there too, which is what keeps
event → first action well under a second.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from automation.models import (
    ActionExecution,
    Approval,
    AutomationSwitch,
    Rule,
    RuleRun,
    RuleVersion,
    RunStep,
    RunWakeup,
)
from automation.rules.actions import ACTIONS, ActionFailed, Call, NeedsApproval
from automation.rules.conditions import all_true, first_failure
from automation.rules.context import EvalContext, Subject, subject_of
from commerce.errors import DomainError
from commerce.events import caused_by
from commerce.models import OutboxEvent

logger = logging.getLogger(__name__)

R = RuleRun.Status
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_STEPS_PER_ADVANCE = 100
RETRY_ATTEMPTS = 5


def globally_paused() -> bool:
    return AutomationSwitch.objects.filter(pk=1, paused=True).exists()


_rules_cache: dict[str, tuple[tuple, list[Rule]]] = {}


def rules_for(event_type: str) -> list[Rule]:
    """The published rules an event type reaches. Kept in this process while no rule changed:
    one small query (the latest change and the count) instead of loading every rule and its
    definition for each event. Every write to a rule moves its `updated_at`."""
    stamp = tuple(Rule.objects.aggregate(changed=Max("updated_at"), n=Count("pk")).values())
    cached = _rules_cache.get(event_type)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    rules = list(
        Rule.objects.filter(
            trigger=event_type,
            status__in=[Rule.Status.ACTIVE, Rule.Status.SHADOW, Rule.Status.PAUSED],
            published_version__isnull=False,
        ).select_related("published_version")
    )
    if len(_rules_cache) > 500:
        _rules_cache.clear()
    _rules_cache[event_type] = (stamp, rules)
    return rules


# --- starting runs ---------------------------------------------------------------------------


def on_event(event: OutboxEvent) -> None:
    """The consumer: wake the runs this event ends or continues, then start the rules it
    triggers."""
    now = timezone.now()
    _wake(event, now)
    rules = rules_for(event.type)
    if not rules:
        return
    paused = globally_paused()
    subjects: dict[str | None, Subject] = {}
    skipped: list[RuleRun] = []
    for rule in rules:
        wanted = rule.published_version.definition.get("subject")
        if wanted not in subjects:
            subjects[wanted] = subject_of(event, wanted)
        # Evaluating only reads: the rules that do not start cost no savepoint and no write
        # of their own (they are written together below).
        run, ctx = evaluate(
            rule,
            rule.published_version,
            event=event,
            now=now,
            paused=paused,
            subject=subjects[wanted],
        )
        if run.status == R.SKIPPED:
            skipped.append(run)
            continue
        try:
            with transaction.atomic():
                begin(run, ctx)
        except IntegrityError:
            continue  # this trigger has its run already: a redelivery
        except Exception:  # one rule's bug must not stop the others: logged, and alerted
            logger.exception("Rule %s failed to start on event %s", rule.pk, event.pk)
            from automation.rules.services import alert_raise

            alert_raise(
                title=_("Rule “%(rule)s” failed on an event") % {"rule": rule.name},
                body=f"event {event.pk} ({event.type})",
                key=f"rule-failed:{rule.pk}:{now:%Y%m%d%H}",
                rule=rule,
            )
    # The rules this event reached but did not start: one statement for all of them (a busy
    # shop's 50 rules on order.placed are mostly skips). A redelivery's are ignored.
    RuleRun.objects.bulk_create(skipped, ignore_conflicts=True)


def _skip_reason(
    rule: Rule, event: OutboxEvent | None, subject: Subject, depth: int, now: datetime, paused: bool
) -> str:
    if paused:
        return _("All automation is paused.")
    if rule.status == Rule.Status.PAUSED:
        return _("The rule is paused.") + (f" {rule.paused_reason}" if rule.paused_reason else "")
    if event is not None and event.caused_by_run:
        causing_rule = (
            RuleRun.objects.filter(pk=event.caused_by_run).values_list("rule_id", flat=True).first()
        )
        if causing_rule == rule.pk:
            return _("Loop guard: the event was caused by this rule's own run %(run)s.") % {
                "run": event.caused_by_run
            }
    if depth > settings.AUTOMATION_MAX_CAUSATION_DEPTH:
        return _("Loop guard: causation depth %(depth)s is past %(max)s.") % {
            "depth": depth,
            "max": settings.AUTOMATION_MAX_CAUSATION_DEPTH,
        }
    if event is not None and event.subject_type == "order" and event.payload.get("is_test"):
        return _("A test order.")
    if (
        not (event is not None and event.causation_depth > 0)
        and rule.reentry == Rule.Reentry.EVERY_TIME
    ):
        return ""  # nothing below applies: no query
    recent = RuleRun.objects.filter(
        rule=rule, subject_type=subject.type, subject_id=subject.id
    ).exclude(status=R.SKIPPED)
    # Only events that automation caused count towards the loop guard: a competitor feed or a
    # busy shopper may legitimately trigger a rule often; a chain of rules may not.
    if (
        event is not None
        and event.causation_depth > 0
        and recent.filter(started_at__gte=now - timedelta(minutes=10)).count()
        >= settings.AUTOMATION_MAX_RUNS_PER_SUBJECT_10MIN
    ):
        return _(
            "Loop guard: this rule already ran %(n)s times for this subject in 10 minutes."
        ) % {"n": settings.AUTOMATION_MAX_RUNS_PER_SUBJECT_10MIN}
    if rule.reentry == Rule.Reentry.ONCE and recent.exists():
        return _("Re-entry: runs once per subject, and it ran before.")
    if (
        rule.reentry == Rule.Reentry.ONCE_PER_DAYS
        and recent.filter(started_at__gte=now - timedelta(days=rule.reentry_days)).exists()
    ):
        return _("Re-entry: runs once per %(days)s days per subject.") % {"days": rule.reentry_days}
    return ""


def evaluate(
    rule: Rule,
    version: RuleVersion,
    *,
    event: OutboxEvent | None,
    now: datetime,
    paused: bool = False,
    trigger_key: str | None = None,
    subject: Subject | None = None,
) -> tuple[RuleRun, EvalContext]:
    """The run this trigger gives the rule, unsaved: skipped with its reason, or running."""
    definition = version.definition
    subject = subject or subject_of(event, definition.get("subject"))
    depth = (event.causation_depth if event is not None else 0) + 1
    run = RuleRun(
        rule=rule,
        version=version,
        event=event,
        trigger_key=trigger_key or f"event:{event.pk}",
        subject_type=subject.type,
        subject_id=subject.id[:64],
        customer_id=subject.customer_id,
        order_id=subject.order_id,
        product_id=subject.product_id,
        cart_id=subject.cart_id,
        shadow=rule.status == Rule.Status.SHADOW,
        depth=depth,
        started_at=now,
        status=R.RUNNING,
    )
    reason = _skip_reason(rule, event, subject, depth, now, paused)
    ctx = EvalContext(event=event, subject=subject, now=now)
    traces: list = []
    if not reason:
        matched, traces = all_true(definition.get("conditions") or [], ctx)
        if not matched:
            reason = _("Condition false: %(why)s") % {"why": first_failure(traces)}
    run.conditions = _jsonable(traces) if traces else []
    if reason:
        run.status, run.reason, run.finished_at = R.SKIPPED, reason, now
    if subject.product_id is None and subject.variant_id:
        run.product_id = (ctx.root("variant") or {}).get("product_id")
    if reason.startswith(_("Loop guard")):
        from automation.rules.services import alert_raise

        alert_raise(
            title=_("Loop guard stopped rule “%(rule)s”") % {"rule": rule.name},
            body=f"{reason} (event {event.pk if event else '-'}, {subject.type} {subject.id})",
            key=f"loop:{rule.pk}:{now:%Y%m%d%H}",
            rule=rule,
        )
    return run, ctx


def begin(run: RuleRun, ctx: EvalContext) -> None:
    """Record a run that starts and act on its immediate steps. Raises IntegrityError when
    this trigger has its run already (call it in a savepoint)."""
    run.save()
    run.fresh = True  # no step of it can have run before: no need to look for claims
    _register_exits(run, run.version.definition, ctx.subject)
    advance(run, ctx=ctx, now=run.started_at)


def start(
    rule: Rule,
    version: RuleVersion,
    *,
    event: OutboxEvent | None,
    now: datetime,
    paused: bool = False,
    trigger_key: str | None = None,
    subject: Subject | None = None,
) -> RuleRun | None:
    """Evaluate one rule on one trigger, record the run and act on its immediate steps (time
    triggers; events go through `on_event`). None when this trigger had its run already."""
    run, ctx = evaluate(
        rule, version, event=event, now=now, paused=paused, trigger_key=trigger_key, subject=subject
    )
    try:
        with transaction.atomic():
            if run.status == R.SKIPPED:
                run.save()
            else:
                begin(run, ctx)
    except IntegrityError:
        return None
    return run


def _register_exits(run: RuleRun, definition: dict, subject: Subject) -> None:
    rows = [
        RunWakeup(
            run=run,
            event_type=event_type,
            action=RunWakeup.Action.EXIT,
            customer_id=subject.customer_id,
            email=(subject.email or "").lower(),
            cart_id=subject.cart_id,
            order_id=subject.order_id,
        )
        for event_type in definition.get("exit_on") or []
    ]
    if rows:
        RunWakeup.objects.bulk_create(rows)
        run.variables = {**(run.variables or {}), "_wakeups": True}


def _wake(event: OutboxEvent, now: datetime) -> None:
    """Exit or resume the waiting runs this event is about."""
    subject = None
    wakeups = RunWakeup.objects.filter(event_type=event.type)
    if not wakeups.exists():
        return
    subject = subject_of(event)
    match = Q()
    if subject.customer_id:
        match |= Q(customer_id=subject.customer_id)
    if subject.email:
        match |= Q(email=subject.email.lower())
    if subject.cart_id:
        match |= Q(cart_id=subject.cart_id)
    if subject.order_id:
        match |= Q(order_id=subject.order_id)
    if not match:
        return
    for wakeup in wakeups.filter(match).select_related("run"):
        with transaction.atomic():
            run = RuleRun.objects.select_for_update().filter(pk=wakeup.run_id).first()
            if run is None or run.status not in (R.WAITING, R.RUNNING, R.HELD):
                continue
            if wakeup.action == RunWakeup.Action.EXIT:
                _finish(
                    run,
                    R.EXITED,
                    _("Exit event %(type)s (event %(id)s).") % {"type": event.type, "id": event.pk},
                    now,
                )
                continue
            wait = (run.variables or {}).get("_wait") or {}
            if wait.get("event") != event.type or run.status != R.WAITING:
                continue
            RunWakeup.objects.filter(run=run, action=RunWakeup.Action.RESUME).delete()
            run.variables = {k: v for k, v in run.variables.items() if k != "_wait"} | {
                "resumed_by": event.pk
            }
            run.status, run.due_at = R.RUNNING, None
            RunStep.objects.create(
                run=run,
                index=run.step_index - 1,
                kind="wait",
                status=RunStep.Status.DONE,
                detail={"resumed_by": event.pk, "type": event.type},
                at=now,
            )
            advance(run, ctx=_context_for(run, now), now=now, after_wait=True)


def _finish(run: RuleRun, status: str, reason: str, now: datetime) -> None:
    run.status, run.reason, run.finished_at, run.due_at = status, reason[:2000], now, None
    run.save(
        update_fields=[
            "status",
            "reason",
            "finished_at",
            "due_at",
            "variables",
            "step_index",
            "attempts",
        ]
    )
    RunWakeup.objects.filter(run=run).delete()


def _context_for(run: RuleRun, now: datetime) -> EvalContext:
    subject = Subject(
        type=run.subject_type,
        id=run.subject_id,
        customer_id=run.customer_id,
        order_id=run.order_id,
        cart_id=run.cart_id,
        product_id=run.product_id,
    )
    event = run.event
    if event is None:
        subject.channel_code = (run.version.definition.get("audience") or {}).get("channel", "")
    else:
        derived = subject_of(event, run.subject_type)
        subject.variant_id = derived.variant_id
        subject.fulfilment_id = derived.fulfilment_id
        subject.email = derived.email
        subject.channel_code = derived.channel_code
    return EvalContext(event=event, subject=subject, now=now, variables=run.variables or {})


# --- walking the steps -------------------------------------------------------------------------


def wait_due(wait: dict[str, Any], now: datetime, zone: ZoneInfo) -> datetime:
    """When a wait step ends. Local-time waits are computed in the recipient's zone, so 09:00
    stays 09:00 across a DST change; a 09:00 that does not exist that day (a spring-forward
    gap) resolves to the first instant after it."""
    if "minutes" in wait:
        return now + timedelta(minutes=int(wait["minutes"]))
    if "event" in wait:
        return now + timedelta(minutes=int(wait["timeout_minutes"]))
    if "until_date" in wait:
        hour, minute = (int(part) for part in wait["at"].split(":"))
        day = date.fromisoformat(wait["until_date"])
        moment = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(ZoneInfo("UTC"))
        return max(moment, now)  # a date already past: no wait
    hour, minute = (int(part) for part in wait["until_local"].split(":"))
    weekdays = wait.get("weekdays") or list(WEEKDAYS)
    local_now = now.astimezone(zone)
    for days in range(0, 8):
        day = local_now.date() + timedelta(days=days)
        if WEEKDAYS[day.weekday()] not in weekdays:
            continue
        candidate = datetime.combine(day, time(hour, minute), tzinfo=zone)
        # Round-trip through UTC: a wall time inside a gap comes back shifted, which is the
        # first valid instant after it.
        candidate_utc = candidate.astimezone(ZoneInfo("UTC"))
        if candidate_utc > now:
            return candidate_utc
    return now + timedelta(days=7)


def advance(run: RuleRun, *, ctx: EvalContext, now: datetime, after_wait: bool = False) -> None:
    """Walk the run's steps from `step_index` until it waits, is held, fails or ends. Call
    with the run row locked (or just created)."""
    definition = run.version.definition
    steps = definition["steps"]
    guard = definition.get("guard") or []
    ctx.variables = run.variables
    for _iteration in range(MAX_STEPS_PER_ADVANCE):
        if run.step_index >= len(steps):
            _finish(run, R.SUCCEEDED, run.reason or _("All steps done."), now)
            return
        if after_wait and guard:
            ok, traces = all_true(guard, ctx)
            RunStep.objects.create(
                run=run,
                index=run.step_index,
                kind="guard",
                status=RunStep.Status.DONE if ok else RunStep.Status.SKIPPED,
                detail={"conditions": traces},
                at=now,
            )
            if not ok:
                _finish(
                    run,
                    R.EXITED,
                    _("Guard false after the wait: %(why)s") % {"why": first_failure(traces)},
                    now,
                )
                return
        after_wait = False
        index = run.step_index
        step = steps[index]
        if step.get("stop"):
            _finish(run, R.SUCCEEDED, _("Stopped at step %(n)s.") % {"n": index + 1}, now)
            return
        if "stop_if" in step:
            ok, traces = all_true([step["stop_if"]], ctx)
            RunStep.objects.create(
                run=run,
                index=index,
                kind="stop_if",
                status=RunStep.Status.DONE,
                detail={"conditions": traces, "stopped": ok},
                at=now,
            )
            if ok:
                _finish(
                    run,
                    R.SUCCEEDED,
                    _("Stopped at step %(n)s: its condition was true.") % {"n": index + 1},
                    now,
                )
                return
            run.step_index += 1
            continue
        if "goto" in step:
            ok, traces = all_true([step["if"]], ctx)
            RunStep.objects.create(
                run=run,
                index=index,
                kind="goto",
                status=RunStep.Status.DONE,
                detail={"conditions": traces, "jumped": ok},
                at=now,
            )
            run.step_index = step["goto"] - 1 if ok else index + 1
            continue
        if "wait" in step:
            wait = step["wait"]
            due = wait_due(wait, now, ctx.zone())
            run.status, run.due_at, run.step_index = R.WAITING, due, index + 1
            detail = {"wait": wait, "due_at": due.isoformat()}
            if "event" in wait:
                run.variables = {**(run.variables or {}), "_wait": wait, "_wakeups": True}
                RunWakeup.objects.create(
                    run=run,
                    event_type=wait["event"],
                    action=RunWakeup.Action.RESUME,
                    customer_id=run.customer_id,
                    email=(ctx.subject.email or "").lower(),
                    cart_id=run.cart_id,
                    order_id=run.order_id,
                )
            RunStep.objects.create(
                run=run,
                index=index,
                kind="wait",
                status=RunStep.Status.WAITING,
                detail=detail,
                at=now,
            )
            run.save(update_fields=["status", "due_at", "step_index", "variables"])
            return
        outcome = _act(run, index, step, ctx, now)
        if outcome != "done":
            return
        run.step_index = index + 1
    _finish(
        run,
        R.FAILED,
        _("More than %(n)s steps in one go: a goto loop?") % {"n": MAX_STEPS_PER_ADVANCE},
        now,
    )


def _flooding(run: RuleRun, now: datetime) -> bool:
    rule = run.rule
    if rule.flood_approved_at and rule.flood_approved_at >= now - timedelta(minutes=10):
        return False
    recent = ActionExecution.objects.filter(
        rule=rule, created_at__gte=now - timedelta(minutes=1)
    ).count()
    return recent >= rule.flood_limit_per_minute


def _act(run: RuleRun, index: int, step: dict, ctx: EvalContext, now: datetime) -> str:
    """One action step: "done", or the run is left held / waiting for a retry / failed."""
    action = ACTIONS[step["action"]]
    key = f"{run.pk}:{index}"
    fresh = getattr(run, "fresh", False)
    # A run started in this call has no approval and no claim yet: no need to look.
    approval = None if fresh else Approval.objects.filter(run=run, step_index=index).first()
    approved = (
        approval.proposal if approval and approval.status == Approval.Status.APPROVED else None
    )
    if approval is not None and approval.status == Approval.Status.REJECTED:
        RunStep.objects.create(
            run=run,
            index=index,
            kind="action",
            name=action.name,
            status=RunStep.Status.SKIPPED,
            detail={"approval": "rejected"},
            at=now,
        )
        _finish(
            run, R.CANCELLED, _("Staff rejected: %(summary)s") % {"summary": approval.summary}, now
        )
        return "stopped"
    call = Call(ctx=ctx, params=step.get("params") or {}, run=run, key=key, approved=approved)
    variables_before = dict(run.variables or {})
    if run.shadow:
        try:
            preview = action.preview(call)
        except ActionFailed as failure:
            preview = {"would": "fail", "reason": str(failure)}
        RunStep.objects.create(
            run=run,
            index=index,
            kind="action",
            name=action.name,
            status=RunStep.Status.WOULD,
            detail={"params": call.params, "would": preview},
            at=now,
        )
        return "done"
    if not fresh and ActionExecution.objects.filter(key=key).exists():
        return "done"  # done before a crash or by a redelivery: never twice
    if _flooding(run, now):
        return _flood_hold(run, index, action.name, now)
    try:
        with transaction.atomic():
            execution = ActionExecution.objects.create(
                key=key, run=run, rule_id=run.rule_id, action=action.name, created_at=timezone.now()
            )
            with caused_by(run_id=run.pk, depth=run.depth):
                result = action.do(call)
            execution.result = _jsonable(result)
            execution.save(update_fields=["result"])
            RunStep.objects.create(
                run=run,
                index=index,
                kind="action",
                name=action.name,
                status=RunStep.Status.DONE,
                detail={"params": call.params, "key": key, "result": execution.result},
                at=now,
            )
    except IntegrityError as error:
        if ActionExecution.objects.filter(key=key).exists():
            return "done"
        return _retry_later(run, index, action.name, error, now)
    except NeedsApproval as needed:
        Approval.objects.get_or_create(
            run=run,
            step_index=index,
            defaults={
                "action": action.name,
                "summary": needed.summary[:300],
                "proposal": _jsonable(needed.proposal),
            },
        )
        RunStep.objects.create(
            run=run,
            index=index,
            kind="action",
            name=action.name,
            status=RunStep.Status.HELD,
            detail={"approval": needed.proposal},
            at=now,
        )
        run.status, run.reason = R.HELD, _("Waiting for approval: %(s)s") % {"s": needed.summary}
        run.save(update_fields=["status", "reason", "variables", "step_index"])
        return "held"
    except (ActionFailed, DomainError) as failure:
        # Refused as asked (no supplier, no recipient, a service's validation): retrying the
        # same request would be refused the same way, so the run fails and staff are told.
        failure = _refusal_text(failure)
        RunStep.objects.create(
            run=run,
            index=index,
            kind="action",
            name=action.name,
            status=RunStep.Status.FAILED,
            detail={"params": call.params, "error": str(failure)},
            at=now,
        )
        _finish(run, R.FAILED, str(failure), now)
        _alert_failure(run, str(failure), now)
        return "failed"
    except Exception as error:  # a service refused or the database hiccuped: retry later
        logger.exception("Rule run %s step %s failed", run.pk, index)
        return _retry_later(run, index, action.name, error, now)
    if run.variables != variables_before:  # what a later step needs (an issued code)
        run.save(update_fields=["variables"])
    return "done"


def _refusal_text(failure: Exception) -> str:
    if isinstance(failure, DomainError):
        detail = getattr(failure, "detail", None)
        errors = getattr(failure, "errors", None)
        return (
            "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in errors.items())
            if errors
            else str(detail or failure)
        )
    return str(failure)


def _flood_hold(run: RuleRun, index: int, action: str, now: datetime) -> str:
    from automation.rules.services import alert_raise

    rule = run.rule
    Rule.objects.filter(pk=rule.pk).update(
        updated_at=timezone.now(),  # the rules cache (rules_for) sees the change
        status=Rule.Status.PAUSED,
        paused_reason=_("Flood protection: more than %(n)s actions in a minute.")
        % {"n": rule.flood_limit_per_minute},
    )
    run.status, run.reason = R.HELD, _("Held by flood protection: approve to go on.")
    run.save(update_fields=["status", "reason", "variables", "step_index"])
    RunStep.objects.create(
        run=run,
        index=index,
        kind="action",
        name=action,
        status=RunStep.Status.HELD,
        detail={"flood": rule.flood_limit_per_minute},
        at=now,
    )
    alert_raise(
        title=_("Rule “%(rule)s” paused by flood protection") % {"rule": rule.name},
        body=_(
            "It would act more than %(n)s times a minute. Its held runs go on when you approve them."
        )
        % {"n": rule.flood_limit_per_minute},
        key=f"flood:{rule.pk}:{now:%Y%m%d%H}",
        rule=rule,
    )
    return "held"


def _retry_later(run: RuleRun, index: int, action: str, error: Exception, now: datetime) -> str:
    run.attempts += 1
    RunStep.objects.create(
        run=run,
        index=index,
        kind="action",
        name=action,
        status=RunStep.Status.FAILED,
        detail={"error": repr(error)[:500], "attempt": run.attempts},
        at=now,
    )
    if run.attempts >= RETRY_ATTEMPTS:
        _finish(
            run,
            R.FAILED,
            _("Failed %(n)s times: %(error)s") % {"n": run.attempts, "error": error},
            now,
        )
        _alert_failure(run, str(error), now)
        return "failed"
    run.status, run.due_at = R.WAITING, now + timedelta(seconds=30 * 2**run.attempts)
    run.reason = _("Retrying after: %(error)s") % {"error": error}
    run.save(update_fields=["status", "due_at", "attempts", "reason", "variables", "step_index"])
    return "retry"


def _alert_failure(run: RuleRun, error: str, now: datetime) -> None:
    from automation.rules.services import alert_raise

    alert_raise(
        title=_("Rule “%(rule)s” failed") % {"rule": run.rule.name},
        body=f"run {run.pk}: {error}",
        key=f"failed:{run.rule_id}:{now:%Y%m%d%H}",
        rule=run.rule,
        run=run,
    )


def _jsonable(value: Any) -> Any:
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


# --- the due tick ---------------------------------------------------------------------------


def runs_advance_due(*, batch: int = 500, now: datetime | None = None) -> int:
    """Advance the waiting runs whose time has come. Safe in several processes: each run is
    taken with SKIP LOCKED. Runs of paused rules, and everything while automation is paused
    globally, stay where they are."""
    now = now or timezone.now()
    if globally_paused():
        return 0
    ids = list(
        RuleRun.objects.filter(
            status=R.WAITING,
            due_at__lte=now,
            rule__status__in=[Rule.Status.ACTIVE, Rule.Status.SHADOW],
        )
        .order_by("due_at")
        .values_list("pk", flat=True)[:batch]
    )
    done = 0
    for run_id in ids:
        with transaction.atomic():
            run = (
                RuleRun.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("version", "rule", "event")
                .filter(pk=run_id, status=R.WAITING, due_at__lte=now)
                .first()
            )
            if run is None:
                continue
            wait = (run.variables or {}).get("_wait")
            run.status, run.due_at = R.RUNNING, None
            if wait:  # waited for an event that did not come
                RunWakeup.objects.filter(run=run, action=RunWakeup.Action.RESUME).delete()
                run.variables = {k: v for k, v in run.variables.items() if k != "_wait"}
                if wait.get("on_timeout") == "stop":
                    _finish(
                        run,
                        R.EXITED,
                        _("Timed out waiting for %(type)s.") % {"type": wait["event"]},
                        now,
                    )
                    done += 1
                    continue
            advance(run, ctx=_context_for(run, now), now=now, after_wait=True)
            done += 1
    return done


def held_runs_release(*, rule: Rule, now: datetime | None = None) -> int:
    """After staff approve a rule paused by flood protection: its held runs go on at the next
    tick (those waiting on a price approval stay held)."""
    now = now or timezone.now()
    return (
        RuleRun.objects.filter(rule=rule, status=R.HELD)
        .exclude(approvals__status=Approval.Status.PENDING)
        .update(status=R.WAITING, due_at=now)
    )
