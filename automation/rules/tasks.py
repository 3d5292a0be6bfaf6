from celery import shared_task

from automation.rules import engine, services, triggers


@shared_task(name="automation.run_due")
def run_due() -> int:
    return engine.runs_advance_due()


@shared_task(name="automation.sweep_abandoned_carts")
def sweep_abandoned_carts() -> int:
    return triggers.carts_abandoned_sweep()


@shared_task(name="automation.time_rules")
def time_rules() -> int:
    return triggers.time_rules_tick()


@shared_task(name="automation.prune_runs")
def prune_runs() -> dict:
    result = services.runs_prune()
    return {"succeeded": result.succeeded, "failed": result.failed}
