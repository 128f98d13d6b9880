"""Every mart against an independent plain-Python computation from the sandbox's own API records.

The reference below re-implements the contract (dbt_project/README.md) without SQL: Python's `re` with
real look-arounds for the identifier rule, datetime arithmetic for hours, a linear scan for cycles.
The warehouse comes from `built_warehouse()` (sandbox data -> raw loader -> dbt build); swapping the raw
loader (e.g. for the Dagster sync) does not change this file. An entry's duration is compared exactly (to the
microsecond), sums to 0.001 h. The per-mart checks (`MART_CHECKS`) also anchor the reliability suites
(tests/reliability.py: `assert_marts_match_oracle`).
"""

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

try:
    from tests import test_dbt_harness as harness
except ImportError:  # tests/ without __init__.py
    import test_dbt_harness as harness

built_warehouse, built_warehouse_via_sync = harness.built_warehouse, harness.built_warehouse_via_sync

WAREHOUSE_TIMEZONE = "UTC"  # the tests' default (no WAREHOUSE_TIMEZONE set)
TOL = 0.001  # hours, for sums (float noise of adding many entries)
SECONDS_TOL = 1e-6  # seconds, for one entry's duration: exact to the microsecond
ID_RULE = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]{0,6})-([0-9]{1,7})(?![A-Za-z0-9])", re.IGNORECASE | re.ASCII
)


def _dt(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.timezone.utc).replace(tzinfo=None)


@dataclass
class Entry:
    id: str
    user_id: str
    project_id: str | None
    billable: bool
    start: dt.datetime
    end: dt.datetime
    hours: float
    issue_id: str | None
    match_source: str | None
    team_id: str | None
    cycle_id: str | None
    local_start: dt.datetime  # wall clock in the user's zone (naive)

    @property
    def date(self) -> dt.date:  # UTC date (raw's partition day)
        return self.start.date()

    @property
    def local_date(self) -> dt.date:  # the person's calendar day: what day- and week-keyed marts count on
        return self.local_start.date()

    @property
    def local_week_start(self) -> dt.date:
        return self.local_date - dt.timedelta(days=self.local_date.weekday())


def user_zone(user: dict | None, default: str = WAREHOUSE_TIMEZONE) -> ZoneInfo:
    """The user's Clockify profile zone (settings.timeZone), else the warehouse's (also for an unknown name)."""
    name = ((user or {}).get("settings") or {}).get("timeZone")
    try:
        return ZoneInfo(name) if name else ZoneInfo(default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def to_local(start: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return start.replace(tzinfo=dt.timezone.utc).astimezone(zone).replace(tzinfo=None)


class Reference:
    """The contract, computed from API-shaped records."""

    def __init__(self, tables: dict[str, list[dict]]):
        self.issues = {i["id"]: i for i in tables["linear_issues"]}
        self.teams = {t["id"]: t for t in tables["linear_teams"]}
        self.cycles = {c["id"]: c for c in tables["linear_cycles"]}
        self.states = {s["id"]: s for s in tables["linear_workflow_states"]}
        self.users = {u["id"]: u for u in tables["clockify_users"]}
        tasks = {t["id"]: t["name"] for t in tables["clockify_tasks"]}
        # Write-back links (raw.clockify_issue_task_links rows): task id -> issue id. The latest row per task
        # wins (updated_at, then linked_at); a link to an issue the warehouse does not know is ignored.
        task_links: dict[str, str] = {}
        links = [l for l in tables.get("clockify_issue_task_links", []) if l["task_id"] and l["issue_id"]]
        for link in sorted(links, key=lambda l: (str(l["updated_at"]), str(l["linked_at"]))):
            task_links[link["task_id"]] = link["issue_id"]
        task_links = {t: i for t, i in task_links.items() if i in self.issues}
        # identifier -> issue. Should two issues claim one identifier (bad data), the README's rule: the issue
        # holding it as its current identifier wins, then the most recently updated (then the smaller id).
        claims: dict[str, list[tuple]] = defaultdict(list)
        for issue in self.issues.values():
            updated = _dt(issue.get("updatedAt")) or dt.datetime.min
            claims[issue["identifier"].upper()].append((True, updated, issue["id"]))
            for prev in issue.get("previousIdentifiers") or []:
                claims[prev.upper()].append((False, updated, issue["id"]))
        self.identifier_to_issue: dict[str, str] = {}
        for identifier, holders in claims.items():
            by_id = sorted(holders, key=lambda h: h[2])  # a stable sort keeps the smaller id first on ties
            self.identifier_to_issue[identifier] = sorted(by_id, key=lambda h: (h[0], h[1]), reverse=True)[0][2]
        cycles_by_team = defaultdict(list)
        for c in self.cycles.values():
            cycles_by_team[c["team"]["id"]].append(c)

        self.entries: list[Entry] = []
        for e in tables["clockify_time_entries"]:
            start, end = _dt(e["timeInterval"]["start"]), _dt(e["timeInterval"].get("end"))
            if start is None or end is None or end < start:  # running timer or bad interval: no hours
                continue
            issue_id = source = None
            if task_links.get(e.get("taskId") or ""):  # an explicit link beats any identifier in text
                issue_id, source = task_links[e["taskId"]], "link"
            texts = [("task", tasks.get(e.get("taskId") or "")), ("description", e.get("description"))]
            for name, text in texts if issue_id is None else ():
                for m in ID_RULE.finditer(text or ""):
                    found = self.identifier_to_issue.get(f"{m.group(1).upper()}-{m.group(2)}")
                    if found:
                        issue_id, source = found, name
                        break
                if issue_id:
                    break
            team_id = self.issues[issue_id]["team"]["id"] if issue_id else None
            # The cycle holding the start; should a team's cycles overlap (bad data), the later-starting one
            # (then the smaller id).
            holding = [c for c in cycles_by_team.get(team_id, []) if _dt(c["startsAt"]) <= start < _dt(c["endsAt"])]
            holding.sort(key=lambda c: c["id"])  # max() keeps the first of equal keys: the smaller id
            cycle_id = max(holding, key=lambda c: _dt(c["startsAt"]))["id"] if holding else None
            self.entries.append(
                Entry(
                    e["id"],
                    e["userId"],
                    e.get("projectId") or None,
                    bool(e.get("billable")),
                    start,
                    end,
                    (end - start).total_seconds() / 3600.0,
                    issue_id,
                    source,
                    team_id,
                    cycle_id,
                    to_local(start, user_zone(self.users.get(e["userId"]))),
                )
            )
        self.matched = [e for e in self.entries if e.issue_id]

    # ---- marts
    def hours_per_issue(self) -> dict:
        out: dict = {}
        for e in self.matched:
            row = out.setdefault(
                e.issue_id,
                dict(
                    hours=0.0,
                    billable_hours=0.0,
                    time_entry_count=0,
                    users=set(),
                    first_logged_at=e.start,
                    last_logged_at=e.end,
                ),
            )
            row["hours"] += e.hours
            row["billable_hours"] += e.hours if e.billable else 0.0
            row["time_entry_count"] += 1
            row["users"].add(e.user_id)
            row["first_logged_at"] = min(row["first_logged_at"], e.start)
            row["last_logged_at"] = max(row["last_logged_at"], e.end)
        for issue_id, row in out.items():
            issue = self.issues[issue_id]
            row["contributors"] = len(row.pop("users"))
            row["issue_identifier"] = issue["identifier"]
            row["team_key"] = self.teams[issue["team"]["id"]]["key"]
            row["state_type"] = self.states[issue["state"]["id"]]["type"]
            row["estimate"] = issue.get("estimate")
        return out

    def _group(self, entries, key) -> dict:
        out: dict = {}
        for e in entries:
            row = out.setdefault(key(e), dict(hours=0.0, billable_hours=0.0, matched_hours=0.0, issues=set()))
            row["hours"] += e.hours
            row["billable_hours"] += e.hours if e.billable else 0.0
            row["matched_hours"] += e.hours if e.issue_id else 0.0
            if e.issue_id:
                row["issues"].add(e.issue_id)
        return out

    def hours_per_team(self) -> dict:
        groups = self._group(self.matched, lambda e: e.team_id)
        return {
            t: dict(
                hours=groups.get(t, {}).get("hours", 0.0),
                billable_hours=groups.get(t, {}).get("billable_hours", 0.0),
                issue_count=len(groups.get(t, {}).get("issues", ())),
                team_key=self.teams[t]["key"],
            )
            for t in self.teams
        }

    def hours_per_cycle(self) -> dict:
        groups = self._group([e for e in self.matched if e.cycle_id], lambda e: e.cycle_id)
        return {
            c: dict(
                hours=groups.get(c, {}).get("hours", 0.0),
                issue_count=len(groups.get(c, {}).get("issues", ())),
                team_key=self.teams[self.cycles[c]["team"]["id"]]["key"],
                cycle_number=int(self.cycles[c]["number"]),
            )
            for c in self.cycles
        }

    def hours_per_person_week(self) -> dict:
        def week(e):  # the ISO week of the person's own calendar
            monday = e.local_week_start
            iso = monday.isocalendar()
            return (e.user_id, monday, f"{iso[0]:04d}-W{iso[1]:02d}")

        return self._group(self.entries, week)

    def unmatched_by(self, key) -> dict:
        return {
            k: dict(
                total_hours=v["hours"],
                unmatched_hours=v["hours"] - v["matched_hours"],
                unmatched_share=(v["hours"] - v["matched_hours"]) / v["hours"] if v["hours"] else None,
            )
            for k, v in self._group(self.entries, key).items()
        }

    # ---- Linear projects, labels, customers (issue 17 part 2)
    def _tally(self, entries) -> dict:
        return dict(
            hours=sum(e.hours for e in entries),
            billable_hours=sum(e.hours for e in entries if e.billable),
            issue_count=len({e.issue_id for e in entries}),
            time_entry_count=len(entries),
        )

    def hours_per_linear_project(self, tables: dict) -> dict:
        projects = {p["id"]: p for p in tables["linear_projects"]}
        users = {u["id"]: u for u in tables["linear_users"]}
        by_project = defaultdict(list)
        for e in self.matched:
            by_project[(self.issues[e.issue_id].get("project") or {}).get("id")].append(e)
        out = {}
        for pid in set(projects) | set(by_project):
            p = projects.get(pid, {})
            lead = (p.get("lead") or {}).get("id")
            out[pid] = self._tally(by_project.get(pid, [])) | dict(
                contributors=len({e.user_id for e in by_project.get(pid, [])}),
                project_name=p.get("name"),
                project_status=(p.get("status") or {}).get("type"),
                lead_id=lead,
                lead_name=users[lead]["name"] if lead in users else None,
                start_date=dt.date.fromisoformat(p["startDate"]) if p.get("startDate") else None,
                target_date=dt.date.fromisoformat(p["targetDate"]) if p.get("targetDate") else None,
                progress=p.get("progress"),
            )
        return out

    def hours_per_label(self, tables: dict) -> dict:
        labels = {x["id"]: x for x in tables["linear_labels"]}
        teams = {t["id"]: t["key"] for t in tables["linear_teams"]}
        by_label = defaultdict(list)
        for e in self.matched:
            for label_id in set(self.issues[e.issue_id].get("labelIds") or ()):
                by_label[label_id].append(e)
        out = {}
        for label_id in {i for i, x in labels.items() if not x["isGroup"]} | set(by_label):
            x = labels.get(label_id, {})
            parent = labels.get((x.get("parent") or {}).get("id"), {})
            out[("label", label_id)] = self._tally(by_label.get(label_id, [])) | dict(
                label_name=x.get("name"),
                label_group=parent.get("name"),
                team_key=teams.get((x.get("team") or {}).get("id")),
            )
        none = dict(label_name=None, label_group=None, team_key=None)
        out[("total", None)] = self._tally(self.matched) | none
        out[("no_label", None)] = (
            self._tally([e for e in self.matched if not self.issues[e.issue_id].get("labelIds")]) | none
        )
        return out

    def hours_per_customer(self, tables: dict) -> dict:
        customers = {c["id"]: c for c in tables["linear_customers"]}
        asked = defaultdict(set)  # issue -> customers with a need on it
        for need in tables["linear_customer_needs"]:
            if need.get("issue") and need.get("customer"):
                asked[need["issue"]["id"]].add(need["customer"]["id"])
        by_customer = defaultdict(list)
        for e in self.matched:
            for customer_id in asked.get(e.issue_id, ()):
                by_customer[customer_id].append(e)
        out = {
            ("customer", c): self._tally(by_customer.get(c, [])) | dict(customer_name=customers.get(c, {}).get("name"))
            for c in set(customers) | set(by_customer)
        }
        if out:
            out[("total", None)] = self._tally([e for e in self.matched if e.issue_id in asked]) | dict(
                customer_name=None
            )
        return out

    def estimate_vs_actual(self, per_issue_hours: dict, issue_key) -> dict:
        """per_issue_hours: {(group, issue_id): hours}; over issues that have time."""
        out: dict = {}
        for (group, issue_id), hours in per_issue_hours.items():
            row = out.setdefault(
                group,
                dict(
                    issues_with_time=0,
                    estimated_issue_count=0,
                    estimate_points=0.0,
                    estimated_issue_hours=0.0,
                    hours=0.0,
                ),
            )
            estimate = self.issues[issue_id].get("estimate")
            row["issues_with_time"] += 1
            row["hours"] += hours
            if estimate is not None:
                row["estimated_issue_count"] += 1
                row["estimate_points"] += estimate
                row["estimated_issue_hours"] += hours
        for row in out.values():
            p = row["estimate_points"]
            row["hours_per_estimate_point"] = row["estimated_issue_hours"] / p if p else None
        return out


# The raw-loading step is the only thing that differs between these: "direct" appends the sandbox's
# records (plus stale versions and hand-made edge cases) to raw and runs `dbt build`; "dagster_sync" serves
# the sandbox over HTTP and runs the real job (raw assets, then the dbt assets) through orchestration.runs.
LOADERS = {"direct": built_warehouse, "dagster_sync": built_warehouse_via_sync}


@pytest.fixture(scope="module", params=sorted(LOADERS))
def warehouse(request):
    w = LOADERS[request.param]()
    assert w.build.returncode == 0, w.build.output[-5000:]
    return w


@pytest.fixture(scope="module")
def direct_warehouse():
    return built_warehouse()


@pytest.fixture(scope="module")
def ref(warehouse) -> Reference:
    return Reference(warehouse.data.tables)


def _close(a, b, tol: float = TOL) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= tol


def _compare(actual: dict, expected: dict, fields: list[str], tolerance: dict[str, float] | None = None) -> None:
    assert set(actual) == set(expected), set(actual) ^ set(expected)
    bad = []
    for key, exp in expected.items():
        for f in fields:
            a, e = actual[key][f], exp[f]
            numeric = isinstance(e, (int, float)) or isinstance(a, (int, float))
            ok = _close(a, e, (tolerance or {}).get(f, TOL)) if numeric else a == e
            if not ok:
                bad.append((key, f, a, e))
    assert not bad, bad[:20]


# Every mart against the reference. `query(sql) -> [row dicts]` reads the warehouse under test; the reliability
# suites (tests/reliability.py) run the same checks on their clean runs.
Query = Callable[[str], list[dict]]


def check_fct_time_entries(query: Query, ref: Reference) -> None:
    rows = {r["time_entry_id"]: r for r in query("select * from marts.fct_time_entries")}
    for r in rows.values():
        r["seconds"] = r["hours"] * 3600.0
    expected = {
        e.id: dict(
            seconds=(e.end - e.start).total_seconds(),
            issue_id=e.issue_id,
            match_source=e.match_source,
            team_id=e.team_id,
            cycle_id=e.cycle_id,
            entry_date=e.date,
            local_started_at=e.local_start,
            local_date=e.local_date,
            local_week_start=e.local_week_start,
            local_week="%04d-W%02d" % e.local_date.isocalendar()[:2],
            user_id=e.user_id,
            project_id=e.project_id,
            billable=e.billable,
            started_at=e.start,
            ended_at=e.end,
        )
        for e in ref.entries
    }
    fields = list(next(iter(expected.values())))
    # An entry's duration is exact (whole seconds in, microseconds in the timestamps): a second off is wrong.
    _compare(rows, expected, fields, tolerance={"seconds": SECONDS_TOL})


def check_hours_per_issue(query: Query, ref: Reference) -> None:
    rows = {r["issue_id"]: r for r in query("select * from marts.hours_per_issue")}
    _compare(
        rows,
        ref.hours_per_issue(),
        [
            "hours",
            "billable_hours",
            "time_entry_count",
            "contributors",
            "first_logged_at",
            "last_logged_at",
            "issue_identifier",
            "team_key",
            "state_type",
            "estimate",
        ],
    )


def check_hours_per_team(query: Query, ref: Reference) -> None:
    rows = {r["team_id"]: r for r in query("select * from marts.hours_per_team")}
    _compare(rows, ref.hours_per_team(), ["hours", "billable_hours", "issue_count", "team_key"])
    assert sum(r["hours"] for r in rows.values()) == pytest.approx(sum(e.hours for e in ref.matched), abs=TOL)


def check_hours_per_cycle(query: Query, ref: Reference) -> None:
    rows = {r["cycle_id"]: r for r in query("select * from marts.hours_per_cycle")}
    _compare(rows, ref.hours_per_cycle(), ["hours", "issue_count", "team_key", "cycle_number"])


def check_hours_per_person_week(query: Query, ref: Reference) -> None:
    rows = {
        (r["user_id"], r["week_start"], r["year_week"]): r for r in query("select * from marts.hours_per_person_week")
    }
    _compare(rows, ref.hours_per_person_week(), ["hours", "billable_hours", "matched_hours"])


def check_unmatched_hours_by_project(query: Query, ref: Reference) -> None:
    rows = {r["project_id"]: r for r in query("select * from marts.unmatched_hours_by_project")}
    _compare(rows, ref.unmatched_by(lambda e: e.project_id), ["total_hours", "unmatched_hours", "unmatched_share"])


def check_unmatched_hours_by_person(query: Query, ref: Reference) -> None:
    rows = {r["user_id"]: r for r in query("select * from marts.unmatched_hours_by_person")}
    _compare(rows, ref.unmatched_by(lambda e: e.user_id), ["total_hours", "unmatched_hours", "unmatched_share"])


ESTIMATE_FIELDS = [
    "issues_with_time",
    "estimated_issue_count",
    "estimate_points",
    "estimated_issue_hours",
    "hours",
    "hours_per_estimate_point",
]
NO_TIME = dict.fromkeys(ESTIMATE_FIELDS, 0) | {"estimate_points": 0.0, "hours_per_estimate_point": None}


def check_estimate_vs_actual_by_team(query: Query, ref: Reference) -> None:
    per_issue = defaultdict(float)
    for e in ref.matched:
        per_issue[(e.team_id, e.issue_id)] += e.hours
    expected = ref.estimate_vs_actual(per_issue, None)
    for team_id in ref.teams:  # every team has a row, 0 without time
        expected.setdefault(team_id, dict(NO_TIME))
    rows = {r["team_id"]: r for r in query("select * from marts.estimate_vs_actual_by_team")}
    _compare(rows, expected, ESTIMATE_FIELDS)


def check_estimate_vs_actual_by_cycle(query: Query, ref: Reference) -> None:
    per_issue = defaultdict(float)
    for e in ref.matched:
        if e.cycle_id:
            per_issue[(e.cycle_id, e.issue_id)] += e.hours
    expected = ref.estimate_vs_actual(per_issue, None)
    for cycle_id in ref.cycles:
        expected.setdefault(cycle_id, dict(NO_TIME))
    rows = {r["cycle_id"]: r for r in query("select * from marts.estimate_vs_actual_by_cycle")}
    _compare(rows, expected, ESTIMATE_FIELDS)


TALLY = ["hours", "billable_hours", "issue_count", "time_entry_count"]


def check_hours_per_linear_project(query: Query, ref: Reference, tables: dict) -> None:
    rows = {r["linear_project_id"]: r for r in query("select * from marts.hours_per_linear_project")}
    expected = ref.hours_per_linear_project(tables)
    _compare(rows, expected, list(next(iter(expected.values()))))
    assert sum(r["hours"] for r in rows.values()) == pytest.approx(sum(e.hours for e in ref.matched), abs=TOL)


def check_hours_per_label(query: Query, ref: Reference, tables: dict) -> None:
    rows = {(r["row_kind"], r["label_id"]): r for r in query("select * from marts.hours_per_label")}
    _compare(rows, ref.hours_per_label(tables), [*TALLY, "label_name", "label_group", "team_key"])


def check_hours_per_customer(query: Query, ref: Reference, tables: dict) -> None:
    rows = {(r["row_kind"], r["customer_id"]): r for r in query("select * from marts.hours_per_customer")}
    _compare(rows, ref.hours_per_customer(tables), [*TALLY, "customer_name"])


# These also need the source tables (projects, labels, customers), not only the entries.
TABLE_MART_CHECKS = [check_hours_per_linear_project, check_hours_per_label, check_hours_per_customer]

MART_CHECKS = [
    check_fct_time_entries,
    check_hours_per_issue,
    check_hours_per_team,
    check_hours_per_cycle,
    check_hours_per_person_week,
    check_unmatched_hours_by_project,
    check_unmatched_hours_by_person,
    check_estimate_vs_actual_by_team,
    check_estimate_vs_actual_by_cycle,
]


def check_all_marts(query: Query, ref: Reference) -> None:
    """Every mart equals the reference (for suites that compare a whole warehouse at once)."""
    for check in MART_CHECKS:
        check(query, ref)


def test_reference_sees_the_edge_cases(direct_warehouse):
    """Guard against a vacuous comparison: the data exercises every rule."""
    ref = Reference(direct_warehouse.data.tables)
    assert {e.match_source for e in ref.entries} == {"link", "task", "description", None}
    assert any(e.hours == 0 for e in ref.entries)
    assert any(e.cycle_id for e in ref.entries) and any(e.issue_id and not e.cycle_id for e in ref.entries)
    assert len(ref.matched) > 100 and len(ref.entries) - len(ref.matched) > 100
    # the one-second entry: what an 0.001 h tolerance could not see
    assert any((e.end - e.start).total_seconds() == 1 for e in ref.entries)


@pytest.mark.parametrize("check", MART_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_mart_equals_the_reference(warehouse, ref, check):
    check(warehouse.query, ref)


@pytest.mark.parametrize("check", TABLE_MART_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_linear_mart_equals_the_reference(warehouse, ref, check):
    check(warehouse.query, ref, warehouse.data.tables)


def test_reference_sees_multi_label_and_multi_customer_issues(direct_warehouse):
    """Guard: the data has issues with two or more labels, without labels, a label group, issues two
    customers asked for, needs on a project only, projects with a lead and a target date; so the rules are
    exercised."""
    tables = direct_warehouse.data.tables
    ref = Reference(tables)
    matched_issues = {e.issue_id for e in ref.matched}
    assert any(len(ref.issues[i].get("labelIds") or ()) >= 2 for i in matched_issues)
    assert any(not ref.issues[i].get("labelIds") for i in matched_issues)
    assert any(x["isGroup"] for x in tables["linear_labels"]) and any(x.get("parent") for x in tables["linear_labels"])
    asked = defaultdict(set)
    for need in tables["linear_customer_needs"]:
        if need.get("issue"):
            asked[need["issue"]["id"]].add(need["customer"]["id"])
    assert any(len(asked[i]) >= 2 for i in matched_issues)
    assert any(need.get("issue") is None for need in tables["linear_customer_needs"])
    labels = ref.hours_per_label(tables)
    assert sum(v["hours"] for k, v in labels.items() if k[0] == "label") > labels[("total", None)]["hours"] + 1
    projects = ref.hours_per_linear_project(tables)
    assert any(v["target_date"] for v in projects.values()) and any(v["lead_id"] for v in projects.values())


def test_hours_summary(warehouse, ref):
    entries, matched = ref.entries, ref.matched
    total = sum(e.hours for e in entries)
    matched_hours = sum(e.hours for e in matched)
    per_issue = defaultdict(float)
    for e in matched:
        per_issue[e.issue_id] += e.hours
    estimated = {i: h for i, h in per_issue.items() if ref.issues[i].get("estimate") is not None}
    points = sum(ref.issues[i]["estimate"] for i in estimated)
    expected = dict(
        first_entry_date=min(e.date for e in entries),
        last_entry_date=max(e.date for e in entries),
        first_local_date=min(e.local_date for e in entries),
        last_local_date=max(e.local_date for e in entries),
        first_started_at=min(e.start for e in entries),
        last_started_at=max(e.start for e in entries),
        hours=total,
        matched_hours=matched_hours,
        unmatched_hours=total - matched_hours,
        matched_share=matched_hours / total if total else None,
        time_entry_count=len(entries),
        contributors=len({e.user_id for e in entries}),
        issue_count=len(per_issue),
        estimate_points=points,
        estimated_issue_hours=sum(estimated.values()),
        hours_per_estimate_point=sum(estimated.values()) / points if points else None,
    )
    (row,) = warehouse.query("select * from marts.hours_summary")
    _compare({"all": row}, {"all": expected}, list(expected))


def test_reference_sees_local_days_in_many_zones(direct_warehouse):
    """Guard for the local-day comparisons: people in UTC-8, UTC+5:30 and UTC+10 (and UTC+11), entries whose
    local date is before and after their UTC date, and a DST change (US, 9 March 2025) inside the range."""
    ref = Reference(direct_warehouse.data.tables)
    offsets = defaultdict(set)
    for e in ref.entries:
        offsets[e.user_id].add(e.local_start - e.start)
    hours = {round(o.total_seconds() / 3600, 2) for os_ in offsets.values() for o in os_}
    assert {-8.0, 5.5, 10.0} <= hours, hours
    assert any(len(o) == 2 for o in offsets.values())  # someone's offset changed within the range (DST)
    assert any(e.local_date < e.date for e in ref.entries) and any(e.local_date > e.date for e in ref.entries)
    assert any(e.local_week_start != e.date - dt.timedelta(days=e.date.weekday()) for e in ref.entries)


def test_a_person_in_utc_minus_8_sees_their_40_hour_week(direct_warehouse):
    """Issue 17: 40 hours logged Monday to Friday local time (UTC-8) are exactly 40 hours in that week of
    hours_per_person_week; the Sunday-evening hour before it stays in the week before. By UTC dates the
    week would hold 41 hours (the Sunday evening is Monday UTC), so this can fail."""
    user, week = harness.LOCAL_WEEK_USER, harness.LOCAL_WEEK_START
    rows = direct_warehouse.query(
        f"select week_start, hours, time_entry_count from marts.hours_per_person_week where user_id = '{user}'"
    )
    by_week = {r["week_start"]: r for r in rows}
    assert by_week[week]["hours"] == harness.LOCAL_WEEK_HOURS
    assert by_week[week]["time_entry_count"] == 15
    assert by_week[week - dt.timedelta(days=7)]["hours"] == 1.0
    (utc,) = direct_warehouse.query(
        f"select sum(hours) as h from marts.fct_time_entries where user_id = '{user}' "
        f"and date_trunc('week', entry_date) = DATE '{week}'"
    )
    assert utc["h"] == harness.LOCAL_WEEK_HOURS + 1
    days = direct_warehouse.query(
        f"select local_date, sum(hours) as h from marts.fct_time_entries where user_id = '{user}' group by 1"
    )
    assert {r["local_date"]: r["h"] for r in days} == {
        week - dt.timedelta(days=1): 1.0,
        **{week + dt.timedelta(days=d): 8.0 for d in range(5)},
    }
    (monday,) = direct_warehouse.query(
        "select local_date, local_week, entry_date from marts.fct_time_entries "
        f"where user_id = '{harness.MONDAY_MORNING_USER}'"
    )
    assert monday == {"local_date": week, "local_week": "2025-W08", "entry_date": week - dt.timedelta(days=1)}


def test_local_days_do_not_depend_on_the_session_or_machine_zone(direct_warehouse):
    """staging is a view: read it in a session set to another zone, the local times stay the profile's."""
    import duckdb

    ref = Reference(direct_warehouse.data.tables)
    con = duckdb.connect(str(direct_warehouse.path), read_only=True)
    try:
        con.execute("SET TimeZone = 'Pacific/Kiritimati'")  # UTC+14: any dependence would show
        rows = dict(
            con.execute("select time_entry_id, local_started_at from staging.stg_clockify__time_entries").fetchall()
        )
    finally:
        con.close()
    assert {e.id: rows[e.id] for e in ref.entries} == {e.id: e.local_start for e in ref.entries}


def test_warehouse_timezone_is_the_zone_of_users_without_one(direct_warehouse, tmp_path):
    """WAREHOUSE_TIMEZONE (the dbt var warehouse_timezone) moves only the days of users without a profile zone."""
    import json
    import shutil

    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(direct_warehouse.path, copy)
    run = harness.run_dbt(
        ["run", "-s", "stg_clockify__time_entries", "--vars", json.dumps({"warehouse_timezone": "Asia/Tokyo"})],
        copy,
        tmp_path,
    )
    assert run.returncode == 0, run.output[-3000:]
    sql = (
        "select user_id, time_zone, local_started_at - started_at as offset from staging.stg_clockify__time_entries "
        f"where user_id in ('{harness.NO_ZONE_USER}', '{harness.MONDAY_MORNING_USER}')"
    )
    before = {r["user_id"]: r for r in direct_warehouse.query(sql)}
    con = __import__("duckdb").connect(str(copy), read_only=True)
    try:
        after = {row[0]: row for row in con.execute(sql).fetchall()}
    finally:
        con.close()
    assert (before[harness.NO_ZONE_USER]["time_zone"], before[harness.NO_ZONE_USER]["offset"]) == (
        "UTC",
        dt.timedelta(0),
    )
    assert after[harness.NO_ZONE_USER][1:] == ("Asia/Tokyo", dt.timedelta(hours=9))
    assert after[harness.MONDAY_MORNING_USER][1:] == ("Australia/Brisbane", dt.timedelta(hours=10))


def test_edge_cases_land_where_the_contract_says(direct_warehouse):
    warehouse = direct_warehouse
    fct = {
        r["time_entry_id"]: r
        for r in warehouse.query("select * from marts.fct_time_entries where time_entry_id like 'edge%'")
    }
    assert "edge00000000000000000001" not in fct  # end before start: excluded
    assert "edge00000000000000000009" not in fct  # running timer: excluded
    assert fct["edge00000000000000000002"]["hours"] == 0  # zero duration counts 0
    at_boundary, before_boundary = fct["edge00000000000000000003"], fct["edge00000000000000000004"]
    assert at_boundary["cycle_number"] == before_boundary["cycle_number"] + 1  # start == ends_at -> next cycle
    assert fct["edge00000000000000000005"]["issue_identifier"] != fct["edge00000000000000000005"]["matched_identifier"]
    assert fct["edge00000000000000000006"]["match_source"] == "task"
    assert fct["edge00000000000000000008"]["project_id"] is None
    stg = warehouse.query(
        "select time_entry_id, is_running, is_valid_interval from staging.stg_clockify__time_entries "
        "where time_entry_id in ('edge00000000000000000001', 'edge00000000000000000009')"
    )
    assert {(r["time_entry_id"], r["is_running"], r["is_valid_interval"]) for r in stg} == {
        ("edge00000000000000000001", False, False),
        ("edge00000000000000000009", True, True),
    }


def test_bad_data_tie_breaks_follow_the_readme(direct_warehouse):
    """README "Marts: what every number means": of two issues claiming one identifier, the current holder wins,
    then the most recently updated; of overlapping cycles, the later-starting one; a write-back link beats
    the text, unless it names an issue the warehouse does not know; of two link rows for a task, the later.
    Expected values are spelt out from the harness's cases (tests/test_dbt_harness.py), not from the oracle."""
    tables = direct_warehouse.data.tables
    issues = {i["id"]: i for i in tables["linear_issues"]}
    fct = {
        r["time_entry_id"]: r
        for r in direct_warehouse.query("select * from marts.fct_time_entries where time_entry_id like 'edge%'")
    }
    entries = {e["id"]: e for e in tables["clockify_time_entries"] if e["id"].startswith("edge")}

    def named(entry_id: str) -> str:  # the identifier the entry's description starts with
        return entries[entry_id]["description"].split()[0].upper()

    def original_holder(identifier: str) -> str:  # the sandbox's issue with that identifier, not a claimant
        (issue_id,) = [i for i, issue in issues.items() if issue["identifier"] == identifier and "dup" not in i]
        return issue_id

    # Two current holders: the more recently updated wins, wherever it sits in the list.
    assert fct["edge00000000000000000013"]["issue_id"] == original_holder(named("edge00000000000000000013"))
    assert issues["edge-dup-issue-1"]["identifier"] == named("edge00000000000000000013")
    assert fct["edge00000000000000000014"]["issue_id"] == "edge-dup-issue-2"
    assert issues["edge-dup-issue-2"]["identifier"] == named("edge00000000000000000014")
    # Two previous holders: the more recently updated. A previous identifier never beats a current one.
    assert fct["edge00000000000000000015"]["issue_id"] == "edge-dup-issue-3"
    assert fct["edge00000000000000000016"]["issue_id"] == original_holder(named("edge00000000000000000016"))
    # The winner's team gets the hours (the losing claimants sit in other teams).
    for entry_id in ("edge00000000000000000013", "edge00000000000000000014"):
        assert fct[entry_id]["team_id"] == issues[fct[entry_id]["issue_id"]]["team"]["id"]

    cycles = {c["id"]: c for c in tables["linear_cycles"]}
    overlapping = cycles["edge-overlapping-cycle"]
    assert fct["edge00000000000000000017"]["cycle_id"] == "edge-overlapping-cycle"
    regular = cycles[fct["edge00000000000000000018"]["cycle_id"]]
    start = entries["edge00000000000000000018"]["timeInterval"]["start"]
    assert _dt(overlapping["startsAt"]) < _dt(regular["startsAt"]) <= _dt(start) < _dt(overlapping["endsAt"])

    links: dict[str, list[dict]] = {}
    for link in tables["clockify_issue_task_links"]:
        links.setdefault(link["task_id"], []).append(link)
    linked = fct["edge00000000000000000019"]
    assert (linked["match_source"], linked["issue_id"]) == ("link", links["edgetask0000000000000002"][0]["issue_id"])
    unknown = fct["edge00000000000000000020"]  # the link's issue is unknown: the description decides
    assert (unknown["match_source"], unknown["issue_identifier"]) == ("description", named("edge00000000000000000020"))
    relinked = fct["edge00000000000000000021"]
    latest = max(links["edgetask0000000000000004"], key=lambda l: l["updated_at"])
    assert (relinked["match_source"], relinked["issue_id"]) == ("link", latest["issue_id"])
    assert latest is not links["edgetask0000000000000004"][-1]  # the later row is not the last one loaded


def test_staging_keeps_latest_versions(direct_warehouse):
    """Older versions loaded before (Clockify) or after with an older updatedAt (Linear) never win."""
    warehouse = direct_warehouse
    ref = Reference(warehouse.data.tables)
    stale = warehouse.query(
        "select count(*) as n from staging.stg_linear__issues where issue_identifier like 'OLD-%' or estimate = 99"
    )
    assert stale[0]["n"] == 0
    stale = warehouse.query(
        "select count(*) as n from staging.stg_clockify__time_entries where description like 'ZZZ-1%'"
    )
    assert stale[0]["n"] == 0
    stale = warehouse.query("select count(*) as n from staging.stg_clockify__users where user_name like '%(old name)'")
    assert stale[0]["n"] == 0
    counts = warehouse.query(
        "select (select count(*) from staging.stg_clockify__time_entries) as entries, "
        "(select count(*) from staging.stg_linear__issues) as issues"
    )[0]
    assert counts == {"entries": len(warehouse.data.tables["clockify_time_entries"]), "issues": len(ref.issues)}
