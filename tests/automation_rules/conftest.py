"""Rules through the real event path: services publish, `commerce.events.dispatch` runs the
rule engine's consumer, the due tick advances waiting runs."""

from __future__ import annotations

import pytest

from automation.models import Rule
from automation.rules.services import rule_publish, rule_save, rule_set_status
from tests.automation_messages.conftest import deliver, dispatch_all, messages  # noqa: F401
from tests.fulfilment.conftest import (  # noqa: F401 (fixtures re-used by this package)
    JP_ADDRESS,
    Omni,
    omni,
    shop,
    web_order,
)


def make_rule(
    name: str,
    trigger: str,
    steps: str,
    *,
    conditions: str = "",
    guard: str = "",
    status: str = Rule.Status.ACTIVE,
    **fields,
) -> Rule:
    extra = fields.pop("extra", None)
    rule = rule_save(
        name=name,
        trigger=trigger,
        conditions_text=conditions,
        guard_text=guard,
        steps_text=steps,
        extra=extra,
        **fields,
    )
    rule_publish(rule=rule)
    if status != Rule.Status.DRAFT:
        rule_set_status(rule=rule, status=status)
    rule.refresh_from_db()
    return rule


@pytest.fixture(autouse=True)
def _fast_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
