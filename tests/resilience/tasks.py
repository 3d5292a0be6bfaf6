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
