"""Every write to rules, approvals, alerts and back-in-stock requests: the admin, the staff
API, the storefront API and the commands all come through here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from automation.models import (
    Approval,
    AutomationSwitch,
    BackInStockRequest,
    Rule,
    RuleRun,
    RuleVersion,
    RunStep,
    StaffAlert,
)
from automation.rules.definition import (
    DefinitionError,
    parse_conditions,
    parse_steps,
    validate,
)
from commerce.errors import ValidationFailed

R = RuleRun.Status


def _fail(error: DefinitionError) -> ValidationFailed:
    return ValidationFailed({error.field: [error.message]})


def definition_from(
    *,
    trigger: str,
    conditions_text: str = "",
    guard_text: str = "",
    steps_text: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON definition from what the merchant wrote; raises ValidationFailed naming the
    field and line."""
    try:
        definition = {
            **(extra or {}),
            "trigger": trigger,
            "conditions": parse_conditions(conditions_text, "conditions_text"),
            "guard": parse_conditions(guard_text, "guard_text"),
            "steps": parse_steps(steps_text, "steps_text"),
        }
        return validate(definition)
    except DefinitionError as error:
        raise _fail(error) from None


@transaction.atomic
def rule_save(*, rule: Rule | None = None, **fields: Any) -> Rule:
    """Create or change a rule's working copy. The published version (what runs) changes only
    on `rule_publish`."""
    extra = fields.pop("extra", None)
    rule = rule or Rule()
    for name, value in fields.items():
        setattr(rule, name, value)
    base = {
        k: v
        for k, v in (rule.definition or {}).items()
        if k not in ("trigger", "conditions", "guard", "steps")
    }
    rule.definition = definition_from(
        trigger=rule.trigger,
        conditions_text=rule.conditions_text,
        guard_text=rule.guard_text,
        steps_text=rule.steps_text,
        extra={**base, **(extra or {})},
    )
    if not rule.name.strip():
        raise ValidationFailed({"name": [_("Give the rule a name.")]})
    rule.save()
    return rule


@transaction.atomic
def rule_publish(*, rule: Rule, actor=None) -> RuleVersion:
    """Freeze the working copy into a new immutable version; new runs use it, runs in flight
    keep theirs."""
    given, rule = rule, Rule.objects.select_for_update().get(pk=rule.pk)
    try:
        validate(rule.definition)
    except DefinitionError as error:
        raise _fail(error) from None
    number = (rule.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = RuleVersion.objects.create(
        rule=rule,
        number=number,
        definition=rule.definition,
        published_by=actor if actor is not None and actor.is_authenticated else None,
    )
    rule.published_version = version
    rule.trigger = rule.definition["trigger"]
    rule.save(update_fields=["published_version", "trigger", "updated_at"])
    given.published_version, given.trigger = version, rule.trigger
    return version


@transaction.atomic
def rule_set_status(*, rule: Rule, status: str, reason: str = "") -> Rule:
    if status not in Rule.Status.values:
        raise ValidationFailed({"status": [_("Unknown status.")]})
    if status in (Rule.Status.ACTIVE, Rule.Status.SHADOW) and rule.published_version_id is None:
        raise ValidationFailed({"status": [_("Publish the rule before switching it on.")]})
    rule.status = status
    rule.paused_reason = reason if status == Rule.Status.PAUSED else ""
    rule.save(update_fields=["status", "paused_reason", "updated_at"])
    return rule


@transaction.atomic
def flood_approve(*, rule: Rule) -> int:
    """Staff looked at a flood and let it go on: the rule is active again, may exceed its limit
    for ten minutes, and its held runs continue. Returns how many runs were released."""
    from automation.rules.engine import held_runs_release

    now = timezone.now()
    rule.status, rule.paused_reason, rule.flood_approved_at = Rule.Status.ACTIVE, "", now
    rule.save(update_fields=["status", "paused_reason", "flood_approved_at", "updated_at"])
    return held_runs_release(rule=rule, now=now)


@transaction.atomic
def automation_pause(*, paused: bool, actor=None) -> AutomationSwitch:
    switch, _created = AutomationSwitch.objects.select_for_update().get_or_create(pk=1)
    switch.paused = paused
    switch.changed_at = timezone.now()
    switch.changed_by = actor if actor is not None and actor.is_authenticated else None
    switch.save()
    return switch


@transaction.atomic
def approval_decide(*, approval: Approval, approve: bool, actor=None) -> Approval:
    """Approve or reject a held step. Approved: the run goes on at the next due tick with the
    proposal as approved (prices are not recomputed). Rejected: the run is cancelled."""
    approval = Approval.objects.select_for_update().get(pk=approval.pk)
    if approval.status != Approval.Status.PENDING:
        raise ValidationFailed({"status": [_("This was decided already.")]})
    now = timezone.now()
    approval.status = Approval.Status.APPROVED if approve else Approval.Status.REJECTED
    approval.decided_at = now
    approval.decided_by = actor if actor is not None and actor.is_authenticated else None
    approval.save(update_fields=["status", "decided_at", "decided_by"])
    RuleRun.objects.filter(pk=approval.run_id, status=R.HELD).update(status=R.WAITING, due_at=now)
    return approval


def alert_raise(
    *,
    title: str,
    key: str,
    body: str = "",
    rule: Rule | None = None,
    run: RuleRun | None = None,
    order_id: int | None = None,
    customer_id: int | None = None,
) -> StaffAlert | None:
    """Raise an alert once per `key`. None when it was raised before."""
    try:
        with transaction.atomic():
            return StaffAlert.objects.create(
                title=title[:250],
                body=body,
                key=key[:150],
                rule=rule,
                run=run,
                order_id=order_id,
                customer_id=customer_id,
            )
    except IntegrityError:
        return None


@transaction.atomic
def alert_resolve(*, alert_ids: list[int]) -> int:
    return StaffAlert.objects.filter(pk__in=alert_ids, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )


# --- back in stock --------------------------------------------------------------------------


def back_in_stock_request(
    *, variant, channel, email: str, customer=None, language: str = ""
) -> BackInStockRequest:
    """A shopper asks to be told. Asking twice keeps one request."""
    email = (email or "").strip().lower()
    if not email or "@" not in email:
        raise ValidationFailed({"email": [_("Give the e-mail address to tell.")]})
    language = (
        language or (customer.language if customer else "") or channel.default_language or "ja"
    )
    request, _created = BackInStockRequest.objects.get_or_create(
        variant=variant,
        channel=channel,
        email=email,
        notified_at__isnull=True,
        defaults={"customer": customer, "language": language},
    )
    return request


def back_in_stock_notify(*, variant, channel, key: str) -> int:
    """Queue one message to each shopper waiting for this variant in this channel, and mark
    them told. Transactional (they asked for it), so no marketing consent is needed; the
    request itself is the consent, and it is used once."""
    from automation.messages import kinds as rule_kinds
    from automation.messages.services import message_queue
    from automation.models.messages import Category

    now = timezone.now()
    waiting = list(
        BackInStockRequest.objects.select_for_update(skip_locked=True).filter(
            variant=variant, channel=channel, notified_at__isnull=True
        )
    )
    for request in waiting:
        message_queue(
            kind=rule_kinds.BACK_IN_STOCK,
            recipient=request.email,
            medium="email",
            language=request.language,
            category=Category.TRANSACTIONAL,
            channel=channel,
            customer=request.customer,
            context={
                "product": {"name": variant.product.name, "sku": variant.sku},
                "customer": {
                    "name": request.customer.first_name if request.customer else "",
                    "language": request.language,
                },
                "automation_key": key,
            },
        )
    BackInStockRequest.objects.filter(pk__in=[r.pk for r in waiting]).update(notified_at=now)
    return len(waiting)


# --- retention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PruneResult:
    succeeded: int
    failed: int


def runs_prune(*, now: datetime | None = None, batch: int = 1000) -> PruneResult:
    """Delete finished runs past retention (AUTOMATION_KEEP_*_DAYS), in batches so the table is
    never locked for long. Waiting and held runs are never pruned."""
    now = now or timezone.now()

    def prune(statuses: list[str], days: int) -> int:
        total = 0
        while True:
            ids = list(
                RuleRun.objects.filter(
                    status__in=statuses, finished_at__lt=now - timedelta(days=days)
                )
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return total
            RunStep.objects.filter(run_id__in=ids).delete()
            total += RuleRun.objects.filter(pk__in=ids).delete()[1].get("automation.RuleRun", 0)

    return PruneResult(
        succeeded=prune(
            [R.SUCCEEDED, R.SKIPPED, R.EXITED, R.CANCELLED], settings.AUTOMATION_KEEP_SUCCEEDED_DAYS
        ),
        failed=prune([R.FAILED], settings.AUTOMATION_KEEP_FAILED_DAYS),
    )
