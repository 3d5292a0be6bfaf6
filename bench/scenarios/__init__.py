"""Benchmark scenarios, selectable by name on the command line (see bench/run.py)."""

from bench.scenarios import (
    automation,
    checkout,
    customers,
    fulfilment,
    inventory,
    messages,
    storefront,
)

SCENARIOS = {
    module.NAME: module
    for module in (storefront, inventory, customers, checkout, fulfilment, messages, automation)
}
# Scenarios another one runs and prints beside its own (same run, same baseline).
INCLUDED_IN = {"fulfilment": "checkout"}
