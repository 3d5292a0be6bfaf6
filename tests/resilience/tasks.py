"""Tasks that only the resilience tests' worker loads (`celery worker -I tests.resilience.tasks`).

They stand in for the app's long tasks: a worker is rarely idle when its broker goes away, and
the crash of issue #12 needs a task still running (not yet acknowledged) at that moment.
"""

import time
from pathlib import Path

from celery import shared_task


@shared_task(name="tests.sleep")
def sleep(seconds: float) -> None:
    time.sleep(seconds)


@shared_task(name="tests.touch")
def touch(path: str) -> None:
    """Proof that the worker took a task: the file exists."""
    Path(path).touch()


def _register_slow_action() -> None:
    """A rule action that tags the customer, then waits TEST_ACTION_DELAY seconds inside the
    engine's transaction, after touching TEST_ACTION_STARTED: the moment a worker is killed in
    the middle of a rule run (tests/resilience/test_rule_worker_killed_mid_run.py)."""
    import os

    from automation.rules import actions

    def slow_tag(call):
        result = actions.tag_customer(call)
        started = os.environ.get("TEST_ACTION_STARTED")
        if started:
            Path(started).touch()
        time.sleep(float(os.environ.get("TEST_ACTION_DELAY", "0")))
        return result

    actions.ACTIONS["slow_tag"] = actions.Action(
        "slow_tag", "slow tag", ("tag",), (), slow_tag, actions._plain_preview
    )


_register_slow_action()
