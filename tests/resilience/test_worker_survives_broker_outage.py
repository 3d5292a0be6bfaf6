"""A Celery worker rides out its Redis going away and coming back (issue #12, defect 2).

With celery/kombu 5.7.0 the worker stopped with `Unrecoverable error: AttributeError("'NoneType'
object has no attribute 'hostname'")` when Redis went away while a task was running and another
pool process was waiting for work (see commerce/broker.py). A real worker subprocess, a Redis
of the test's own.
"""

from __future__ import annotations

import time

from commerce.celery import app as celery_app
from tests.commerce.conftest import RedisServer
from tests.resilience.conftest import broker_counts, celery_worker, wait_until


def test_a_worker_running_tasks_survives_three_redis_restarts_and_takes_new_work(
    own_broker: RedisServer, tmp_path
):
    with celery_worker(broker_url=own_broker.url, log_dir=tmp_path, concurrency=4) as worker:
        pool = worker.pool_pids()
        assert len(pool) == 4, worker.tail()
        for restart in range(3):
            # Given two tasks running (delivered, not yet acknowledged), two processes idle
            for _ in range(2):
                celery_app.send_task("tests.sleep", args=[3])
            running = wait_until(lambda: broker_counts(own_broker) == (0, 2), timeout=15)
            assert running, worker.tail()

            # When Redis goes away for a second and comes back
            own_broker.stop()
            time.sleep(1)
            own_broker.start()

            # Then the worker reconnects and takes new work
            marker = tmp_path / f"taken-after-restart-{restart}"
            celery_app.send_task("tests.touch", args=[str(marker)])
            assert wait_until(marker.exists, timeout=30), (
                f"no task taken after restart {restart + 1}:\n{worker.tail()}"
            )

        assert worker.all_alive(pool), worker.tail()
        assert "Unrecoverable error" not in worker.log()
