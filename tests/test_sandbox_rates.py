"""The sandbox serves billable rates like Clockify (sandbox/README.md "Rates"): `hourlyRate {amount (cents),
currency}` on the workspace, its members (`/users?memberships=WORKSPACE`), projects, project members and
tasks; report rows carry the entry's `rate` (cents) and `amount`. The two open facts (the unit of the
report's `amount`, and whether a plan answers rates at all) have a default test and a switch test."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from sandbox import Sandbox, SandboxConfig
from sandbox.data import WORKSPACE_RATE, entry_rate

ANCHOR = dt.date(2024, 6, 30)
CFG = SandboxConfig(seed=7, anchor=ANCHOR, users=8, issues=160, days=60)
BODY = {"dateRangeStart": "2024-05-01T00:00:00Z", "dateRangeEnd": "2024-06-30T23:59:59Z", "timeZone": "UTC"}


def _rows(sb: Sandbox) -> tuple[list[dict], list]:
    env = sb.env()
    url = f"{env['CLOCKIFY_REPORTS_URL']}/workspaces/{sb.workspace.workspace_id}/reports/detailed"
    body = {**BODY, "detailedFilter": {"page": 1, "pageSize": 100000, "sortColumn": "ID"}}
    answer = requests.post(url, json=body, headers={"X-Api-Key": env["CLOCKIFY_API_KEY"]}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()["timeentries"], answer.json()["totals"]


def _get(sb: Sandbox, rest: str, **params) -> list | dict:
    env = sb.env()
    url = f"{env['CLOCKIFY_API_URL']}/workspaces/{sb.workspace.workspace_id}{rest}"
    answer = requests.get(url, params=params, headers={"X-Api-Key": env["CLOCKIFY_API_KEY"]}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def sb():
    with Sandbox(CFG) as s:
        yield s


def test_every_level_has_rates_in_the_workspace_currency(sb):
    ws = _get(sb, "")
    assert ws["hourlyRate"] == {"amount": WORKSPACE_RATE, "currency": "USD"}
    assert [c["code"] for c in ws["currencies"] if c["isDefault"]] == ["USD"]
    users = _get(sb, "/users", memberships="WORKSPACE", **{"page-size": 5000})
    member_rates = [u["memberships"][0]["hourlyRate"] for u in users]
    assert {"amount": 10500, "currency": "USD"} in member_rates and None in member_rates  # some set, some not
    assert all(u["memberships"] == [] for u in _get(sb, "/users", **{"page-size": 5000}))  # only when asked
    projects = _get(sb, "/projects", **{"page-size": 5000})
    assert any(p["hourlyRate"] and p["hourlyRate"]["amount"] for p in projects)
    assert any(p["billable"] and p["hourlyRate"] is None for p in projects)
    assert any(m["hourlyRate"] for p in projects for m in p["memberships"] if m["membershipType"] == "PROJECT")
    tasks = [t for p in projects for t in _get(sb, f"/projects/{p['id']}/tasks", **{"page-size": 5000})]
    assert [t["hourlyRate"]["amount"] for t in tasks if t["hourlyRate"]] == [20000]


def test_report_rows_carry_the_rate_that_wins_and_amount_in_cents_by_default(sb):
    """Default answers of both open facts: rates on (`rate` per row), `amount` in cents."""
    rows, totals = _rows(sb)
    entries = {e["id"]: e for e in sb.workspace.clockify_time_entries}
    assert {r["rate"] for r in rows} >= {9000, 10500, 12000, 15000, 20000}  # every level wins somewhere
    expected_total = 0.0
    for r in rows:
        e = entries[r["_id"]]
        assert r["rate"] == entry_rate(sb.workspace, e)
        cents = r["rate"] * r["timeInterval"]["duration"] / 3600 if r["billable"] else 0
        assert r["amount"] == round(cents)  # non-billable time has a rate and no amount
        expected_total += cents
    assert any(not r["billable"] and r["rate"] and r["amount"] == 0 for r in rows)
    assert totals[0]["totalAmount"] == round(expected_total)


def test_the_most_specific_rate_wins(sb):
    """task > project member > project > workspace member > workspace; 0 or none is "not set"."""
    ws = sb.workspace
    member_project = next(p for p in ws.clockify_projects if p["billable"] and p["memberships"])
    member = member_project["memberships"][0]
    task = next(t for ts in ws.clockify_tasks.values() for t in ts if t["hourlyRate"])
    rated_user = next(uid for uid, r in ws.clockify_member_rates.items() if r)
    plain = {"userId": rated_user, "projectId": None, "taskId": None}
    assert entry_rate(ws, plain) == ws.clockify_member_rates[rated_user]  # workspace member over workspace
    unrated_user = next(uid for uid, r in ws.clockify_member_rates.items() if not r)
    assert entry_rate(ws, {**plain, "userId": unrated_user}) == WORKSPACE_RATE
    rated_project = next(p for p in ws.clockify_projects if (p["hourlyRate"] or {}).get("amount"))
    on_project = {**plain, "projectId": rated_project["id"]}
    assert entry_rate(ws, on_project) == rated_project["hourlyRate"]["amount"]  # project over member
    on_member = {"userId": member["userId"], "projectId": member_project["id"], "taskId": None}
    assert entry_rate(ws, on_member) == member["hourlyRate"]["amount"]  # project member over project
    on_task = {**on_member, "projectId": task["projectId"], "taskId": task["id"]}
    assert entry_rate(ws, on_task) == 20000  # the task over everything


def test_amount_unit_switch_answers_currency_units():
    cfg = SandboxConfig(seed=7, anchor=ANCHOR, users=4, issues=40, days=10, clockify_report_amount_unit="units")
    with Sandbox(cfg) as s:
        rows, _ = _rows(s)
    billable = [r for r in rows if r["billable"] and r["timeInterval"]["duration"]]
    assert billable
    for r in billable:
        assert r["amount"] == round(r["rate"] * r["timeInterval"]["duration"] / 3600 / 100, 2)


def test_rates_off_switch_answers_zero_everywhere_in_the_report():
    cfg = SandboxConfig(seed=7, anchor=ANCHOR, users=4, issues=40, days=10, clockify_report_rates="zero")
    with Sandbox(cfg) as s:
        rows, totals = _rows(s)
        assert _get(s, "")["hourlyRate"]["amount"] == WORKSPACE_RATE  # the main API still has the rates
    assert rows and all(r["rate"] == 0 and r["amount"] == 0 for r in rows)
    assert totals[0]["totalAmount"] == 0
