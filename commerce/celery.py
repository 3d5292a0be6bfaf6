"""The Celery application. Conventions for every task live here, once.

Tasks are acknowledged after they ran (a worker that dies mid-task leaves the message for
another), take one message at a time, and speak JSON only. A delay longer than a few minutes is
never a broker countdown: store a due time in the database and let a beat task pick it up.
"""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce.settings")

app = Celery("commerce")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _connections_as_for_a_request(**_kwargs) -> None:
    """Database connections live as long as a web request's do (CONN_MAX_AGE, with a health
    check after an error), not one task: Celery's Django fix-up closes them around every task
    unless CELERY_DB_REUSE_MAX is set, which cost a PostgreSQL connection (a forked backend,
    authentication, session settings) per task: about half of all CPU in `./dev bench
    messages`. The fix-up is told to reuse (settings), and Django's own rule decides here."""
    from django.db import close_old_connections

    close_old_connections()
