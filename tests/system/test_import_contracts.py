"""The import-linter contracts hold on the code as it is, and the one inside `orders` breaks when a
lower part imports a higher one, directly or through the `orders.services` facade (so a circle
between the parts cannot come back unnoticed). Run on a copy of the packages, with one probe
module added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["root_packages"]


def _lint(tmp_path: Path, probe: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
    for package in _packages():
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if probe is not None:
        path, source = probe
        (tmp_path / path).write_text(source)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tmp_path / "pyproject.toml")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_contracts_hold_on_the_code_as_it_is(tmp_path):
    result = _lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Inside orders, each part depends only on the parts below it KEPT" in result.stdout


@pytest.mark.parametrize(
    ("probe", "source", "named"),
    [
        # pricing must not know about carts
        ("orders/pricing/probe.py", "from orders.carts import services\n", "orders.carts"),
        # payments and fulfilment are independent of each other
        (
            "orders/payments/probe.py",
            "from orders.fulfilment.routing import order_route\n",
            "orders.fulfilment",
        ),
        # the facade re-exports the channels: reaching it from the core is an upward import
        ("orders/core/probe.py", "from orders.services import pos_sale\n", "orders.channels"),
    ],
)
def test_the_orders_contract_breaks_when_a_lower_part_imports_a_higher_one(
    tmp_path, probe, source, named
):
    result = _lint(tmp_path, (probe, source))
    assert result.returncode != 0, result.stdout
    assert "Inside orders, each part depends only on the parts below it BROKEN" in result.stdout
    assert named in result.stdout
