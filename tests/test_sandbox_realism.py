"""The sandbox answers like the real Clockify and Linear APIs (api-notes.md, issue 11): time zones, every
member, every task, the official report row, paging, hosts and auth. For every fact the notes mark *open*,
a test names the sandbox's default answer and another shows the switch gives the other one."""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
import requests

from sandbox import Sandbox, SandboxConfig
from sandbox.data import generate_workspace

ANCHOR = dt.date(2024, 6, 30)
CFG = SandboxConfig(seed=7, anchor=ANCHOR)
UTC = dt.timezone.utc
OFFSET_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(scope="module")
def sb():
    with Sandbox(CFG) as s:
        yield s


@pytest.fixture()
def http():
    with requests.Session() as s:
        yield s


def get(sb, http, path, key=None, env=None, **params):
    env = env or sb.env()
    return http.get(
        env["CLOCKIFY_API_URL"] + path,
        params=params,
        headers={"X-Api-Key": key or env["CLOCKIFY_API_KEY"]},
        timeout=20,
    )


def ws_path(sb, rest=""):
    return f"/workspaces/{sb.workspace.workspace_id}{rest}"


def report(sb, http, body, env=None):
    env = env or sb.env()
    return http.post(
        f"{env['CLOCKIFY_REPORTS_URL']}/workspaces/{sb.workspace.workspace_id}/reports/detailed",
        json=body,
        headers={"X-Api-Key": env["CLOCKIFY_API_KEY"]},
        timeout=30,
    )


def report_all(sb, http, body, page_size=1000):
    rows, page = [], 1
    while True:
        data = report(
            sb,
            http,
            {**body, "detailedFilter": {**body.get("detailedFilter", {}), "page": page, "pageSize": page_size}},
        )
        assert data.status_code == 200, data.text
        got = data.json()["timeentries"]
        rows += got
        if len(got) < page_size:
            return rows, data.json()["totals"]
        page += 1


def gql(sb, http, query, variables=None, auth=None):
    env = sb.env()
    return http.post(
        env["LINEAR_API_URL"],
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": auth if auth is not None else env["LINEAR_API_KEY"]},
        timeout=30,
    )


def utc(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC)


def finished(ws):
    return [e for e in ws.clockify_time_entries if e["timeInterval"]["end"] is not None]


def starting_between(entries, lo: dt.datetime, hi: dt.datetime):
    return {e["id"] for e in entries if lo <= utc(e["timeInterval"]["start"]) <= hi}


# ============================================================================== 1. time zones
def test_default_key_owner_sits_west_of_utc_and_user_endpoints_carry_zones(sb, http):
    me = get(sb, http, "/user").json()
    assert me["id"] == sb.workspace.clockify_users[0]["id"]
    assert me["settings"]["timeZone"] == "America/Los_Angeles" == CFG.owner_timezone
    assert ZoneInfo(me["settings"]["timeZone"]).utcoffset(dt.datetime(2024, 6, 1)) < dt.timedelta(0)
    users = get(sb, http, ws_path(sb, "/users"), **{"account-statuses": "ACTIVE,LIMITED"}).json()
    zones = {u["settings"]["timeZone"] for u in users}
    assert all(u["settings"]["timeZone"] for u in users) and len(zones) >= 10


@pytest.mark.parametrize("owner", ["Etc/GMT+7", "Asia/Kolkata", "UTC"])  # UTC-7, UTC+5:30, UTC
def test_report_reads_bounds_as_wall_clock_in_the_owners_zone(owner, http):
    cfg = SandboxConfig.small(anchor=ANCHOR, owner_timezone=owner)
    with Sandbox(cfg) as s:
        zone = ZoneInfo(owner)
        day = dt.date(2024, 6, 25)
        body = {
            "dateRangeStart": f"{day}T00:00:00.000Z",
            "dateRangeEnd": f"{day}T23:59:59.999Z",
            "sortOrder": "ASCENDING",
        }
        rows, _ = report_all(s, http, body)
        lo = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
        expected = starting_between(finished(s.workspace), lo, lo + dt.timedelta(seconds=86399))
        assert {r["_id"] for r in rows} == expected and expected
        # the suffix of the bounds does not pick the instant
        shifted, _ = report_all(
            s, http, {**body, "dateRangeStart": f"{day}T00:00:00+05:30", "dateRangeEnd": f"{day}T23:59:59.999-03:00"}
        )
        assert [r["_id"] for r in shifted] == [r["_id"] for r in rows]
        # "timeZone": "UTC" makes the bounds mean what they say
        as_utc, _ = report_all(s, http, {**body, "timeZone": "UTC"})
        day0 = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
        assert {r["_id"] for r in as_utc} == starting_between(
            finished(s.workspace), day0, day0 + dt.timedelta(seconds=86399)
        )
        if owner != "UTC":
            assert {r["_id"] for r in as_utc} != expected


def test_report_renders_times_in_the_zone_with_its_offset(sb, http):
    rows, _ = report_all(sb, http, {"dateRangeStart": "2024-06-20T00:00:00Z", "dateRangeEnd": "2024-06-21T23:59:59Z"})
    by_id = {e["id"]: e for e in sb.workspace.clockify_time_entries}
    assert rows
    for r in rows:
        start = r["timeInterval"]["start"]
        assert OFFSET_TS.match(start) and start.endswith("-07:00")  # Los Angeles in June: PDT
        assert utc(start) == utc(by_id[r["_id"]]["timeInterval"]["start"])
        assert utc(r["timeInterval"]["end"]) == utc(by_id[r["_id"]]["timeInterval"]["end"])
    assert any(r["timeInterval"]["start"][:10] != by_id[r["_id"]]["timeInterval"]["start"][:10] for r in rows)
    kolkata, _ = report_all(
        sb,
        http,
        {"dateRangeStart": "2024-06-20T00:00:00Z", "dateRangeEnd": "2024-06-20T23:59:59Z", "timeZone": "Asia/Kolkata"},
    )
    assert kolkata and all(r["timeInterval"]["start"].endswith("+05:30") for r in kolkata)
    in_utc, _ = report_all(
        sb, http, {"dateRangeStart": "2024-06-20T00:00:00Z", "dateRangeEnd": "2024-06-20T23:59:59Z", "timeZone": "UTC"}
    )
    assert in_utc and all(r["timeInterval"]["start"].endswith("Z") for r in in_utc)
    assert (
        report(
            sb,
            http,
            {
                "dateRangeStart": "2024-06-20T00:00:00Z",
                "dateRangeEnd": "2024-06-20T23:59:59Z",
                "timeZone": "Mars/Olympus",
            },
        ).status_code
        == 400
    )


def test_report_offsets_follow_dst():
    cfg = SandboxConfig(seed=3, users=6, days=21, anchor=dt.date(2024, 4, 7), issues=60, projects=4, clients=2, tags=3)
    with Sandbox(cfg) as s, requests.Session() as http:
        body = {
            "dateRangeStart": "2024-03-25T00:00:00Z",
            "dateRangeEnd": "2024-04-05T23:59:59Z",
            "timeZone": "Europe/Berlin",
        }
        rows, _ = report_all(s, http, body)
        offsets = {r["timeInterval"]["start"][:10]: r["timeInterval"]["start"][-6:] for r in rows}
        assert offsets["2024-03-27"] == "+01:00" and offsets["2024-04-03"] == "+02:00"


def test_people_work_nine_to_five_local_time_dst_correct():
    """First entry of a working day starts 08:00-10:00 local, before and after the DST switches (US 10 March,
    EU 31 March, Sydney 7 April 2024)."""
    cfg = SandboxConfig(
        seed=5, users=12, days=42, anchor=dt.date(2024, 4, 14), issues=80, projects=4, clients=2, tags=3
    )
    ws = generate_workspace(cfg)
    zone = {u["id"]: ZoneInfo(u["settings"]["timeZone"]) for u in ws.clockify_users[1:]}  # [0]: owner profile
    first: dict = {}
    for e in ws.clockify_time_entries:
        if e["userId"] not in zone or e["description"] in ("All-hands",) or "on-call" in e["description"]:
            continue
        local = utc(e["timeInterval"]["start"]).astimezone(zone[e["userId"]])
        if not cfg.start_date < local.date() < cfg.anchor_date:
            continue  # the period is cut at UTC midnight: the edge days are partial local days
        key = (e["userId"], local.date())
        first[key] = min(first.get(key, local), local)
    hours = collections.Counter(t.hour for t in first.values())
    assert set(hours) <= {7, 8, 9} and hours[8] + hours[9] > 0.9 * len(first)  # typed-in ones round down
    zones_seen = {str(zone[u]) for u, _ in first}
    assert {"Europe/Berlin", "Asia/Kolkata", "America/New_York", "Australia/Sydney"} <= zones_seen
    # DST-correct: New York people start at 13-14 UTC in winter, 12-13 UTC in summer time
    ny = [t for (u, d), t in first.items() if str(zone[u]) == "America/New_York"]
    assert {t.astimezone(UTC).hour for t in ny if t.date() < dt.date(2024, 3, 10)} <= {13, 14}
    assert {t.astimezone(UTC).hour for t in ny if t.date() > dt.date(2024, 3, 10)} <= {12, 13}


def test_the_team_spans_zones_and_crosses_utc_midnight():
    small = generate_workspace(SandboxConfig(seed=11, users=6, teams=3, issues=90, days=40, anchor=ANCHOR))
    assert len({u["settings"]["timeZone"] for u in small.clockify_users}) >= 5
    ws = generate_workspace(CFG)
    crossing = collections.Counter(
        e["timeInterval"]["start"][:10]
        for e in ws.clockify_time_entries
        if e["timeInterval"]["end"] and e["timeInterval"]["end"][:10] != e["timeInterval"]["start"][:10]
    )
    weekdays = [CFG.start_date + dt.timedelta(days=d) for d in range(CFG.days)]
    weekdays = [d for d in weekdays if d.weekday() < 5]
    assert sum(1 for d in weekdays if crossing[str(d)]) >= 0.7 * len(weekdays)


def test_owner_zone_changes_the_profile_only():
    dump = lambda w: json.dumps(
        [w.clockify_time_entries, [dict(u, settings=None) for u in w.clockify_users], w.linear_issues],
        default=str,
        sort_keys=True,
    )  # noqa: E731
    a = generate_workspace(CFG.with_(owner_timezone="UTC"))
    b = generate_workspace(CFG.with_(owner_timezone="Asia/Kolkata"))
    assert dump(a) == dump(b)
    assert (
        a.clockify_users[0]["settings"]["timeZone"] == "UTC"
        and b.clockify_users[0]["settings"]["timeZone"] == "Asia/Kolkata"
    )


@pytest.mark.parametrize("owner", ["Etc/GMT+7", "Asia/Kolkata", "UTC"])
def test_user_time_entries_reread_the_window_in_the_owners_zone(owner, http):
    with Sandbox(SandboxConfig.small(anchor=ANCHOR, owner_timezone=owner)) as s:
        uid = s.workspace.clockify_users[1]["id"]
        got = get(
            s,
            http,
            ws_path(s, f"/user/{uid}/time-entries"),
            start="2024-06-24T00:00:00Z",
            end="2024-06-26T23:59:59Z",
            **{"page-size": 5000},
        )
        assert got.status_code == 200
        zone = ZoneInfo(owner)
        lo = dt.datetime(2024, 6, 24, tzinfo=zone)
        hi = dt.datetime(2024, 6, 26, 23, 59, 59, tzinfo=zone)
        mine = [e for e in s.workspace.clockify_time_entries if e["userId"] == uid]
        assert {e["id"] for e in got.json()} == starting_between(mine, lo, hi) and got.json()
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["timeInterval"]["start"]) for e in got.json())


# ============================================================================== 2. members
def test_users_leave_out_limited_accounts_unless_asked(sb, http):
    ws = sb.workspace
    limited = [u for u in ws.clockify_users if u["status"] == "LIMITED"]
    assert len(limited) == 1
    default = get(sb, http, ws_path(sb, "/users")).json()
    assert limited[0]["id"] not in {u["id"] for u in default} and len(default) == len(ws.clockify_users) - 1
    only = get(sb, http, ws_path(sb, "/users"), **{"account-statuses": "LIMITED"}).json()
    assert [u["id"] for u in only] == [limited[0]["id"]]
    every = get(
        sb,
        http,
        ws_path(sb, "/users"),
        **{"account-statuses": "ACTIVE,PENDING_EMAIL_VERIFICATION,NOT_REGISTERED,LIMITED"},
    ).json()
    assert [u["id"] for u in every] == [u["id"] for u in ws.clockify_users]
    assert get(sb, http, ws_path(sb, "/users"), **{"account-statuses": "BOGUS"}).status_code == 400
    # the LIMITED member has time, and the report names them
    assert any(e["userId"] == limited[0]["id"] for e in ws.clockify_time_entries)


def test_membership_status_comes_only_with_memberships(sb, http):
    ws = sb.workspace
    gone = [uid for uid, st in ws.clockify_membership_status.items() if st == "INACTIVE"]
    assert len(gone) == 1
    plain = {u["id"]: u for u in get(sb, http, ws_path(sb, "/users")).json()}
    assert plain[gone[0]]["status"] == "ACTIVE" and plain[gone[0]]["memberships"] == []  # account status only
    for which in ("WORKSPACE", "ALL"):
        users = {u["id"]: u for u in get(sb, http, ws_path(sb, "/users"), memberships=which).json()}
        m = users[gone[0]]["memberships"]
        assert len(m) == 1 and m[0]["membershipStatus"] == "INACTIVE" and m[0]["membershipType"] == "WORKSPACE"
        assert set(m[0]) == {"userId", "hourlyRate", "costRate", "targetId", "membershipType", "membershipStatus"}
        assert m[0]["targetId"] == ws.workspace_id and m[0]["userId"] == gone[0]
        assert all(u["memberships"][0]["membershipStatus"] == "ACTIVE" for uid, u in users.items() if uid != gone[0])
    assert [u["id"] for u in get(sb, http, ws_path(sb, "/users"), status="INACTIVE").json()] == gone
    # they worked here until they were deactivated, and the report still has their hours
    theirs = sorted(e["timeInterval"]["start"] for e in ws.clockify_time_entries if e["userId"] == gone[0])
    assert theirs and theirs[-1] < f"{ANCHOR - dt.timedelta(days=20)}"
    rows, _ = report_all(
        sb,
        http,
        {"dateRangeStart": theirs[0], "dateRangeEnd": theirs[-1], "timeZone": "UTC", "users": {"ids": [gone[0]]}},
    )
    assert rows and {r["userName"] for r in rows} == {next(u["name"] for u in ws.clockify_users if u["id"] == gone[0])}


# ============================================================================== 3. tasks (open)
def _task_lists(s, http):
    out = {}
    for p in s.workspace.clockify_projects:
        path = ws_path(s, f"/projects/{p['id']}/tasks")
        out[p["id"]] = {
            flag: {
                t["id"]
                for t in get(s, http, path, **({"is-active": flag} if flag else {}), **{"page-size": 500}).json()
            }
            for flag in ("", "true", "false")
        }
    hydrated = get(s, http, ws_path(s, "/projects"), hydrated="true", **{"page-size": 500}).json()
    return out, {p["id"]: {t["id"] for t in p["tasks"]} for p in hydrated}


def _task_ids(ws, status=None):
    return {
        pid: {t["id"] for t in ts if status is None or t["status"] == status} for pid, ts in ws.clockify_tasks.items()
    }


def test_open_done_tasks_default_answer_is_on_request(sb, http):
    """Open fact (api-notes, Lists): the sandbox serves DONE tasks only with is-active=false, and
    ?hydrated=true embeds ACTIVE tasks only."""
    assert sb.config.clockify_done_tasks == "on_request"
    lists, hydrated = _task_lists(sb, http)
    active, done = _task_ids(sb.workspace, "ACTIVE"), _task_ids(sb.workspace, "DONE")
    assert any(done.values())
    for pid in lists:
        assert lists[pid][""] == lists[pid]["true"] == active[pid] == hydrated[pid]
        assert lists[pid]["false"] == done[pid]


@pytest.mark.parametrize("mode", ["always", "never"])
def test_open_done_tasks_other_answers(mode, http):
    with Sandbox(CFG.with_(clockify_done_tasks=mode)) as s:
        lists, hydrated = _task_lists(s, http)
        every, active = _task_ids(s.workspace), _task_ids(s.workspace, "ACTIVE")
        for pid in lists:
            assert lists[pid]["true"] == active[pid]
            if mode == "always":
                assert lists[pid][""] == lists[pid]["false"] == hydrated[pid] == every[pid]
            else:
                assert lists[pid][""] == lists[pid]["false"] == hydrated[pid] == active[pid]


def test_completed_issues_have_done_tasks_with_entries(sb, http):
    ws = sb.workspace
    by_ident = {i["identifier"]: i for i in ws.linear_issues} | {
        p: i for i in ws.linear_issues for p in i["previousIdentifiers"]
    }
    tasks = {t["id"]: t for ts in ws.clockify_tasks.values() for t in ts}
    issue_tasks = [t for t in tasks.values() if re.match(r"[A-Z]+-\d+: ", t["name"])]
    for t in issue_tasks:
        issue = by_ident[t["name"].split(":")[0]]
        assert (t["status"] == "DONE") == (issue["state"]["type"] == "completed")
    done_entries = [e for e in finished(ws) if e["taskId"] and tasks[e["taskId"]]["status"] == "DONE"]
    assert len(done_entries) >= 10
    e = done_entries[0]
    rows, _ = report_all(
        sb,
        http,
        {"dateRangeStart": e["timeInterval"]["start"], "dateRangeEnd": e["timeInterval"]["start"], "timeZone": "UTC"},
    )
    row = next(r for r in rows if r["_id"] == e["id"])
    assert row["taskId"] == e["taskId"] and row["taskName"] == tasks[e["taskId"]]["name"]


# ============================================================================== 4. report rows and paging
OFFICIAL_ROW = {
    "_id", "description", "userId", "userName", "userEmail", "billable", "projectId", "projectName", "projectColor",
    "clientId", "clientName", "taskId", "taskName", "tags", "locked", "approvalRequestId", "timeInterval", "amount",
    "rate", "customFields",
}  # fmt: skip


def test_report_rows_in_the_official_shape(sb, http):
    ws = sb.workspace
    rows, totals = report_all(
        sb, http, {"dateRangeStart": "2024-06-01T00:00:00Z", "dateRangeEnd": "2024-06-30T23:59:59Z", "timeZone": "UTC"}
    )
    assert rows and all(set(r) == OFFICIAL_ROW for r in rows)
    assert totals[0]["entriesCount"] == len(rows)
    by_id = {e["id"]: e for e in ws.clockify_time_entries}
    users = {u["id"]: u for u in ws.clockify_users}
    bare = [r for r in rows if not by_id[r["_id"]]["projectId"]]
    assert bare and all(
        r["projectId"] == r["projectName"] == r["clientId"] == r["taskId"] == r["taskName"] == "" for r in bare
    )
    for r in rows:
        e = by_id[r["_id"]]
        assert r["userName"] == users[e["userId"]]["name"] and r["userEmail"] == users[e["userId"]]["email"]
        assert [t["id"] for t in r["tags"]] == e["tagIds"] and all(set(t) == {"id", "name"} for t in r["tags"])
        assert r["locked"] is e["isLocked"] and isinstance(r["timeInterval"]["duration"], int)
    assert any(r["projectName"] and r["clientName"] for r in rows) and any(r["taskName"] for r in rows)
    empty = report(sb, http, {"dateRangeStart": "2030-01-01T00:00:00Z", "dateRangeEnd": "2030-01-02T00:00:00Z"}).json()
    assert empty == {"totals": [None], "timeentries": []}


def test_sort_columns(sb, http):
    body = {
        "dateRangeStart": "2024-06-10T00:00:00Z",
        "dateRangeEnd": "2024-06-16T23:59:59Z",
        "timeZone": "UTC",
        "sortOrder": "ASCENDING",
    }
    by_id, _ = report_all(sb, http, {**body, "detailedFilter": {"sortColumn": "ID"}}, page_size=37)
    ids = [r["_id"] for r in by_id]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    durations, _ = report_all(sb, http, {**body, "detailedFilter": {"sortColumn": "DURATION"}})
    assert [r["timeInterval"]["duration"] for r in durations] == sorted(
        r["timeInterval"]["duration"] for r in durations
    )
    users, _ = report_all(sb, http, {**body, "detailedFilter": {"sortColumn": "USER"}})
    assert [r["userName"].lower() for r in users] == sorted(r["userName"].lower() for r in users)
    for column in ("DATE", "USER_EMAIL", "PROJECT", "CLIENT", "TASK", "DESCRIPTION", "AMOUNT"):
        rows, _ = report_all(sb, http, {**body, "detailedFilter": {"sortColumn": column}})
        assert sorted(r["_id"] for r in rows) == sorted(ids)
    assert report(sb, http, {**body, "detailedFilter": {"sortColumn": "COLOR"}}).status_code == 400


def _tie_edges(ws, lo, hi):
    rows = sorted(
        (e for e in finished(ws) if lo <= e["timeInterval"]["start"] <= hi),
        key=lambda e: (e["timeInterval"]["start"], e["id"]),
    )
    return rows, [
        i for i in range(1, len(rows)) if rows[i - 1]["timeInterval"]["start"] == rows[i]["timeInterval"]["start"]
    ]


def test_equal_start_times_exist_and_date_paging_is_stable_by_default(sb, http):
    """Open fact: the sandbox's DATE order breaks ties by id by default, so paging is exact."""
    lo, hi = "2024-06-01T00:00:00Z", "2024-06-30T23:59:59Z"
    rows, edges = _tie_edges(sb.workspace, lo, hi)
    assert len(edges) >= 5  # all-hands and typed-in quarter hours start together
    for size in edges[:4]:
        got, _ = report_all(
            sb,
            http,
            {"dateRangeStart": lo, "dateRangeEnd": hi, "timeZone": "UTC", "sortOrder": "ASCENDING"},
            page_size=size,
        )
        assert [r["_id"] for r in got] == [e["id"] for e in rows]


def test_unstable_ties_switch_reorders_equal_starts_between_pages(http):
    lo, hi = "2024-06-01T00:00:00Z", "2024-06-30T23:59:59Z"
    with Sandbox(CFG.with_(clockify_report_unstable_ties=True)) as s:
        rows, edges = _tie_edges(s.workspace, lo, hi)
        body = {"dateRangeStart": lo, "dateRangeEnd": hi, "timeZone": "UTC", "sortOrder": "ASCENDING"}
        broken = 0
        for size in edges[:12]:
            got, _ = report_all(s, http, body, page_size=size)
            broken += sorted(r["_id"] for r in got) != sorted(e["id"] for e in rows)
        assert broken  # a DATE-sorted paging repeats and skips entries
        by_id, _ = report_all(s, http, {**body, "detailedFilter": {"sortColumn": "ID"}}, page_size=edges[0])
        assert sorted(r["_id"] for r in by_id) == sorted(e["id"] for e in rows)  # a unique column never does


def test_page_size_cap_serves_fewer_rows_than_asked(http):
    with Sandbox(CFG.with_(clockify_report_max_page_size=100)) as s:
        body = {
            "dateRangeStart": "2024-06-01T00:00:00Z",
            "dateRangeEnd": "2024-06-30T23:59:59Z",
            "timeZone": "UTC",
            "sortOrder": "ASCENDING",
        }
        first = report(s, http, {**body, "detailedFilter": {"page": 1, "pageSize": 1000}}).json()
        second = report(s, http, {**body, "detailedFilter": {"page": 2, "pageSize": 1000}}).json()
        assert len(first["timeentries"]) == len(second["timeentries"]) == 100
        assert first["totals"][0]["entriesCount"] > 200  # the count announces what the pages will not give
        assert not {r["_id"] for r in first["timeentries"]} & {r["_id"] for r in second["timeentries"]}


def test_open_running_timers_are_left_out_of_the_report_by_default(sb, http):
    running = [e for e in sb.workspace.clockify_time_entries if e["timeInterval"]["end"] is None]
    assert running and not sb.config.clockify_report_includes_running
    rows, _ = report_all(
        sb, http, {"dateRangeStart": f"{ANCHOR}T00:00:00Z", "dateRangeEnd": f"{ANCHOR}T23:59:59Z", "timeZone": "UTC"}
    )
    assert rows and not {e["id"] for e in running} & {r["_id"] for r in rows}
    uid = running[0]["userId"]
    per_user = get(sb, http, ws_path(sb, f"/user/{uid}/time-entries"), **{"in-progress": "true"}).json()
    assert [e["id"] for e in per_user] == [running[0]["id"]]  # the main API sees them


def test_running_timers_switch_includes_them(http):
    with Sandbox(CFG.with_(clockify_report_includes_running=True)) as s:
        running = {e["id"] for e in s.workspace.clockify_time_entries if e["timeInterval"]["end"] is None}
        rows, totals = report_all(
            s, http, {"dateRangeStart": f"{ANCHOR}T00:00:00Z", "dateRangeEnd": f"{ANCHOR}T23:59:59Z", "timeZone": "UTC"}
        )
        got = {r["_id"]: r for r in rows}
        assert running <= set(got)
        assert all(
            got[i]["timeInterval"]["end"] is None and got[i]["timeInterval"]["duration"] is None for i in running
        )
        assert totals[0]["totalTime"] == sum(r["timeInterval"]["duration"] or 0 for r in rows)


def test_lists_answer_a_last_page_header(sb, http):
    marks = [get(sb, http, ws_path(sb, "/users"), page=p, **{"page-size": 5}).headers["Last-Page"] for p in (1, 2, 3)]
    assert marks == ["false", "false", "true"]
    for path in ("/clients", "/projects", "/tags"):
        assert get(sb, http, ws_path(sb, path)).headers["Last-Page"] == "true"
    assert get(sb, http, "/workspaces").headers["Last-Page"] == "true"
    pid = sb.workspace.clockify_projects[0]["id"]
    assert get(sb, http, ws_path(sb, f"/projects/{pid}/tasks"), **{"page-size": 1}).headers["Last-Page"] == "false"


# ============================================================================== 5. hosts and auth
def test_clockify_auth_errors_as_probed(sb, http):
    r = http.get(sb.env()["CLOCKIFY_API_URL"] + "/user", timeout=10)
    assert r.status_code == 401 and r.json()["code"] == 1000
    r = get(sb, http, "/user", key="not-a-key")
    assert r.status_code == 401 and r.json() == {"message": "Api key does not exist", "code": 4003}
    r = report(sb, http, {}, env={**sb.env(), "CLOCKIFY_API_KEY": "not-a-key"})
    assert r.status_code == 401 and r.json()["code"] == 4003


def test_default_env_is_the_global_setup(sb):
    env = sb.env()
    assert set(env) == {
        "CLOCKIFY_API_URL",
        "CLOCKIFY_REPORTS_URL",
        "LINEAR_API_URL",
        "CLOCKIFY_API_KEY",
        "LINEAR_API_KEY",
        "CLOCKIFY_WORKSPACE_ID",
    }
    assert env["CLOCKIFY_API_URL"] == sb.base_url + "/api/v1" and env["CLOCKIFY_REPORTS_URL"] == sb.base_url + "/v1"


def test_regional_workspace_answers_only_on_its_host(http):
    with Sandbox(SandboxConfig.small(anchor=ANCHOR, clockify_region="euc1")) as s:
        env = s.env()
        assert env["CLOCKIFY_API_URL"] == s.base_url + "/euc1/api/v1"
        assert env["CLOCKIFY_REPORTS_URL"] == s.base_url + "/euc1/report/v1"  # report, singular, same host
        wsid = s.workspace.workspace_id
        assert [w["id"] for w in get(s, http, "/workspaces").json()] == [wsid]
        assert get(s, http, ws_path(s, "/users")).status_code == 200
        body = {"dateRangeStart": "2024-06-20T00:00:00Z", "dateRangeEnd": "2024-06-20T23:59:59Z"}
        assert report(s, http, body).status_code == 200
        for wrong in (s.env("global"), s.env("use2")):  # the key works, the workspace is not there
            assert get(s, http, "/user", env=wrong).status_code == 200
            assert get(s, http, "/workspaces", env=wrong).json() == []
            r = get(s, http, ws_path(s, "/users"), env=wrong)
            assert r.status_code == 403 and r.json() == {"message": "Access Denied", "code": 1003}
            assert r.json() == get(s, http, "/workspaces/000000000000000000000000/users").json()  # = unknown workspace
            assert report(s, http, body, env=wrong).status_code == 403
    with Sandbox(SandboxConfig.small(anchor=ANCHOR, clockify_region="euc1", clockify_wrong_host="key_unknown")) as s:
        r = get(s, http, "/workspaces", env=s.env("global"))
        assert r.status_code == 401 and r.json()["code"] == 4003
        assert get(s, http, "/workspaces").status_code == 200


def test_subdomain_workspace_needs_its_own_host(http):
    with Sandbox(SandboxConfig.small(anchor=ANCHOR, clockify_subdomain="acme")) as s:
        assert s.env()["CLOCKIFY_API_URL"] == s.base_url + "/acme/api/v1"
        assert get(s, http, ws_path(s, "/projects")).status_code == 200
        r = get(s, http, "/user", env=s.env("global"))
        assert r.status_code == 401 and r.json() == {"message": "Api key does not exist", "code": 4003}
    with pytest.raises(ValueError):
        SandboxConfig(clockify_region="euc1", clockify_subdomain="acme")


def test_linear_rejects_bearer_personal_keys_with_a_hint(sb, http):
    key = sb.env()["LINEAR_API_KEY"]
    r = gql(sb, http, "{ viewer { id } }", auth=f"Bearer {key}")
    err = r.json()["errors"][0]
    assert r.status_code == 400 and err["extensions"]["code"] == "AUTHENTICATION_ERROR"
    assert "Bearer" in err["message"] and "Remove" in err["message"] and key not in json.dumps(r.json())
    assert gql(sb, http, "{ viewer { id } }", auth=key).status_code == 200
    with Sandbox(SandboxConfig.small(anchor=ANCHOR, linear_oauth_token="oauth-token-1")) as s:
        assert gql(s, http, "{ viewer { id } }", auth="Bearer oauth-token-1").status_code == 200


def test_customers_feature_switch(http):
    q = "{ customers(first: 10) { nodes { id name } } }"
    with Sandbox(SandboxConfig.small(anchor=ANCHOR)) as s:
        assert gql(s, http, q).json()["data"]["customers"]["nodes"]
    with Sandbox(SandboxConfig.small(anchor=ANCHOR, linear_customers_enabled=False)) as s:
        r = gql(s, http, q)
        assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "FEATURE_NOT_ACCESSIBLE"
        assert "x-ratelimit-requests-remaining" in r.headers
        r = gql(s, http, "{ issues(first: 5) { nodes { id customerTicketCount team { key } } } }")
        assert r.status_code == 200 and r.json()["data"]["issues"]["nodes"]
