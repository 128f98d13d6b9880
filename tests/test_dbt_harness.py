"""Shared harness for the dbt tests (no tests here): sandbox data with edge cases, a raw-layer loader,
and one `dbt build` per test session.

The edge cases (`_add_edge_cases`) include what the sandbox never generates: bad intervals, a one-second
entry, cycle boundaries, issues claiming one identifier, overlapping cycles and write-back link rows.

test_dbt_build.py and test_marts_vs_python.py both call `built_warehouse()`, which is memoised, so the
whole session builds the warehouse once. The raw-loading step is one function, `RAW_LOADER`; swap it
(e.g. for the Dagster sync once it exists) without touching the comparisons.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import datetime as dt
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.warehouse.raw_tables import ALL_TABLES, RawTable

REPO = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO / "dbt_project"
DBT_BIN = Path(sys.executable).parent / "dbt"  # this interpreter's environment, activated or not
if not DBT_BIN.exists():
    DBT_BIN = Path(shutil.which("dbt") or "dbt")
ANCHOR = dt.date(2025, 3, 31)  # pinned: the sandbox's data depends on its anchor date


# ---------------------------------------------------------------------------------------- data


@dataclass
class SourceData:
    """API-shaped records per raw table name (the current truth the marts must reflect)."""

    tables: dict[str, list[dict]]
    # older versions of some records, loaded around the current ones to exercise staging's dedup
    stale_before: dict[str, list[dict]] = field(default_factory=dict)  # loaded earlier
    stale_after: dict[str, list[dict]] = field(default_factory=dict)  # loaded later, older updatedAt


def _ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(
    template: dict,
    entry_id: str,
    start: str,
    end: str | None,
    description: str,
    task_id: str | None = None,
    project_id: str | None = "keep",
) -> dict:
    e = copy.deepcopy(template)
    e.update(id=entry_id, description=description, taskId=task_id)
    if project_id != "keep":
        e["projectId"] = project_id
    e["timeInterval"] = {"start": start, "end": end, "duration": None}
    return e


def sandbox_source_data(seed: int = 7) -> SourceData:
    """Sandbox data (pinned anchor) plus hand-made edge cases for every rule of the contract."""
    from sandbox import SandboxConfig, generate_workspace
    from sandbox.clockify import rate_of

    ws = generate_workspace(SandboxConfig(seed=seed, anchor=ANCHOR, users=8, issues=160, days=60))
    tables = {
        "clockify_workspaces": copy.deepcopy(ws.clockify_workspaces),
        # as the load asks for them (memberships=WORKSPACE): with this workspace's membership
        "clockify_users": [
            {
                **copy.deepcopy(u),
                "memberships": [
                    {
                        "userId": u["id"],
                        "hourlyRate": rate_of(ws.clockify_member_rates.get(u["id"]), ws),
                        "targetId": ws.workspace_id,
                        "membershipType": "WORKSPACE",
                        "membershipStatus": ws.clockify_membership_status.get(u["id"], "ACTIVE"),
                    }
                ],
            }
            for u in ws.clockify_users
        ],
        "clockify_clients": copy.deepcopy(ws.clockify_clients),
        "clockify_projects": copy.deepcopy(ws.clockify_projects),
        "clockify_tasks": [copy.deepcopy(t) for ts in ws.clockify_tasks.values() for t in ts],
        "clockify_tags": copy.deepcopy(ws.clockify_tags),
        "clockify_time_entries": copy.deepcopy(ws.clockify_time_entries),
        "linear_users": copy.deepcopy(ws.linear_users),
        "linear_teams": copy.deepcopy(ws.linear_teams),
        "linear_cycles": copy.deepcopy(ws.linear_cycles),
        "linear_projects": copy.deepcopy(ws.linear_projects),
        "linear_workflow_states": copy.deepcopy(ws.linear_workflow_states),
        "linear_issues": copy.deepcopy(ws.linear_issues),
        "linear_customers": copy.deepcopy(ws.linear_customers),
        **history_tables(ws),
        "linear_labels": copy.deepcopy(ws.linear_labels),
        "linear_customer_needs": copy.deepcopy(ws.linear_customer_needs),
        **capacity_tables(ws),
    }
    _add_edge_cases(tables)
    data = SourceData(tables)
    _add_stale_versions(data)
    return data


def capacity_tables(ws) -> dict[str, list[dict]]:
    """The sandbox's capacity records as the Clockify client loads them: profiles with their userId, holidays, user groups,
    and the approved time-off requests only (the load asks for those)."""
    return {
        "clockify_member_profiles": [
            {**copy.deepcopy(p), "userId": uid} for uid, p in ws.clockify_member_profiles.items()
        ],
        "clockify_holidays": copy.deepcopy(ws.clockify_holidays),
        "clockify_user_groups": copy.deepcopy(ws.clockify_user_groups),
        "clockify_time_off_requests": [
            copy.deepcopy(r) for r in ws.clockify_time_off_requests if r["status"]["statusType"] == "APPROVED"
        ],
    }


def history_tables(ws) -> dict[str, list[dict]]:
    """The sandbox's issue history and state spans, as the Linear client stores them."""
    from sandbox import history

    out: dict[str, list[dict]] = {"linear_issue_history": [], "linear_issue_state_spans": []}
    for issue in ws.linear_issues:
        records, spans = history.api_records(ws, issue)
        out["linear_issue_history"] += records
        out["linear_issue_state_spans"] += spans
    return out


def _add_edge_cases(t: dict[str, list[dict]]) -> None:
    entries = t["clockify_time_entries"]
    template = next(e for e in entries if e["timeInterval"]["end"] and e.get("projectId"))
    issues = t["linear_issues"]
    with_cycle = next(i for i in issues if i.get("cycle"))
    team_id = with_cycle["team"]["id"]
    team_cycles = sorted((c for c in t["linear_cycles"] if c["team"]["id"] == team_id), key=lambda c: c["startsAt"])
    boundary = team_cycles[len(team_cycles) // 2]["endsAt"]  # a cycle's end == the next one's start
    boundary_dt = dt.datetime.fromisoformat(boundary.replace("Z", "+00:00"))
    moved = next(i for i in issues if i.get("previousIdentifiers"))
    a, b, c = issues[0]["identifier"], issues[1]["identifier"], issues[2]["identifier"]
    task = copy.deepcopy(t["clockify_tasks"][0])
    task.update(id="edgetask0000000000000001", name=f"{b}: task naming an issue", projectId=template["projectId"])
    t["clockify_tasks"].append(task)
    day = dt.datetime(2025, 3, 20, 9, 0)

    def at(hours: float) -> str:
        return _ts(day + dt.timedelta(hours=hours))

    entries += [
        _entry(template, "edge00000000000000000001", at(0), at(-1), f"{a} end before start"),
        _entry(template, "edge00000000000000000002", at(1), at(1), f"{a} zero duration"),
        _entry(
            template,
            "edge00000000000000000003",
            _ts(boundary_dt),
            _ts(boundary_dt + dt.timedelta(minutes=45)),
            f"[{with_cycle['identifier']}] starts exactly at a cycle boundary",
        ),
        _entry(
            template,
            "edge00000000000000000004",
            _ts(boundary_dt - dt.timedelta(minutes=30)),
            _ts(boundary_dt),
            f"{with_cycle['identifier'].lower()} ends exactly at a cycle boundary",
        ),
        _entry(template, "edge00000000000000000005", at(2), at(3.25), f"{moved['previousIdentifiers'][0]} old id"),
        _entry(template, "edge00000000000000000006", at(3.5), at(4), f"{a} description loses", task_id=task["id"]),
        _entry(template, "edge00000000000000000007", at(4), at(4.5), f"ABC-999 x{a} {a}x {a}-1-2 {b} {a}"),
        _entry(template, "edge00000000000000000008", at(5), at(5.75), f"[{b}][{a}]", project_id=None),
        _entry(template, "edge00000000000000000009", at(6), None, f"{a} running timer"),
        _entry(template, "edge00000000000000000010", at(7), at(7 + 1 / 3600), f"{a},{b} one second"),
        _entry(template, "edge00000000000000000011", at(14.5), at(16), "crosses UTC midnight, no id"),
        _entry(
            template,
            "edge00000000000000000012",
            "2024-06-03T10:00:00Z",
            "2024-06-03T12:30:00Z",
            f"{a} long before the first cycle",
        ),
        # The report's names with an entry of a user the user list no longer returns, on a (DONE) task no
        # task listing shows: the names and the task's issue link come from the entry itself.
        dict(
            _entry(
                template, "edge00000000000000000022", at(8), at(9.5), "no identifier here", "edgetaskunlisted00000001"
            ),
            userId="edge-user-no-longer-listed",
            userName="Gone Person",
            userEmail="gone@example.com",
            taskName=f"{c}: a DONE task no listing shows",
            projectName="Project as the report named it",
        ),
    ]
    used = {a, b, c, with_cycle["identifier"], moved["identifier"]}
    used = {a, b, with_cycle["identifier"], moved["identifier"]}
    _add_local_week_people(t, template)
    _add_duplicated_identifiers(t, template, [i for i in issues if i["identifier"] not in used], at)
    _add_overlapping_cycles(t, template, with_cycle, team_cycles)
    _add_writeback_links(t, template, [i for i in issues if i["identifier"] not in used][-3:], b, at)
    _add_rate_cases(t, template)


RATE_MONTH_USER = "edgeuser00000000000rates1"  # Auckland: a local 1 March that is 28 February in UTC
OTHER_WORKSPACE = "edgeworkspace00000000001"  # a workspace the list does not return: no rate, no currency


def _add_rate_cases(t: dict[str, list[dict]], template: dict) -> None:
    """Entries as the report or the main API may price them (sandbox/README.md "Rates"): a rate recorded
    with the entry that differs from today's (a rate changed since: it wins), a `rate` of 0 (a plan hiding
    rates: today's hierarchy prices it), the main API's `hourlyRate`, an `amount` in another unit (never
    used), a billable entry no level prices, and a local month that is not the UTC month."""
    entries = t["clockify_time_entries"]
    billable = sorted(
        (e for e in entries if e["billable"] and e["timeInterval"]["end"] and e.get("projectId")),
        key=lambda e: e["id"],
    )
    for e in billable[:3]:
        e.update(rate=7700, amount=round(7700 * 1.5))  # recorded at an older rate
    for e in billable[3:5]:
        e.update(rate=0, amount=0)  # the answer hid the rate
    billable[5]["hourlyRate"] = {"amount": 8800, "currency": "USD"}  # main-API shape with its rate
    billable[6].update(rate=6600, amount=12.34)  # amount in currency units: the rate still prices it
    user = copy.deepcopy(t["clockify_users"][0])
    user.update(id=RATE_MONTH_USER, name="Edge Auckland", email="auckland@example.com")
    user["settings"] = dict(user.get("settings") or {}, timeZone="Pacific/Auckland")
    t["clockify_users"].append(user)
    month_edge = _entry(template, "edgerate0000000000000001", "2025-02-28T20:00:00Z", "2025-02-28T22:00:00Z", "x")
    month_edge.update(userId=RATE_MONTH_USER, billable=True, description="1 March 09:00 in Auckland")
    unpriced = _entry(template, "edgerate0000000000000002", "2025-03-03T09:00:00Z", "2025-03-03T10:30:00Z", "x")
    unpriced.update(
        workspaceId=OTHER_WORKSPACE, userId=RATE_MONTH_USER, projectId=None, taskId=None, billable=True,
        description="billable, and no level has a rate",
    )  # fmt: skip
    entries += [month_edge, unpriced]


# Issue 17's case: a person in UTC-8 logs 40 hours in the local Monday-to-Friday week of 2025-02-17 (PST),
# 09:00-12:00, 12:30-16:00 and 16:30-18:00 local each day (the last one starts after midnight UTC, Friday's
# on Saturday UTC), plus a Sunday-evening hour the week before (Monday 04:00 UTC: the UTC week would count
# it in this one). A person in UTC+10 (Brisbane) starts Monday at 08:00 local, Sunday 22:00 UTC.
LOCAL_WEEK_USER = "edgeuser0000000000000la8"
LOCAL_WEEK_START = dt.date(2025, 2, 17)
LOCAL_WEEK_HOURS = 40.0
MONDAY_MORNING_USER = "edgeuser000000000000bne10"
NO_ZONE_USER = "edgeuser0000000000nozone"  # a profile without settings.timeZone: WAREHOUSE_TIMEZONE applies


def _add_local_week_people(t: dict[str, list[dict]], template: dict) -> None:
    users, entries = t["clockify_users"], t["clockify_time_entries"]
    pst = dt.timezone(dt.timedelta(hours=-8))  # no DST in February: PST is UTC-8 throughout
    aest = dt.timezone(dt.timedelta(hours=10))  # Brisbane: UTC+10 all year

    def person(user_id: str, name: str, zone: str | None) -> None:
        user = copy.deepcopy(users[0])
        user.update(id=user_id, name=name, email=f"{user_id}@example.com")
        user["settings"] = dict(user.get("settings") or {}, timeZone=zone)
        if zone is None:
            del user["settings"]["timeZone"]
        users.append(user)

    def local(day: dt.date, hour: float, zone: dt.timezone) -> dt.datetime:
        wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=hour)
        return wall.replace(tzinfo=zone).astimezone(dt.timezone.utc).replace(tzinfo=None)

    def entry(user_id: str, n: int, start: dt.datetime, end: dt.datetime, what: str) -> None:
        e = _entry(template, f"edgelocal{n:015d}", _ts(start), _ts(end), what)
        e["userId"] = user_id
        entries.append(e)

    person(LOCAL_WEEK_USER, "Edge Pacific", "America/Los_Angeles")
    person(MONDAY_MORNING_USER, "Edge Brisbane", "Australia/Brisbane")
    n = 0
    for weekday in range(5):
        day = LOCAL_WEEK_START + dt.timedelta(days=weekday)
        for begin, end in ((9, 12), (12.5, 16), (16.5, 18)):
            n += 1
            entry(LOCAL_WEEK_USER, n, local(day, begin, pst), local(day, end, pst), "local week, no id")
    sunday = LOCAL_WEEK_START - dt.timedelta(days=1)
    entry(LOCAL_WEEK_USER, 90, local(sunday, 20, pst), local(sunday, 21, pst), "Sunday evening, no id")
    entry(MONDAY_MORNING_USER, 91, local(LOCAL_WEEK_START, 8, aest), local(LOCAL_WEEK_START, 12, aest), "Monday")
    person(NO_ZONE_USER, "Edge Nozone", None)
    utc = dt.timezone.utc
    entry(NO_ZONE_USER, 92, local(LOCAL_WEEK_START, 20, utc), local(LOCAL_WEEK_START, 21, utc), "no zone")


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _add_duplicated_identifiers(t: dict[str, list[dict]], template: dict, free: list[dict], at) -> None:
    """Bad data: two issues claiming one identifier (README: the issue holding it as its current identifier
    wins, then the most recently updated). The claimants sit where list order would pick the wrong one."""
    issues, entries = t["linear_issues"], t["clockify_time_entries"]
    older, newer, current = free[0], free[1], free[2]
    teams = [team["id"] for team in t["linear_teams"]]

    def claimant(number: int, source: dict, updated: dt.datetime, identifier: str, previous: list[str]) -> dict:
        issue = copy.deepcopy(source)
        other_team = next(x for x in teams if x != source["team"]["id"])
        issue.update(
            id=f"edge-dup-issue-{number}",
            identifier=identifier,
            number=float(9000 + number),
            title=f"Bad data: claims {identifier or previous[0]}",
            previousIdentifiers=previous,
            updatedAt=updated.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            team={"id": other_team},  # so the wrong winner would move hours to another team
        )
        return issue

    # Two current holders: the older claimant comes last in the list, the newer one first.
    issues.append(claimant(1, older, _parse(older["updatedAt"]) - dt.timedelta(days=30), older["identifier"], []))
    issues.insert(0, claimant(2, newer, _parse(newer["updatedAt"]) + dt.timedelta(days=1), newer["identifier"], []))
    # Two previous holders of ZZP-1: the most recently updated wins, whatever the order.
    base = _parse(current["updatedAt"])
    issues.insert(0, claimant(3, current, base - dt.timedelta(days=5), "ZZQ-3", ["ZZP-1"]))
    issues.append(claimant(4, current, base - dt.timedelta(days=9), "ZZQ-4", ["zzp-1"]))
    # A previous identifier equal to another issue's current one: the current holder wins, even if older.
    issues.insert(0, claimant(5, current, base + dt.timedelta(days=3), "ZZQ-5", [current["identifier"]]))
    entries += [
        _entry(template, "edge00000000000000000013", at(17), at(17.5), f"{older['identifier']} older claimant"),
        _entry(template, "edge00000000000000000014", at(18), at(18.25), f"{newer['identifier']} newer claimant"),
        _entry(template, "edge00000000000000000015", at(19), at(19.75), "ZZP-1 previous id claimed twice"),
        _entry(template, "edge00000000000000000016", at(20), at(20.5), f"{current['identifier']} current wins"),
    ]


def _add_overlapping_cycles(t: dict[str, list[dict]], template: dict, issue: dict, team_cycles: list[dict]) -> None:
    """Bad data: a cycle overlapping two of its team's cycles (README: the later-starting one wins)."""
    assert len(team_cycles) >= 4, "the sandbox's teams need a few cycles for this case"
    first, second = team_cycles[len(team_cycles) // 2 - 2], team_cycles[len(team_cycles) // 2 - 1]
    week = dt.timedelta(days=7)
    overlapping = copy.deepcopy(first)
    overlapping.update(
        id="edge-overlapping-cycle",
        number=max(float(c["number"]) for c in team_cycles) + 1,
        name="Bad data: overlaps two cycles",
        startsAt=_ts(_parse(first["startsAt"]) + week),
        endsAt=_ts(_parse(second["startsAt"]) + week),
    )
    t["linear_cycles"].append(overlapping)  # last in the list: list order would always pick it
    in_first = _parse(first["startsAt"]) + dt.timedelta(days=10, hours=9)  # first and the overlap: overlap
    in_second = _parse(second["startsAt"]) + dt.timedelta(days=2, hours=9)  # overlap and second: second
    t["clockify_time_entries"] += [
        _entry(
            template,
            "edge00000000000000000017",
            _ts(in_first),
            _ts(in_first + dt.timedelta(hours=1)),
            f"{issue['identifier']} in the overlap, the overlapping cycle started later",
        ),
        _entry(
            template,
            "edge00000000000000000018",
            _ts(in_second),
            _ts(in_second + dt.timedelta(hours=2)),
            f"{issue['identifier']} in the overlap, the regular cycle started later",
        ),
    ]


def _add_writeback_links(t: dict[str, list[dict]], template: dict, targets: list[dict], named: str, at) -> None:
    """raw.clockify_issue_task_links rows, as write-back records them: a link beats any identifier in the text;
    a link to an issue the warehouse does not know is ignored; of two rows for one task the later wins."""
    linked, replaced, latest = targets
    workspace = template["workspaceId"]
    links = t.setdefault("clockify_issue_task_links", [])
    for n in (2, 3, 4):
        task = copy.deepcopy(t["clockify_tasks"][0])
        task.update(id=f"edgetask{n:016d}", name=f"Linked task {n}", projectId=template["projectId"])
        t["clockify_tasks"].append(task)

    def link(task: str, issue_id: str, identifier: str, updated: str) -> dict:
        return dict(
            task_id=task,
            issue_id=issue_id,
            issue_identifier=identifier,
            project_id=template["projectId"],
            workspace_id=workspace,
            task_name=f"{identifier}: linked",
            status="ACTIVE",
            linked_at="2025-03-01 08:00:00",
            updated_at=updated,
        )

    links += [
        link("edgetask0000000000000002", linked["id"], linked["identifier"], "2025-03-02 08:00:00"),
        link("edgetask0000000000000003", "issue-the-warehouse-never-saw", "GONE-1", "2025-03-02 08:00:00"),
        link("edgetask0000000000000004", latest["id"], latest["identifier"], "2025-03-05 08:00:00"),
        link("edgetask0000000000000004", replaced["id"], replaced["identifier"], "2025-03-03 08:00:00"),
    ]
    t["clockify_time_entries"] += [
        _entry(template, f"edge{n:020d}", at(h), at(h + 0.5), f"{named} {what}", f"edgetask{k:016d}")
        for n, h, what, k in ((19, 21, "but linked", 2), (20, 22, "link unknown", 3), (21, 23, "relinked", 4))
    ]


def _add_stale_versions(data: SourceData) -> None:
    t = data.tables
    before: dict[str, list[dict]] = {}
    # Clockify has no updatedAt: the latest load wins, so older versions are loaded first.
    old_entries = []
    for e in t["clockify_time_entries"][:40]:
        old = copy.deepcopy(e)
        old["description"] = "ZZZ-1 stale description"
        start = dt.datetime.fromisoformat(old["timeInterval"]["start"].replace("Z", "+00:00"))
        old["timeInterval"] = {
            "start": _ts(start - dt.timedelta(days=3)),
            "end": _ts(start - dt.timedelta(days=3, hours=-9)),
            "duration": None,
        }  # another partition, other hours
        old_entries.append(old)
    before["clockify_time_entries"] = old_entries
    before["clockify_users"] = [dict(u, name=u["name"] + " (old name)") for u in t["clockify_users"]]
    before["clockify_projects"] = [dict(p, name=p["name"] + " (old)") for p in t["clockify_projects"]]
    # Linear: the newest updatedAt wins even when an older version is loaded later (a late backfill).
    old_issues = []
    for i in t["linear_issues"][:30]:
        old = copy.deepcopy(i)
        old.update(identifier=f"OLD-{i['number']:.0f}", estimate=99.0, updatedAt="2020-01-01T00:00:00.000Z")
        old["team"] = {"id": "stale-team"}
        old_issues.append(old)
    data.stale_before = before
    data.stale_after = {"linear_issues": old_issues}


# ------------------------------------------------------------------------------------ raw loader


def _partition_sql(table: RawTable) -> str:
    if table.name == "clockify_time_entries":
        col = next(c for c in table.columns if c.name == "started_at")
    else:
        col = next(c for c in table.columns if c.name == "updated_at")
    return f"coalesce(cast({col.extract_sql('_raw')} as date), DATE '1970-01-01')"


def append_raw(con: duckdb.DuckDBPyConnection, tables: dict[str, list[dict]], loaded_at: dt.datetime) -> None:
    """Append one load of `tables` (API-shaped records) to the raw layer, typed per orchestration.warehouse.raw_tables."""
    by_name = {t.name: t for t in ALL_TABLES}
    con.execute("create schema if not exists raw")
    for name, records in tables.items():
        table = by_name[name]
        con.execute(table.create_sql())
        con.execute("create or replace temp table _load (_raw varchar)")
        if records:
            con.executemany("insert into _load values (?)", [[json.dumps(r)] for r in records])
        cols = [c.extract_sql("_raw") for c in table.columns]
        if table.partitioned:
            cols.append(_partition_sql(table))
        cols += ["cast(_raw as json)", "?"]
        con.execute(f"insert into {table.qualified_name} select {', '.join(cols)} from _load", [loaded_at])


def load_raw_direct(warehouse_path: Path, data: SourceData) -> None:
    """Default RAW_LOADER: appends every version (stale, current, late stale) as separate loads."""
    t0 = dt.datetime(2025, 4, 1, 6, 0)
    con = duckdb.connect(str(warehouse_path))
    try:
        for table in ALL_TABLES:  # every raw table exists, even if a load has no rows for it
            con.execute("create schema if not exists raw")
            con.execute(table.create_sql())
        append_raw(con, data.stale_before, t0)
        append_raw(con, {k: v for k, v in data.tables.items() if k != "clockify_issue_task_links"}, t0 + HOUR)
        append_raw(con, data.stale_after, t0 + 2 * HOUR)
        append_links(con, data.tables.get("clockify_issue_task_links", []))
    finally:
        con.close()


HOUR = dt.timedelta(hours=1)


def append_links(con: duckdb.DuckDBPyConnection, links: list[dict]) -> None:
    """Write-back's link rows, into the table write-back itself creates (orchestration/writeback.py)."""
    if not links:
        return
    from orchestration.writeback.links import LINKS_TABLE, ensure_links_table

    ensure_links_table(con)
    columns = list(links[0])
    con.executemany(
        f"insert into {LINKS_TABLE} ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
        [[link[c] for c in columns] for link in links],
    )


RAW_LOADER: Callable[[Path, SourceData], None] = load_raw_direct


# ------------------------------------------------------------------------------------------ dbt


@dataclass
class DbtRun:
    args: list[str]
    returncode: int
    output: str
    seconds: float
    run_results: dict | None


def run_dbt(args: list[str], warehouse_path: Path, work_dir: Path) -> DbtRun:
    """Run the dbt CLI on the project with its own target/log dirs (never the repo's target/)."""
    env = dict(os.environ, WAREHOUSE_PATH=str(warehouse_path), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    target = work_dir / "target"
    cmd = [
        str(DBT_BIN),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(work_dir / "logs"),
    ]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=DBT_PROJECT_DIR, capture_output=True, text=True)
    results_path = target / "run_results.json"
    run_results = json.loads(results_path.read_text()) if results_path.exists() else None
    return DbtRun(args, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start, run_results)


@dataclass
class BuiltWarehouse:
    path: Path
    data: SourceData
    build: DbtRun
    load_seconds: float

    def query(self, sql: str) -> list[dict]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            con.close()


@functools.lru_cache(maxsize=None)
def built_warehouse() -> BuiltWarehouse:
    """Sandbox data -> raw layer (RAW_LOADER) -> `dbt build`. Once per test session."""
    work_dir = Path(tempfile.mkdtemp(prefix="dbt_build_"))
    atexit.register(shutil.rmtree, work_dir, ignore_errors=True)
    path = work_dir / "warehouse.duckdb"
    data = sandbox_source_data()
    start = time.monotonic()
    RAW_LOADER(path, data)
    load_seconds = time.monotonic() - start
    build = run_dbt(["build"], path, work_dir)
    return BuiltWarehouse(path, data, build, load_seconds)


# ------------------------------------------------------------------- end to end through Dagster


def workspace_tables(ws) -> dict[str, list[dict]]:
    """A sandbox workspace's records, per raw table name (deep copies)."""
    names = [
        "clockify_workspaces",
        "clockify_users",
        "clockify_clients",
        "clockify_projects",
        "clockify_tags",
        "clockify_time_entries",
        "linear_users",
        "linear_teams",
        "linear_cycles",
        "linear_projects",
        "linear_workflow_states",
        "linear_issues",
        "linear_customers",
        "linear_labels",
        "linear_customer_needs",
    ]
    tables = {n: copy.deepcopy(getattr(ws, n)) for n in names}
    # as the load asks for them (memberships=WORKSPACE): with this workspace's membership
    for u in tables["clockify_users"]:
        u["memberships"] = [
            {
                "userId": u["id"],
                "targetId": ws.workspace_id,
                "membershipType": "WORKSPACE",
                "membershipStatus": ws.clockify_membership_status.get(u["id"], "ACTIVE"),
            }
        ]
    tables["clockify_tasks"] = [copy.deepcopy(t) for ts in ws.clockify_tasks.values() for t in ts]
    tables.update(history_tables(ws))
    tables.update(capacity_tables(ws))
    return tables


@functools.lru_cache(maxsize=None)
def built_warehouse_via_sync() -> BuiltWarehouse:
    """Sandbox API server -> the Dagster job (raw assets + dbt build) via orchestration.runs.run_sync.

    The marts are then compared with the same Python reference as the direct load. A few changes are
    made through the sandbox before the sync: an issue moves team (time logged under its old identifier
    must follow it) and a timer is left running.
    """
    from orchestration.runs import SyncError, run_sync
    from orchestration.settings import Settings
    from sandbox import Sandbox, SandboxConfig

    cfg = SandboxConfig(
        seed=5, anchor=dt.date(2024, 6, 28), users=5, teams=3, issues=80, days=21, projects=4, clients=2, tags=3
    )
    work_dir = Path(tempfile.mkdtemp(prefix="dbt_e2e_"))
    atexit.register(shutil.rmtree, work_dir, ignore_errors=True)
    path = work_dir / "warehouse.duckdb"
    saved = dict(os.environ)
    start = time.monotonic()
    try:
        with Sandbox(cfg) as sb:
            ws = sb.workspace
            with_entries = {e["description"].split()[0].upper() for e in ws.clockify_time_entries if e["description"]}
            issue = next(i for i in ws.linear_issues if i["identifier"] in with_entries)
            other_team = next(t for t in ws.linear_teams if t["id"] != issue["team"]["id"])
            ws.move_issue(issue["id"], other_team["key"])
            user = ws.clockify_users[0]["id"]
            ws.add_time_entry(
                user,
                dt.datetime(2024, 6, 27, 22, 0, tzinfo=dt.timezone.utc),
                None,
                description=f"{issue['identifier']} still running",
            )
            os.environ.update(sb.env())
            os.environ.update(
                WAREHOUSE_PATH=str(path),
                WAREHOUSE_START_DATE=cfg.start_date.isoformat(),
                DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            )
            os.environ.pop("DAGSTER_HOME", None)
            with recorded_dbt_invocations() as invocations:
                try:
                    run_sync(Settings.from_env(os.environ), cfg.start_date, cfg.anchor_date)
                    failure = ""
                except SyncError as error:  # dbt failing is reported through its return code below
                    failure = str(error)
            data = SourceData(workspace_tables(ws))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    seconds = time.monotonic() - start
    builds = [i for i in invocations if i.args[:1] == ["build"]]
    if len(builds) != 1:
        raise AssertionError(f"the sync ran {len(builds)} dbt builds, not 1: {failure or 'no error'}")
    return BuiltWarehouse(path, data, _dbt_run(builds[0], failure), seconds)


@dataclass
class _Invocation:
    args: list[str]
    invocation: object  # dagster_dbt's DbtCliInvocation


@contextlib.contextmanager
def recorded_dbt_invocations():
    """Every dbt CLI invocation the Dagster dbt assets make in this process, to read their real results."""
    from dagster_dbt import DbtCliResource

    seen: list[_Invocation] = []
    real_cli = DbtCliResource.cli

    def cli(self, args, *rest, **kwargs):
        invocation = real_cli(self, args, *rest, **kwargs)
        seen.append(_Invocation(list(args), invocation))
        return invocation

    DbtCliResource.cli = cli
    try:
        yield seen
    finally:
        DbtCliResource.cli = real_cli


def _dbt_run(recorded: _Invocation, failure: str) -> DbtRun:
    """The build as dbt itself reported it: its exit code and run_results.json."""
    invocation = recorded.invocation
    returncode = invocation.process.wait()
    results_path = Path(invocation.target_path) / "run_results.json"
    run_results = json.loads(results_path.read_text()) if results_path.exists() else None
    failed = [
        f"{r['unique_id']}: {r['status']} {r.get('message') or ''}"
        for r in (run_results or {}).get("results", [])
        if r["status"] not in ("success", "pass", "warn", "skipped")
    ]
    output = "\n".join([failure, *failed]).strip()
    seconds = float((run_results or {}).get("elapsed_time") or 0.0)
    return DbtRun(["dagster sync", *recorded.args], returncode, output, seconds, run_results)
