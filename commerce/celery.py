"""The Celery application. Conventions for every task live here, once.

Tasks are acknowledged after they ran (a worker that dies mid-task leaves the message for
another), take one message at a time, and speak JSON only. A delay longer than a few minutes is
never a broker countdown: store a due time in the database and let a beat task pick it up.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce.settings")

app = Celery("commerce")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
