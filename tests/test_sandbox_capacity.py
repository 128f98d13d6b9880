"""The sandbox serves capacity data like the real API (sandbox/capacity.py; api-notes via sandbox/README.md):
member profiles with work capacity and working days, the workspace's working days, holidays and time-off
requests (read with POST), and what a plan without time off answers."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from sandbox import Sandbox, SandboxConfig

ANCHOR = dt.date(2025, 3, 31)
CFG = SandboxConfig(anchor=ANCHOR, users=8, issues=40, days=60, clock="frozen")


def _get(sb, path, **params):
    env = sb.env()
    return requests.get(
        env["CLOCKIFY_API_URL"] + f"/workspaces/{env['CLOCKIFY_WORKSPACE_ID']}{path}",
        params=params,
        headers={"X-Api-Key": env["CLOCKIFY_API_KEY"]},
        timeout=10,
    )


def _time_off(sb, body):
    env = sb.env()
    return requests.post(
        env["CLOCKIFY_API_URL"] + f"/workspaces/{env['CLOCKIFY_WORKSPACE_ID']}/time-off/requests",
        json=body,
        headers={"X-Api-Key": env["CLOCKIFY_API_KEY"]},
        timeout=10,
    )


def test_profiles_working_days_holidays_and_time_off_are_served():
    with Sandbox(CFG) as sb:
        ws = _get(sb, "").json()
        assert ws["workspaceSettings"]["workingDays"] == ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
        users = sb.workspace.clockify_users
        profiles = [_get(sb, f"/member-profile/{u['id']}").json() for u in users]
        assert {p["workCapacity"] for p in profiles} >= {"PT8H", "PT6H", "PT7H30M"}
        assert any(p["workingDays"] == [] for p in profiles)  # no days of their own: the workspace's apply
        assert _get(sb, "/member-profile/nobody").status_code == 404

        holidays = _get(sb, "/holidays", **{"page-size": 1}).json()  # page-size ignored: all at once
        assert len(holidays) == len(sb.workspace.clockify_holidays) > 1
        assert any(h["occursAnnually"] for h in holidays) and any(h["userIds"] for h in holidays)
        assert all(len(h["datePeriod"]["startDate"]) == 10 for h in holidays)  # YYYY-MM-DD
        groups = _get(sb, "/user-groups").json()
        assert groups == sb.workspace.clockify_user_groups and all(g["userIds"] for g in groups)
        assert _get(sb, "/user-groups", page=2, **{"page-size": 1}).json() == groups[1:2]  # paged
        # a holiday given only to a group, with a member of it
        (offsite,) = [h for h in holidays if h["userGroupIds"]]
        assert not offsite["everyoneIncludingNew"] and not offsite["userIds"]
        (group,) = [g for g in groups if g["id"] in offsite["userGroupIds"]]
        member = users[1]["id"]
        assert member in group["userIds"]
        mine = _get(sb, "/holidays", **{"assigned-to": member}).json()
        theirs = {g["id"] for g in groups if member in g["userIds"]}
        assert all(h["everyoneIncludingNew"] or member in h["userIds"] or theirs & set(h["userGroupIds"]) for h in mine)
        assert offsite in mine and len(mine) < len(holidays)

        every = _time_off(sb, {"page": 1, "pageSize": 500}).json()
        assert every["count"] == len(every["requests"]) == len(sb.workspace.clockify_time_off_requests)
        approved = _time_off(sb, {"statuses": ["APPROVED"], "page": 1, "pageSize": 3}).json()
        assert approved["count"] < every["count"] and len(approved["requests"]) == 3
        assert {r["status"]["statusType"] for r in approved["requests"]} == {"APPROVED"}
        assert {r["timeUnit"] for r in every["requests"]} == {"DAYS", "HOURS"}
        assert any(r["timeOffPeriod"]["halfDay"] for r in every["requests"])
        # start/end filter when a request was created, not its period
        late = _time_off(sb, {"start": "2030-01-01T00:00:00.000000Z", "end": "2030-02-01T00:00:00.000000Z"})
        assert late.json() == {"count": 0, "requests": []}
        assert _time_off(sb, {"statuses": ["NOPE"]}).status_code == 400


def test_a_days_request_spans_the_persons_own_midnights_or_utc_dates():
    for mode in ("local", "utc_dates"):
        with Sandbox(CFG.with_(clockify_time_off_period=mode)) as sb:
            berlin = next(
                r
                for r in sb.workspace.clockify_time_off_requests
                if r["userTimeZone"] == "Europe/Berlin" and r["timeUnit"] == "DAYS"
            )
            start = berlin["timeOffPeriod"]["period"]["start"]
            assert start.endswith("T23:00:00.000Z" if mode == "local" else "T00:00:00.000Z"), start


@pytest.mark.parametrize("mode,status", [("off_403", 403), ("off_404", 404)])
def test_a_plan_without_time_off_refuses_holidays_and_time_off(mode, status):
    with Sandbox(CFG.with_(clockify_time_off=mode)) as sb:
        assert _get(sb, "/holidays").status_code == status
        assert _time_off(sb, {"statuses": ["APPROVED"]}).status_code == status
        assert _get(sb, f"/member-profile/{sb.workspace.clockify_users[0]['id']}").status_code == 200
        assert _get(sb, "/users").status_code == 200


def test_the_free_plan_lacks_time_off_by_default():
    assert SandboxConfig(clockify_plan="FREE").clockify_time_off == "off_403"
    assert SandboxConfig().clockify_time_off == "on"


def test_capacity_data_do_not_move_with_the_key_owners_zone():
    """owner_timezone changes only the owner's profile zone, never the data: the owner's time off is placed in
    their own zone (before, their requests followed owner_timezone and the sync comparisons across owners differed)."""
    from sandbox import generate_workspace

    base = SandboxConfig(anchor=ANCHOR, users=6, issues=20, days=21)
    a, b = generate_workspace(base), generate_workspace(base.with_(owner_timezone="Asia/Kolkata"))
    assert a.clockify_time_off_requests == b.clockify_time_off_requests
    assert a.clockify_holidays == b.clockify_holidays and a.clockify_member_profiles == b.clockify_member_profiles
