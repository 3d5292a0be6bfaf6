"""The staff API, the storefront's back-in-stock endpoint, and the admin screens."""

from __future__ import annotations

import pytest

from automation.models import BackInStockRequest, Rule, RuleRun
from tests.factories import StaffFactory

from .conftest import dispatch_all, make_rule, web_order

RULES = "/api/v1/staff/automation/rules/"


@pytest.fixture
def staff_api(db, api_client):
    api_client.force_authenticate(StaffFactory(username="root", superuser=True))
    return api_client


def test_a_rule_is_written_published_switched_on_and_its_runs_listed(staff_api, omni):
    r = staff_api.post(
        RULES,
        {
            "name": "Flag big",
            "trigger": "order.placed",
            "conditions_text": "order.total >= 1",
            "steps_text": "flag_order reason=big",
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    rule_id = r.json()["id"]
    assert r.json()["definition"]["conditions"] == [
        {"left": "order.total", "op": "gte", "right": "1"}
    ]
    assert (
        staff_api.post(f"{RULES}{rule_id}/status/", {"status": "active"}, format="json").status_code
        == 400
    )
    assert staff_api.post(f"{RULES}{rule_id}/publish/").json()["published_version"] == 1
    assert (
        staff_api.post(f"{RULES}{rule_id}/status/", {"status": "active"}, format="json").status_code
        == 200
    )
    order = web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    runs = staff_api.get("/api/v1/staff/automation/runs/", {"order_id": order.pk}).json()["results"]
    assert [run["status"] for run in runs] == ["succeeded"]
    assert runs[0]["steps"][-1]["name"] == "flag_order"
    report = staff_api.post(f"{RULES}{rule_id}/simulate/", {"days": 1}, format="json").json()
    assert report["runs_started"] == 1


def test_a_broken_step_is_refused_with_the_field_and_line(staff_api, db):
    r = staff_api.post(
        RULES,
        {"name": "Bad", "trigger": "order.placed", "steps_text": "flag_order\nwait soon"},
        format="json",
    )
    assert r.status_code == 400
    body = r.json()
    assert "steps_text" in str(body) and "Line 2" in str(body) and "not a duration" in str(body)
    assert not Rule.objects.exists()


def test_an_unknown_condition_field_names_the_roots(staff_api, db):
    r = staff_api.post(
        RULES,
        {
            "name": "Bad",
            "trigger": "order.placed",
            "conditions_text": "price > 3",
            "steps_text": "stop",
        },
        format="json",
    )
    assert r.status_code == 400 and "conditions_text" in str(r.json()) and "order" in str(r.json())


def test_anonymous_callers_get_no_rules(api_client, db):
    assert api_client.get(RULES).status_code in (401, 403)


def test_a_ready_made_rule_installs_as_a_draft(staff_api, db):
    r = staff_api.post(f"{RULES}library/fraud_alert/")
    assert (
        r.status_code == 201
        and r.json()["status"] == "draft"
        and r.json()["published_version"] == 1
    )
    assert staff_api.post(f"{RULES}library/nothing/").status_code == 404


def test_back_in_stock_requests_are_kept_once_and_bad_input_names_the_field(api_client, omni):
    url = "/api/v1/channels/web-jp/back-in-stock/"
    assert (
        api_client.post(
            url, {"sku": "SKN-LOT-150", "email": "A@example.jp"}, format="json"
        ).status_code
        == 201
    )
    assert (
        api_client.post(
            url, {"sku": "SKN-LOT-150", "email": "a@example.jp"}, format="json"
        ).status_code
        == 201
    )
    assert BackInStockRequest.objects.count() == 1
    r = api_client.post(url, {"sku": "NOPE", "email": "a@example.jp"}, format="json")
    assert r.status_code == 400 and "sku" in str(r.json())
    r = api_client.post(url, {"sku": "SKN-LOT-150", "email": "not-an-address"}, format="json")
    assert r.status_code == 400 and "email" in str(r.json())
    assert (
        api_client.post(
            "/api/v1/channels/nowhere/back-in-stock/",
            {"sku": "SKN-LOT-150", "email": "a@example.jp"},
            format="json",
        ).status_code
        == 404
    )


def test_the_admin_screens_open_and_a_rule_is_saved_from_the_form(
    superuser_client, plain_static_files, omni
):
    rule = make_rule("Flag", "order.placed", "flag_order reason=x")
    web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    run = RuleRun.objects.get()
    for url in (
        "/admin/automation/rule/",
        f"/admin/automation/rule/{rule.pk}/change/",
        f"/admin/automation/rule/{rule.pk}/simulate/?days=7",
        "/admin/automation/rule/library/",
        "/admin/automation/rulerun/",
        f"/admin/automation/rulerun/{run.pk}/change/",
        "/admin/automation/approval/",
        "/admin/automation/staffalert/",
        "/admin/automation/backinstockrequest/",
        f"/admin/orders/order/{run.order_id}/change/",
    ):
        response = superuser_client.get(url)
        assert response.status_code == 200, url
    assert (
        "Automation runs"
        in superuser_client.get(f"/admin/orders/order/{run.order_id}/change/").content.decode()
    )
    response = superuser_client.post(
        "/admin/automation/rule/add/",
        {
            "name": "From the form",
            "trigger": "cart.abandoned",
            "conditions_text": "cart.value >= 3000",
            "guard_text": "",
            "steps_text": "send_message kind=abandoned_cart\nwait 1d\nstop",
            "exit_on": "order.placed",
            "reentry": "every_time",
            "reentry_days": 0,
            "flood_limit_per_minute": 100,
            "time_zone": "Asia/Tokyo",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = Rule.objects.get(name="From the form")
    assert saved.definition["exit_on"] == ["order.placed"] and saved.status == Rule.Status.DRAFT
    bad = superuser_client.post(
        "/admin/automation/rule/add/",
        {
            "name": "Bad",
            "trigger": "order.placed",
            "steps_text": "explode now",
            "reentry": "every_time",
            "reentry_days": 0,
            "flood_limit_per_minute": 100,
        },
    )
    assert bad.status_code == 200 and "is not a step" in bad.content.decode()
    response = superuser_client.post("/admin/automation/rule/library/", {"key": "welcome"})
    assert response.status_code == 302 and Rule.objects.filter(template="welcome").exists()
