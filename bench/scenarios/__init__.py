"""Benchmark scenarios, selectable by name on the command line (see bench/run.py)."""

from bench.scenarios import checkout, customers, inventory, storefront

SCENARIOS = {module.NAME: module for module in (storefront, inventory, customers, checkout)}
