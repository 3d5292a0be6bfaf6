"""What-if: replay stored events against a draft or edited rule, with a virtual clock and
stubbed actions. Nothing is sent, created or changed; the report is the only output.

The events are the outbox history (commerce.OutboxEvent rows are kept after dispatch), read in
time order. Waits advance the virtual clock; exit and wait-for events end or continue runs as
they would have; frequency caps and quiet hours are applied per recipient on the virtual clock.
Conditions on anything but the event itself (order, customer, stock...) read today's rows: the
report lists them as evaluated on current data, since we do not keep past states.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from automation.models import ActionExecution, Rule
from automation.rules.actions import ACTIONS
from automation.rules.conditions import all_true, first_failure
from automation.rules.context import EvalContext, Subject, subject_of
from automation.rules.engine import wait_due
from commerce.models import OutboxEvent

SAMPLE_TRACES = 20
CHUNK = 2000


@dataclass
class _Run:
    seq: int
    subject: Subject
    event: OutboxEvent
    started_at: datetime
    step_index: int = 0
    waiting_for: str = ""
    wait_token: int = 0
    trace: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    reason: str = ""


@dataclass
class _State:
    definition: dict[str, Any]
    runs: int = 0
    skipped: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)
    recipients: set = field(default_factory=set)
    messages_per_customer: Counter = field(default_factory=Counter)
    deferrals: Counter = field(default_factory=Counter)
    current_data: set = field(default_factory=set)
    samples: list = field(default_factory=list)
    sends: list = field(default_factory=list)  # (customer id, virtual time)
    last_by_subject: dict = field(default_factory=dict)
    last_marketing: dict = field(default_factory=dict)
    zones: dict = field(default_factory=dict)
    pending: list = field(default_factory=list)  # heap of (due, seq, run)
    waiting_for: dict = field(default_factory=lambda: defaultdict(list))


def _zone_of(state: _State, ctx: EvalContext) -> ZoneInfo:
    key = ctx.subject.customer_id or ctx.subject.channel_code
    if key not in state.zones:
        state.zones[key] = ctx.zone()
    return state.zones[key]


def _deliver(state: _State, run: _Run, ctx: EvalContext, action: str, at: datetime) -> datetime:
    """A message on the virtual clock: deferred by the cap and by quiet hours as the sender
    would defer it. Returns when it would go."""
    from automation.messages.services import quiet_until

    recipient = run.subject.customer_id or run.subject.email or run.subject.id
    state.recipients.add(recipient)
    state.messages_per_customer[recipient] += 1
    cap = timedelta(hours=settings.MESSAGES_FREQUENCY_CAP_HOURS["email"])
    last = state.last_marketing.get(recipient)
    when = at
    if last is not None and last + cap > when:
        when = last + cap
        state.deferrals["frequency_cap"] += 1
    until = quiet_until(when, _zone_of(state, ctx))
    if until is not None:
        when = until
        state.deferrals["quiet_hours"] += 1
    state.last_marketing[recipient] = when
    if run.subject.customer_id:
        state.sends.append((run.subject.customer_id, when))
    return when


def _walk(state: _State, run: _Run, now: datetime, after_wait: bool = False) -> None:
    definition = state.definition
    steps = definition["steps"]
    ctx = EvalContext(event=run.event, subject=run.subject, now=now, simulated=True)
    guard = definition.get("guard") or []
    for _iteration in range(100):
        if run.step_index >= len(steps):
            run.status = "succeeded"
            break
        if after_wait and guard:
            ok, traces = all_true(guard, ctx)
            state.current_data |= ctx.used_current_data
            if not ok:
                run.status, run.reason = "exited", "guard: " + first_failure(traces)
                break
        after_wait = False
        step = steps[run.step_index]
        if step.get("stop"):
            run.status = "succeeded"
            break
        if "stop_if" in step or "goto" in step:
            ok, _traces = all_true([step.get("stop_if") or step["if"]], ctx)
            state.current_data |= ctx.used_current_data
            if "stop_if" in step and ok:
                run.status = "succeeded"
                break
            run.step_index = step["goto"] - 1 if "goto" in step and ok else run.step_index + 1
            continue
        if "wait" in step:
            due = wait_due(step["wait"], now, _zone_of(state, ctx))
            run.step_index += 1
            run.trace.append({"step": run.step_index, "wait_until": due.isoformat()})
            if "event" in step["wait"]:
                run.waiting_for = step["wait"]["event"]
                state.waiting_for[run.waiting_for].append(run)
            run.wait_token += 1
            heapq.heappush(state.pending, (due, run.seq, run.wait_token, run))
            run.status = "waiting"
            return
        name = step["action"]
        state.actions[name] += 1
        entry = {"step": run.step_index + 1, "action": name, "at": now.isoformat()}
        if ACTIONS[name].messages:
            entry["goes_at"] = _deliver(state, run, ctx, name, now).isoformat()
        run.trace.append(entry)
        run.step_index += 1
    state.outcomes[run.status] += 1


def _matches(run: _Run, subject: Subject) -> bool:
    own = run.subject
    return bool(
        (own.customer_id and own.customer_id == subject.customer_id)
        or (own.email and own.email.lower() == (subject.email or "").lower())
        or (own.cart_id and own.cart_id == subject.cart_id)
        or (own.order_id and own.order_id == subject.order_id)
    )


def _advance_until(state: _State, moment: datetime) -> None:
    while state.pending and state.pending[0][0] <= moment:
        due, _seq, token, run = heapq.heappop(state.pending)
        if run.status != "waiting" or token != run.wait_token:
            continue  # ended, or woken by its event and now in a later wait
        if run.waiting_for:
            state.waiting_for[run.waiting_for].remove(run)
            wait = state.definition["steps"][run.step_index - 1]["wait"]
            run.waiting_for = ""
            if wait.get("on_timeout") == "stop":
                run.status, run.reason = "exited", "timed out"
                state.outcomes["exited"] += 1
                continue
        run.status = "running"
        _walk(state, run, due, after_wait=True)


def _reentry_blocked(rule: Rule, state: _State, subject: Subject, at: datetime) -> bool:
    last = state.last_by_subject.get((subject.type, subject.id))
    if last is None:
        return False
    if rule.reentry == Rule.Reentry.ONCE:
        return True
    if rule.reentry == Rule.Reentry.ONCE_PER_DAYS:
        return at - last < timedelta(days=rule.reentry_days)
    return False


def replay(
    rule: Rule, definition: dict[str, Any], *, since: datetime, until: datetime
) -> dict[str, Any]:
    state = _State(definition=definition)
    trigger = definition["trigger"]
    exits = set(definition.get("exit_on") or [])
    waits = {s["wait"]["event"] for s in definition["steps"] if "event" in s.get("wait", {})}
    types = {trigger} | exits | waits
    seq = itertools.count()
    runs: list[_Run] = []
    events = (
        OutboxEvent.objects.filter(type__in=types, occurred_at__gte=since, occurred_at__lte=until)
        .order_by("occurred_at", "id")
        .only(
            "id",
            "type",
            "subject_type",
            "subject_id",
            "payload",
            "occurred_at",
            "causation_depth",
            "caused_by_run",
        )
    )
    for event in events.iterator(chunk_size=CHUNK):
        at = event.occurred_at
        _advance_until(state, at)
        if event.type in exits or event.type in waits:
            subject = subject_of(event)
            if event.type in exits:
                for run in runs:
                    if run.status == "waiting" and _matches(run, subject):
                        run.status, run.reason = "exited", f"exit event {event.type}"
                        state.outcomes["exited"] += 1
            for run in list(state.waiting_for.get(event.type, ())):
                if run.status == "waiting" and _matches(run, subject):
                    state.waiting_for[event.type].remove(run)
                    run.waiting_for, run.status = "", "running"
                    _walk(state, run, at)
        if event.type != trigger:
            continue
        subject = subject_of(event, definition.get("subject"))
        if event.causation_depth + 1 > settings.AUTOMATION_MAX_CAUSATION_DEPTH:
            state.skipped["loop guard"] += 1
            continue
        if _reentry_blocked(rule, state, subject, at):
            state.skipped["re-entry"] += 1
            continue
        ctx = EvalContext(event=event, subject=subject, now=at, simulated=True)
        matched, traces = all_true(definition.get("conditions") or [], ctx)
        state.current_data |= ctx.used_current_data
        if not matched:
            state.skipped["condition false"] += 1
            if len(state.samples) < SAMPLE_TRACES:
                state.samples.append(
                    {
                        "event": event.pk,
                        "subject": f"{subject.type}:{subject.id}",
                        "status": "skipped",
                        "reason": first_failure(traces),
                    }
                )
            continue
        state.runs += 1
        state.last_by_subject[(subject.type, subject.id)] = at
        run = _Run(
            seq=next(seq),
            subject=subject,
            event=event,
            started_at=at,
            trace=[{"conditions": traces}],
        )
        _walk(state, run, at)
        if run.status == "waiting":
            runs.append(run)
        if len(state.samples) < SAMPLE_TRACES:
            state.samples.append(
                {"event": event.pk, "subject": f"{subject.type}:{subject.id}", "run": run}
            )
        if len(runs) > 5000:
            runs = [r for r in runs if r.status == "waiting"]
    _advance_until(state, until)
    still_waiting = sum(
        1
        for _due, _seq, token, run in state.pending
        if run.status == "waiting" and token == run.wait_token
    )
    return _report(rule, state, still_waiting, since, until)


def _conflicts(
    rule: Rule, sends: list[tuple[int, datetime]], since: datetime, until: datetime
) -> int:
    """Customers this rule would message within the cap window of a message another active
    rule actually sent them."""
    if not sends:
        return 0
    cap = timedelta(hours=settings.MESSAGES_FREQUENCY_CAP_HOURS["email"])
    others = defaultdict(list)
    for customer_id, at in (
        ActionExecution.objects.filter(
            action="send_message", created_at__gte=since - cap, created_at__lte=until + cap
        )
        .exclude(rule=rule)
        .filter(rule__status=Rule.Status.ACTIVE)
        .values_list("run__customer_id", "created_at")
    ):
        if customer_id:
            others[customer_id].append(at)
    return sum(
        1
        for customer_id, at in sends
        if any(abs(at - other) < cap for other in others.get(customer_id, ()))
    )


def _report(
    rule: Rule, state: _State, waiting: int, since: datetime, until: datetime
) -> dict[str, Any]:
    per_customer = Counter(state.messages_per_customer.values())
    samples = []
    for sample in state.samples:
        run = sample.pop("run", None)
        if run is not None:
            sample.update({"status": run.status, "reason": run.reason, "trace": run.trace})
        samples.append(sample)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "runs_started": state.runs,
        "skipped": dict(state.skipped),
        "outcomes": dict(state.outcomes) | ({"still_waiting": waiting} if waiting else {}),
        "actions": dict(state.actions),
        "recipients": len(state.recipients),
        "messages_per_customer": {str(k): v for k, v in sorted(per_customer.items())},
        "deferrals": dict(state.deferrals),
        "conflicts_with_other_rules": _conflicts(rule, state.sends, since, until),
        "evaluated_on_current_data": sorted(
            state.current_data - {"event", "local", "channel", "run"}
        ),
        "samples": samples,
    }


def simulate(
    rule: Rule, *, since: datetime, until: datetime | None = None, definition: dict | None = None
) -> dict[str, Any]:
    """The report for the rule's working copy (or `definition`), with the difference against
    its published version when the two differ."""
    until = until or timezone.now()
    draft = definition or rule.definition
    report = replay(rule, draft, since=since, until=until)
    published = rule.published_version
    if published is not None and published.definition != draft:
        active = replay(rule, published.definition, since=since, until=until)
        report["against_published"] = {
            "version": published.number,
            "runs_started": report["runs_started"] - active["runs_started"],
            "recipients": report["recipients"] - active["recipients"],
            "actions": {
                name: report["actions"].get(name, 0) - active["actions"].get(name, 0)
                for name in set(report["actions"]) | set(active["actions"])
            },
        }
    return report
