"""Unsafe production set-ups are refused: the built-in test gateway, secrets in the image; and
the production compose file restarts and health-checks every long-running service."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from commerce.probe import main as probe
from commerce.probe import probe_host

BASE_DIR = Path(settings.BASE_DIR)
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "shop.example.com",
    # What the test runner sets; each test says what it wants.
    "ORDERS_ALLOW_TEST_GATEWAY": None,
    "ORDERS_TEST_GATEWAY_SECRET": None,
    "ORDERS_GATEWAY": None,
}
GATEWAYS = "import django; django.setup(); from orders.payments import gateways; print(sorted(gateways._GATEWAYS))"


def python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with the test's environment changed by `env`
    (None removes a variable)."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "commerce.settings"}
    for name, value in {**PRODUCTION, **env}.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "gateway", [pytest.param(None, id="default"), pytest.param("test", id="chosen")]
)
def test_settings_refuse_the_test_gateway_when_debug_is_off(gateway):
    result = python(GATEWAYS, ORDERS_GATEWAY=gateway)

    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: ORDERS_GATEWAY is the built-in test gateway while DEBUG is off"
        in result.stderr
    )


def test_settings_leave_the_test_gateway_out_when_a_real_one_is_chosen():
    result = python(GATEWAYS, ORDERS_GATEWAY="acme")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"  # a notification signed for "test" finds no gateway


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"ORDERS_ALLOW_TEST_GATEWAY": "1"}, id="allowed"),
        pytest.param({"DEBUG": "1"}, id="development"),
    ],
)
def test_settings_accept_the_test_gateway_when_allowed_or_in_development(env):
    result = python(GATEWAYS, **env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "['test']\n"


def manage_check_deploy(**env: str | None) -> subprocess.CompletedProcess:
    return python(
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy'])",
        **env,
    )


def test_deploy_check_warns_of_the_allowed_test_gateway_on_its_development_secret():
    result = manage_check_deploy(ORDERS_ALLOW_TEST_GATEWAY="1")

    assert "(commerce.W001) The test gateway is allowed (ORDERS_ALLOW_TEST_GATEWAY)" in (
        result.stdout + result.stderr
    )


def test_deploy_check_is_clean_with_the_test_gateway_on_a_secret_of_its_own():
    result = manage_check_deploy(
        ORDERS_ALLOW_TEST_GATEWAY="1", ORDERS_TEST_GATEWAY_SECRET=secrets.token_urlsafe(32)
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"


def test_deploy_check_refuses_a_gateway_no_app_registered():
    result = manage_check_deploy(ORDERS_GATEWAY="acme")

    assert result.returncode != 0
    assert "(orders.E001) ORDERS_GATEWAY is 'acme', and no payment gateway of that code" in (
        result.stderr
    )


def test_dockerignore_keeps_env_files_out_of_the_image():
    patterns = (BASE_DIR / ".dockerignore").read_text().splitlines()

    assert {".env", ".env.*", "**/.env"} <= set(patterns)


def test_readme_prints_no_gateway_secret():
    readme = (BASE_DIR / "README.md").read_text()

    assert "test-gateway-secret" not in readme


# --- The production compose file ------------------------------------------------------------

LONG_RUNNING = ["postgres", "redis", "web", "worker", "beat"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def service(compose: dict, name: str) -> dict:
    """A service with the `<<: *app` merge applied, as compose sees it."""
    return compose["services"][name]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_compose_restarts_and_health_checks_every_long_running_service(compose, name):
    spec = service(compose, name)

    assert spec["restart"] == "unless-stopped"
    assert spec["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")


def test_compose_runs_migrate_once_without_restarting(compose):
    assert service(compose, "migrate")["restart"] == "no"


def test_compose_health_checks_use_the_probes(compose):
    assert service(compose, "web")["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "commerce.probe",
        "live",
    ]
    assert "inspect ping" in service(compose, "worker")["healthcheck"]["test"][1]
    assert service(compose, "beat")["healthcheck"]["test"][-2:] == ["check_heartbeat", "beat"]


def test_compose_passes_error_reporting_and_gateway_settings_through(compose):
    environment = service(compose, "web")["environment"]

    for name in (
        "SENTRY_DSN",
        "SENTRY_ENVIRONMENT",
        "SENTRY_TRACES_SAMPLE_RATE",
        "ORDERS_GATEWAY",
        "ORDERS_ALLOW_TEST_GATEWAY",
        "ORDERS_TEST_GATEWAY_SECRET",
    ):
        assert name in environment
    assert environment["ORDERS_ALLOW_TEST_GATEWAY"] == "${ORDERS_ALLOW_TEST_GATEWAY:-0}"


# --- The web container's probe ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        ("shop.example.com,localhost", "shop.example.com"),
        (".example.com", "example.com"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_probe_asks_with_a_host_the_server_allows(allowed, host):
    assert probe_host(allowed) == host


@pytest.mark.django_db(transaction=True)
def test_probe_exits_zero_on_a_live_server_and_one_on_no_server(live_server, monkeypatch):
    monkeypatch.setenv("PORT", live_server.url.rsplit(":", 1)[1])
    monkeypatch.setenv("ALLOWED_HOSTS", "localhost")

    assert probe(["probe", "live"]) == 0

    monkeypatch.setenv("PORT", "1")
    assert probe(["probe", "live"]) == 1
