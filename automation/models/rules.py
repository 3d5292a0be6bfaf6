"""Automation rules: the merchant's rule, its immutable published versions, and the run log.

A run is created under a unique constraint on (version, trigger, subject) before anything
happens, so a redelivered event finds it and does nothing. Each action it takes is claimed as an
`ActionExecution` (unique key "run:step") in the same transaction as the action's own writes:
the effect and the claim commit together or not at all. Waits are rows with a due time, taken
by a beat tick with SKIP LOCKED, never Celery ETAs.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Rule(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SHADOW = "shadow", _("Shadow (log intended actions, execute none)")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")

    class Reentry(models.TextChoices):
        EVERY_TIME = "every_time", _("Every time")
        ONCE = "once", _("Once ever per subject")
        ONCE_PER_DAYS = "once_per_days", _("Once per N days per subject")

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    # The editable working copy (see automation/rules/definition.py); publishing freezes it
    # into a new RuleVersion. `trigger` mirrors the published version's, for matching.
    definition = models.JSONField(_("definition"), default=dict, blank=True)
    trigger = models.CharField(_("trigger"), max_length=100, blank=True, db_index=True)
    conditions_text = models.TextField(_("conditions"), blank=True)
    guard_text = models.TextField(
        _("guard conditions (checked again after every wait)"), blank=True
    )
    steps_text = models.TextField(_("steps"), blank=True)
    published_version = models.ForeignKey(
        "RuleVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("published version"),
    )
    reentry = models.CharField(
        _("re-entry"), max_length=20, choices=Reentry.choices, default=Reentry.EVERY_TIME
    )
    reentry_days = models.PositiveIntegerField(_("re-entry days"), default=0)
    flood_limit_per_minute = models.PositiveIntegerField(
        _("flood limit (actions a minute)"),
        default=100,
        help_text=_("Above this many actions in a minute the rule pauses and waits for approval."),
    )
    paused_reason = models.CharField(_("paused because"), max_length=250, blank=True)
    # Staff approved a flood: for a while the rule may act beyond its limit.
    flood_approved_at = models.DateTimeField(_("flood approved"), null=True, blank=True)
    # Which ready-made automation it was copied from (automation/rules/library.py), if any.
    template = models.CharField(_("ready-made template"), max_length=50, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("automation rule")
        verbose_name_plural = _("automation rules")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RuleVersion(models.Model):
    """A published, immutable copy of a rule's definition. Runs keep the version they began
    with, whatever is published after."""

    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, related_name="versions", verbose_name=_("rule")
    )
    number = models.PositiveIntegerField(_("version"))
    definition = models.JSONField(_("definition"))
    published_at = models.DateTimeField(_("published"), default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("published by"),
    )

    class Meta:
        verbose_name = _("rule version")
        verbose_name_plural = _("rule versions")
        ordering = ["rule", "-number"]
        constraints = [models.UniqueConstraint(fields=["rule", "number"], name="rule_version_once")]

    def __str__(self) -> str:
        return f"{self.rule} v{self.number}"


class RuleRun(models.Model):
    class Status(models.TextChoices):
        SKIPPED = "skipped", _("Skipped")
        RUNNING = "running", _("Running")
        WAITING = "waiting", _("Waiting")
        HELD = "held", _("Held for approval")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        EXITED = "exited", _("Exited")
        CANCELLED = "cancelled", _("Cancelled")

    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, related_name="runs", verbose_name=_("rule")
    )
    version = models.ForeignKey(
        RuleVersion, on_delete=models.CASCADE, related_name="runs", verbose_name=_("version")
    )
    event = models.ForeignKey(
        "commerce.OutboxEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("trigger event"),
    )
    # "event:<id>", or "schedule:<slot>" / "date:<day>" for time triggers.
    trigger_key = models.CharField(_("trigger"), max_length=100)
    subject_type = models.CharField(_("subject type"), max_length=30)
    subject_id = models.CharField(_("subject id"), max_length=64)
    # Denormalised for the run log's search and the order / customer / product pages.
    customer_id = models.BigIntegerField(_("customer"), null=True, blank=True, db_index=True)
    order_id = models.BigIntegerField(_("order"), null=True, blank=True, db_index=True)
    product_id = models.BigIntegerField(_("product"), null=True, blank=True, db_index=True)
    cart_id = models.BigIntegerField(_("cart"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    reason = models.TextField(_("reason"), blank=True)
    shadow = models.BooleanField(_("shadow"), default=False)
    depth = models.PositiveSmallIntegerField(_("causation depth"), default=1)
    step_index = models.PositiveIntegerField(_("next step"), default=0)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)
    # Each condition's left value, operator, right value and result, as evaluated at the start.
    conditions = models.JSONField(_("conditions as evaluated"), default=list, blank=True)
    # What steps left for later steps: an issued discount code, the event that ended a wait.
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("rule run")
        verbose_name_plural = _("rule runs")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "trigger_key", "subject_type", "subject_id"],
                name="rule_run_once",
            )
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(status="waiting"),
                name="rule_run_due",
            ),
            models.Index(fields=["rule", "subject_type", "subject_id"], name="rule_run_subject"),
            models.Index(fields=["rule", "status", "started_at"], name="rule_run_status"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} #{self.pk} {self.subject_type}:{self.subject_id}"


class RunWakeup(models.Model):
    """An event that ends (exit) or continues (resume) a waiting run, matched by who it is
    about: the same customer, e-mail or cart."""

    class Action(models.TextChoices):
        EXIT = "exit", _("Exit")
        RESUME = "resume", _("Resume")

    run = models.ForeignKey(
        RuleRun, on_delete=models.CASCADE, related_name="wakeups", verbose_name=_("run")
    )
    event_type = models.CharField(_("event type"), max_length=100)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    customer_id = models.BigIntegerField(null=True, blank=True)
    email = models.CharField(max_length=254, blank=True)
    cart_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("run wake-up")
        verbose_name_plural = _("run wake-ups")
        indexes = [models.Index(fields=["event_type"], name="run_wakeup_type")]

    def __str__(self) -> str:
        return f"{self.action} on {self.event_type} (run {self.run_id})"


class RunStep(models.Model):
    """One step of a run as it happened: conditions with their values, an action's input and
    outcome, a wait and its due time."""

    class Status(models.TextChoices):
        DONE = "done", _("Done")
        WOULD = "would", _("Would do (shadow)")
        SKIPPED = "skipped", _("Skipped")
        WAITING = "waiting", _("Waiting")
        HELD = "held", _("Held")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(
        RuleRun, on_delete=models.CASCADE, related_name="steps", verbose_name=_("run")
    )
    index = models.IntegerField(_("step"))  # -1: the rule's conditions
    kind = models.CharField(_("kind"), max_length=20)
    name = models.CharField(_("name"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("run step")
        verbose_name_plural = _("run steps")
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.run_id} step {self.index}: {self.kind} {self.status}"


class ActionExecution(models.Model):
    """The claim on one side effect. Written in the transaction of the effect itself: a
    redelivery or a retry after a crash finds it and does not act again."""

    key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    run = models.ForeignKey(
        RuleRun, on_delete=models.CASCADE, related_name="executions", verbose_name=_("run")
    )
    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, related_name="+", verbose_name=_("rule")
    )
    action = models.CharField(_("action"), max_length=50)
    result = models.JSONField(_("result"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("action execution")
        verbose_name_plural = _("action executions")
        indexes = [models.Index(fields=["rule", "created_at"], name="action_rule_time")]

    def __str__(self) -> str:
        return self.key


class Approval(models.Model):
    """A step that waits for staff: a price change beyond the threshold, or a rule paused by
    flood protection."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    run = models.ForeignKey(
        RuleRun, on_delete=models.CASCADE, related_name="approvals", verbose_name=_("run")
    )
    step_index = models.PositiveIntegerField(_("step"))
    action = models.CharField(_("action"), max_length=50)
    summary = models.CharField(_("summary"), max_length=300)
    proposal = models.JSONField(_("proposal"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "step_index"], name="approval_once_per_step")
        ]

    def __str__(self) -> str:
        return self.summary


class StaffAlert(models.Model):
    """An internal task for staff: raised by a rule's action, a loop guard, flood protection or
    a failing rule. `key` dedupes repeats (one alert per rule and cause per hour)."""

    title = models.CharField(_("title"), max_length=250)
    body = models.TextField(_("details"), blank=True)
    key = models.CharField(_("key"), max_length=150, unique=True)
    rule = models.ForeignKey(
        Rule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name=_("rule"),
    )
    run = models.ForeignKey(
        RuleRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("run"),
    )
    order_id = models.BigIntegerField(_("order"), null=True, blank=True)
    customer_id = models.BigIntegerField(_("customer"), null=True, blank=True)
    created_at = models.DateTimeField(_("raised"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("staff alert")
        verbose_name_plural = _("staff alerts")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class AutomationSwitch(models.Model):
    """The global pause: one row. While paused no rule starts and no waiting run advances."""

    paused = models.BooleanField(_("all automation paused"), default=False)
    changed_at = models.DateTimeField(_("changed"), default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )

    class Meta:
        verbose_name = _("automation switch")
        verbose_name_plural = _("automation switch")

    def __str__(self) -> str:
        return str(_("paused") if self.paused else _("running"))


class AutomationHide(models.Model):
    """A product that a rule took off sale in a channel: the restock rule puts back only
    these, never what staff unpublished by hand."""

    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="+", verbose_name=_("product")
    )
    channel = models.ForeignKey(
        "commerce.Channel", on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    run = models.ForeignKey(
        RuleRun, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("run")
    )
    hidden_at = models.DateTimeField(_("hidden"), default=timezone.now)
    restored_at = models.DateTimeField(_("restored"), null=True, blank=True)

    class Meta:
        verbose_name = _("product hidden by automation")
        verbose_name_plural = _("products hidden by automation")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "channel"],
                condition=Q(restored_at__isnull=True),
                name="automation_hide_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id} in {self.channel_id}"


class BackInStockRequest(models.Model):
    """A shopper's "tell me when it is back", per variant and channel."""

    variant = models.ForeignKey(
        "catalog.ProductVariant",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("variant"),
    )
    channel = models.ForeignKey(
        "commerce.Channel", on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("customer"),
    )
    email = models.EmailField(_("e-mail"))
    language = models.CharField(_("language"), max_length=10, default="ja")
    created_at = models.DateTimeField(_("asked"), default=timezone.now)
    notified_at = models.DateTimeField(_("notified"), null=True, blank=True)

    class Meta:
        verbose_name = _("back-in-stock request")
        verbose_name_plural = _("back-in-stock requests")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["variant", "channel", "email"],
                condition=Q(notified_at__isnull=True),
                name="back_in_stock_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email}: {self.variant_id}"


class ComputedTrigger(models.Model):
    """A computed trigger (cart.abandoned) published once per state of its subject: the sweep
    re-derives them from the database, and this row keeps a second sweep from repeating one."""

    key = models.CharField(_("key"), max_length=150, unique=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("computed trigger")
        verbose_name_plural = _("computed triggers")

    def __str__(self) -> str:
        return self.key


class SimulationReport(models.Model):
    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, related_name="simulations", verbose_name=_("rule")
    )
    since = models.DateTimeField(_("since"))
    report = models.JSONField(_("report"), default=dict)
    created_at = models.DateTimeField(_("at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )

    class Meta:
        verbose_name = _("simulation report")
        verbose_name_plural = _("simulation reports")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.rule_id} since {self.since:%Y-%m-%d}"
