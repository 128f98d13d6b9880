"""The HTML report: its numbers equal the figures computed from the marts, it is self-contained and
XSS-safe, and headless Chromium really draws its charts. Most tests use small hand-built marts (every
figure predictable); one renders the marts of a real `dbt build` (the dbt harness's warehouse, published)
and compares the report with the Python oracle.

Chromium is required (no skip): `apt-get install -y chromium` (Debian/Ubuntu), or set CHROMIUM to its path.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from orchestration.report.render import heat_class, write_report
from orchestration.warehouse.publish import publish_marts

XSS_TITLE = "<script>alert(1)</script>"
DERIVED_MARTS = (
    "hours_summary",
    "estimate_vs_actual_by_team",
    "estimate_vs_actual_by_cycle",
    "unmatched_hours_by_project",
    "unmatched_hours_by_person",
    "hours_per_person_week",
)
XSS_USER = '<img src=x onerror="alert(2)">'
AMP_PROJECT = 'R&D "Platform" <beta>'

# ------------------------------------------------------------------------------------------ data

T = dt.datetime
CYCLES = [  # team, number, starts, ends
    ("ENG", 1, T(2025, 1, 6), T(2025, 1, 20)),
    ("ENG", 2, T(2025, 1, 20), T(2025, 2, 3)),
    ("ENG", 3, T(2025, 2, 3), T(2025, 2, 17)),
    ("ENG", 4, T(2025, 3, 3), T(2025, 3, 17)),  # after the data: not shown
    ("DES", 1, T(2025, 1, 6), T(2025, 1, 20)),
    ("DES", 2, T(2025, 1, 20), T(2025, 2, 3)),  # in range, no time: shown as 0
    ("DES", 3, T(2025, 2, 3), T(2025, 2, 17)),
]
ISSUES = {  # id: identifier, title, team, state_type, estimate
    "i1": ("ENG-1", XSS_TITLE, "ENG", "started", 3.0),
    "i2": ("ENG-2", "Speed up invoice PDF", "ENG", "completed", 5.0),
    "i3": ("ENG-3", "Unestimated chore", "ENG", "backlog", None),
    "i4": ("DES-1", "New onboarding flow & <em>copy</em>", "DES", "started", 2.0),
    "i5": ("DES-2", "Icons", "DES", "completed", 1.0),
}
USERS = {"u1": "Ada Lovelace", "u2": XSS_USER, "u3": "Grace Hopper"}
PROJECTS = {"p1": ("Product", "Acme"), "p2": (AMP_PROJECT, None), None: (None, None)}
ENTRIES = [  # user, project, issue, start, hours
    ("u1", "p1", "i1", T(2025, 1, 8, 9), 3.5),
    ("u1", "p1", "i1", T(2025, 1, 22, 9), 2.25),  # ENG-1 in two cycles
    ("u2", "p1", "i2", T(2025, 1, 9, 10), 6.0),
    ("u2", "p1", "i2", T(2025, 2, 4, 10), 4.5),
    ("u3", "p2", "i3", T(2025, 2, 5, 13), 1.75),
    ("u3", "p2", "i4", T(2025, 1, 7, 8), 2.0),
    ("u1", "p2", "i5", T(2025, 2, 10, 8), 0.5),
    ("u1", "p2", "i4", T(2025, 2, 12, 8), 1.25),
    ("u1", "p1", None, T(2025, 1, 10, 15), 1.5),  # unmatched
    ("u2", None, None, T(2025, 2, 1, 15), 2.0),  # unmatched, no project
    ("u3", "p2", None, T(2025, 2, 14, 16), 0.75),  # unmatched
    ("u3", "p1", "i2", T(2025, 2, 20, 9), 1.0),  # matched, after every cycle of its team
]


def build_marts(path: Path) -> None:
    """A published marts file, made from the fixture warehouse by the real publish step."""
    warehouse = path.with_name("fixture-warehouse.duckdb")
    build_warehouse_marts(warehouse)
    publish_marts(warehouse, path)


def build_warehouse_marts(path: Path) -> None:
    """The marts the report reads, in schema `marts` as dbt builds them (plus a column it ignores)."""
    building = path.with_name("building.duckdb")  # in a file named marts.duckdb, `marts.x` is ambiguous
    con = duckdb.connect(str(building))
    try:
        con.execute("CREATE SCHEMA marts")
        con.execute("""CREATE TABLE marts.fct_time_entries (time_entry_id VARCHAR, user_id VARCHAR,
            user_name VARCHAR, project_id VARCHAR, project_name VARCHAR, client_name VARCHAR, task_id VARCHAR,
            task_name VARCHAR, description VARCHAR, billable BOOLEAN, started_at TIMESTAMP, ended_at TIMESTAMP,
            entry_date DATE, "hours" DOUBLE, issue_id VARCHAR, issue_identifier VARCHAR, match_source VARCHAR,
            extra_column VARCHAR)""")
        for n, (user, project, issue, start, hours) in enumerate(ENTRIES):
            name, client = PROJECTS[project]
            con.execute(
                "INSERT INTO marts.fct_time_entries VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, 'work', true, ?, ?, ?, ?,"
                " ?, ?, ?, 'x')",
                [
                    f"e{n}",
                    user,
                    USERS[user],
                    project,
                    name,
                    client,
                    start,
                    start + dt.timedelta(hours=hours),
                    start.date(),
                    hours,
                    issue,
                    ISSUES[issue][0] if issue else None,
                    "description" if issue else None,
                ],
            )
        con.execute("""CREATE TABLE marts.issues_src (issue_id VARCHAR, issue_identifier VARCHAR,
            issue_title VARCHAR, team_key VARCHAR, state_type VARCHAR, estimate DOUBLE)""")
        con.executemany("INSERT INTO marts.issues_src VALUES (?, ?, ?, ?, ?, ?)", [(k, *v) for k, v in ISSUES.items()])
        con.execute("""CREATE TABLE marts.hours_per_issue AS
            SELECT i.issue_id, i.issue_identifier, i.issue_title, i.team_key, i.state_type, i.estimate,
                   sum(e."hours") AS "hours", sum(e."hours") AS billable_hours, count(*) AS time_entry_count,
                   count(DISTINCT e.user_id) AS contributors, min(e.started_at) AS first_logged_at,
                   max(e.ended_at) AS last_logged_at
            FROM marts.fct_time_entries e JOIN marts.issues_src i USING (issue_id) GROUP BY ALL""")
        con.execute("""CREATE TABLE marts.cycles_src (team_key VARCHAR, cycle_number INTEGER,
            cycle_starts_at TIMESTAMP, cycle_ends_at TIMESTAMP)""")
        con.executemany("INSERT INTO marts.cycles_src VALUES (?, ?, ?, ?)", CYCLES)
        con.execute("""CREATE TABLE marts.hours_per_cycle AS
            SELECT c.team_key, c.cycle_number, c.cycle_starts_at, c.cycle_ends_at,
                   coalesce(sum(e."hours"), 0) AS "hours", count(DISTINCT e.issue_id) AS issue_count
            FROM marts.cycles_src c
            LEFT JOIN (SELECT e.*, i.team_key FROM marts.fct_time_entries e JOIN marts.issues_src i USING (issue_id)) e
              ON e.team_key = c.team_key AND c.cycle_starts_at <= e.started_at AND e.started_at < c.cycle_ends_at
            GROUP BY ALL""")
        con.execute("""CREATE TABLE marts.hours_per_team AS
            SELECT * FROM (VALUES ('ENG', 'Engineering'), ('DES', 'Design')) t(team_key, team_name)""")
        build_derived_marts(con)
        con.execute("DROP TABLE marts.issues_src")
        con.execute("DROP TABLE marts.cycles_src")
    finally:
        con.close()
    os.replace(building, path)


def build_derived_marts(con) -> None:
    """The marts the report reads that dbt derives from the ones above, as dbt defines them (the fixture's
    stand-in for a dbt build): totals, estimate vs actual by team and by cycle, unmatched shares."""
    con.execute("""CREATE TABLE marts.hours_summary AS
        SELECT min(entry_date) AS first_entry_date, max(entry_date) AS last_entry_date,
               min(entry_date) AS first_local_date, max(entry_date) AS last_local_date,
               min(started_at) AS first_started_at, max(started_at) AS last_started_at,
               coalesce(sum("hours"), 0) AS "hours",
               coalesce(sum("hours") FILTER (WHERE issue_id IS NOT NULL), 0) AS matched_hours,
               coalesce(sum("hours") FILTER (WHERE issue_id IS NULL), 0) AS unmatched_hours,
               sum("hours") FILTER (WHERE issue_id IS NOT NULL) / nullif(sum("hours"), 0) AS matched_share,
               count(*) AS time_entry_count, count(DISTINCT user_id) AS contributors,
               count(DISTINCT issue_id) AS issue_count,
               (SELECT sum("hours") FILTER (WHERE estimate IS NOT NULL) / nullif(sum(estimate), 0)
                FROM marts.hours_per_issue) AS hours_per_estimate_point
        FROM marts.fct_time_entries""")
    estimate_columns = """count(*) AS issues_with_time, count(estimate) AS estimated_issue_count,
        coalesce(sum(estimate), 0) AS estimate_points,
        coalesce(sum("hours") FILTER (WHERE estimate IS NOT NULL), 0) AS estimated_issue_hours,
        coalesce(sum("hours") FILTER (WHERE estimate IS NULL), 0) AS unestimated_issue_hours,
        coalesce(sum("hours"), 0) AS "hours",
        sum("hours") FILTER (WHERE estimate IS NOT NULL) / nullif(sum(estimate), 0) AS hours_per_estimate_point"""
    con.execute(f"""CREATE TABLE marts.estimate_vs_actual_by_team AS
        SELECT team_key, {estimate_columns} FROM marts.hours_per_issue GROUP BY team_key""")
    con.execute(f"""CREATE TABLE marts.estimate_vs_actual_by_cycle AS
        WITH in_cycle AS (
            SELECT c.team_key, c.cycle_number, c.cycle_starts_at, e.issue_id, i.estimate, e."hours"
            FROM marts.fct_time_entries e
            JOIN marts.issues_src i USING (issue_id)
            JOIN marts.cycles_src c
              ON c.team_key = i.team_key AND c.cycle_starts_at <= e.started_at AND e.started_at < c.cycle_ends_at
        ),
        per_issue AS (
            SELECT team_key, cycle_number, cycle_starts_at, issue_id, any_value(estimate) AS estimate,
                   sum("hours") AS "hours"
            FROM in_cycle GROUP BY ALL
        )
        SELECT team_key, cycle_number, cycle_starts_at, {estimate_columns} FROM per_issue GROUP BY ALL""")
    # The fixture's people are all in UTC: their local weeks are the UTC ones.
    con.execute("""CREATE TABLE marts.hours_per_person_week AS
        SELECT user_id, any_value(user_name) AS user_name, cast(date_trunc('week', entry_date) AS DATE) AS week_start,
               printf('%04d-W%02d', isoyear(any_value(entry_date)), weekofyear(any_value(entry_date))) AS year_week,
               sum("hours") AS "hours",
               coalesce(sum("hours") FILTER (WHERE issue_id IS NOT NULL), 0) AS matched_hours
        FROM marts.fct_time_entries GROUP BY user_id, week_start""")
    for mart, key, names in (
        ("unmatched_hours_by_project", "project_id", "any_value(project_name) AS project_name, "
         "any_value(client_name) AS client_name"),
        ("unmatched_hours_by_person", "user_id", "any_value(user_name) AS user_name"),
    ):  # fmt: skip
        con.execute(f"""CREATE TABLE marts.{mart} AS
            SELECT {key}, {names},
                   coalesce(sum("hours") FILTER (WHERE issue_id IS NULL), 0) AS unmatched_hours,
                   sum("hours") AS total_hours,
                   coalesce(sum("hours") FILTER (WHERE issue_id IS NULL), 0) / nullif(sum("hours"), 0)
                       AS unmatched_share
            FROM marts.fct_time_entries GROUP BY {key}""")


def expected_figures() -> dict:
    """The report's figures computed in plain Python from the fixture rows (independently of its SQL)."""

    def cycle_of(team, start):
        return next(((t, n) for t, n, s, e in CYCLES if t == team and s <= start < e), None)

    per_cycle, cycle_issues = defaultdict(float), defaultdict(set)
    per_issue = defaultdict(float)
    per_issue_cycle = defaultdict(float)
    for user, project, issue, start, hours in ENTRIES:
        if issue:
            per_issue[issue] += hours
            cyc = cycle_of(ISSUES[issue][2], start)
            if cyc:
                per_cycle[cyc] += hours
                cycle_issues[cyc].add(issue)
                per_issue_cycle[(cyc, issue)] += hours
    first = min(e[3] for e in ENTRIES)
    last = max(e[3] for e in ENTRIES)
    cycles = [
        (t, n, per_cycle[(t, n)], len(cycle_issues[(t, n)]))
        for t, n, s, e in CYCLES
        if per_cycle[(t, n)] > 0 or (s <= last and e > first)
    ]

    def est(rows):  # rows: (estimate, hours)
        points = sum(e for e, _ in rows if e is not None)
        est_h = sum(h for e, h in rows if e is not None)
        return points, est_h, (est_h / points if points else None), sum(hours for e, hours in rows if e is None)

    by_team = {
        team: est([(ISSUES[i][4], h) for i, h in per_issue.items() if ISSUES[i][2] == team]) for team in ("DES", "ENG")
    }
    by_cycle = {}
    for (cyc, issue), hours in per_issue_cycle.items():
        by_cycle.setdefault(cyc, []).append((ISSUES[issue][4], hours))
    by_cycle = {cyc: est(rows) for cyc, rows in by_cycle.items()}

    def unmatched(key_index, label):
        totals, unmatched_h = defaultdict(float), defaultdict(float)
        for entry in ENTRIES:
            totals[entry[key_index]] += entry[4]
            if entry[2] is None:
                unmatched_h[entry[key_index]] += entry[4]
        return {label(k): (unmatched_h[k], totals[k], unmatched_h[k] / totals[k]) for k in totals}

    total = sum(e[4] for e in ENTRIES)
    matched = sum(e[4] for e in ENTRIES if e[2])
    person_week = defaultdict(float)
    for user, _, _, start, hours in ENTRIES:
        iso = start.date().isocalendar()
        person_week[(USERS[user], f"{iso[0]:04d}-W{iso[1]:02d}")] += hours
    return dict(
        person_week=dict(person_week),
        cycles=cycles,
        by_team=by_team,
        by_cycle=by_cycle,
        top=sorted(per_issue.items(), key=lambda kv: (-kv[1], ISSUES[kv[0]][0])),
        by_project=unmatched(1, lambda k: PROJECTS[k][0] or "(no project)"),
        by_person=unmatched(0, lambda k: USERS[k]),
        total=total,
        matched_share=matched / total,
    )


def h(value: float) -> str:
    return f"{value:,.1f}"


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


# ---------------------------------------------------------------------------------------- parsing


class Tables(HTMLParser):
    """Text of every cell of every table with an id: {table_id: [[cell, ...], ...]} (body rows only)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._table = None
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "id" in attrs:
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table and self._in_body:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table and self._in_body:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def person_week_cells(page: str) -> dict[tuple[str, str], str]:
    """{(person, ISO week): hours shown} of the person-week table (empty cells left out)."""
    table = page[page.index('<table id="table-person-week">') :]
    table = table[: table.index("</table>")]
    weeks = re.findall(r'<th scope="col" class="num"><time datetime="[^"]*">([^<]*)</time>', table)
    rows = parse_tables(table + "</table>").tables["table-person-week"]
    return {
        (html.unescape(row[0]), week): cell for row in rows for week, cell in zip(weeks, row[1:], strict=True) if cell
    }


def parse_tables(page: str) -> Tables:
    parser = Tables()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("report")
    marts = directory / "marts.duckdb"  # the published name
    build_marts(marts)
    out = write_report(marts, directory / "out" / "report.html")
    return out, out.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------- html content


def test_numbers_equal_the_figures(report):
    _, page = report
    exp = expected_figures()
    parsed = parse_tables(page)
    t = parsed.tables

    assert [(r[0], r[1], r[3], r[4]) for r in t["table-cycles"]] == [
        (team, str(n), h(hours), str(issues))
        for team, n, hours, issues in sorted(exp["cycles"], key=lambda c: (c[0], c[1]))
    ]
    assert ("ENG", "4") not in [(r[0], r[1]) for r in t["table-cycles"]]  # future cycle left out
    assert ["DES", "2", "2025-01-20 – 2025-02-03", "0.0", "0"] in t["table-cycles"]  # idle cycle in range

    assert [r[:5] for r in t["table-estimate-team"]] == [
        [team, f"{points:,.0f}", h(est_h), h(ratio), h(unest)]
        for team, (points, est_h, ratio, unest) in sorted(exp["by_team"].items())
    ]
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in t["table-estimate-cycle"]] == [
        (team, str(n), f"{points:,.0f}", h(est_h), h(ratio) if ratio is not None else "–", h(unest))
        for (team, n), (points, est_h, ratio, unest) in sorted(exp["by_cycle"].items())
    ]
    # ENG-1 (3 points) was worked in ENG cycles 1 and 2: its points count in both.
    assert [r[2] for r in t["table-estimate-cycle"] if r[0] == "ENG" and r[1] in ("1", "2")] == ["8", "3"]

    assert [(r[0], r[1], r[4]) for r in t["table-top-issues"]] == [
        (ISSUES[i][0], ISSUES[i][1], h(hours)) for i, hours in exp["top"]
    ]

    assert {r[0]: (r[2], r[3], r[4]) for r in t["table-unmatched-project"]} == {
        k: (h(u), h(tot), pct(s)) for k, (u, tot, s) in exp["by_project"].items()
    }
    assert {r[0]: (r[1], r[2], r[3]) for r in t["table-unmatched-person"]} == {
        k: (h(u), h(tot), pct(s)) for k, (u, tot, s) in exp["by_person"].items()
    }
    unmatched_first = [r[2] for r in t["table-unmatched-project"]]
    assert unmatched_first == sorted(unmatched_first, key=float, reverse=True)

    assert re.search(r'id="kpi-total-hours">([^<]*)<', page).group(1) == h(exp["total"])
    assert re.search(r'id="kpi-matched-share">([^<]*)<', page).group(1) == pct(exp["matched_share"])
    assert person_week_cells(page) == {k: h(v) for k, v in exp["person_week"].items()}
    # title, data range, generation time
    assert "<h1>Where did our hours go?</h1>" in page
    assert "2025-01-07 – 2025-02-20" in page
    assert re.search(r"generated <strong><time datetime=\"\d{4}-\d\d-\d\d \d\d:\d\d UTC\">", page)


def test_self_contained_no_external_references(report):
    _, page = report
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(?:src|href|xlink:href|action)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert not re.search(r"url\s*\(|@import|@font-face", page, re.I)
    assert not re.search(r"<(?:script|link|img|iframe|object|embed)\b", page, re.I)
    assert "default-src 'none'" in page  # the CSP forbids any fetch, should something slip in


def test_every_section_is_closed_before_the_next_opens(report):
    """The flow section once ran into the person-weeks one (no `</section>`): a screen reader's landmarks
    and the page's outline nested every later section inside it."""
    _, page = report
    depth = 0
    for tag in re.findall(r"<(/?)section\b", page):
        depth += -1 if tag else 1
        assert depth in (0, 1), "a <section> opened inside another one"
    assert depth == 0


def test_user_text_is_escaped(report):
    _, page = report
    assert XSS_TITLE not in page and XSS_USER not in page
    assert html.escape(XSS_TITLE, quote=False) in page  # &lt;script&gt;alert(1)&lt;/script&gt;
    assert "&lt;img src=x onerror=" in page
    assert "New onboarding flow &amp; &lt;em&gt;copy&lt;/em&gt;" in page
    assert "R&amp;D &#34;Platform&#34; &lt;beta&gt;" in page
    t = parse_tables(page).tables
    assert t["table-top-issues"][0][:2] == ["ENG-2", "Speed up invoice PDF"]
    assert [r[1] for r in t["table-top-issues"] if r[0] == "ENG-1"] == [XSS_TITLE]  # shown as text


def test_empty_marts_still_render(tmp_path):
    marts = tmp_path / "marts.duckdb"
    build_marts(marts)
    con = duckdb.connect(str(marts))
    for table in ("fct_time_entries", "hours_per_issue", "hours_per_cycle", *DERIVED_MARTS):
        con.execute(f"DELETE FROM {table}")
    con.close()
    page = write_report(marts, tmp_path / "r.html").read_text()
    assert "No cycles with logged time." in page and "No issues with logged time." in page
    with pytest.raises(FileNotFoundError, match="sync"):
        write_report(tmp_path / "missing.duckdb", tmp_path / "x.html")


# ------------------------------------------------------------------------------------ in Chromium


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or next(
        (
            found
            for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
            if (found := shutil.which(name))
        ),
        None,
    )
    if not path or not os.access(path, os.X_OK):
        pytest.fail(
            "Chromium is needed to render the report and is not installed. Install it with\n"
            "    sudo apt-get update && sudo apt-get install -y chromium\n"
            "(Debian/Ubuntu; or set CHROMIUM=/path/to/chromium).",
            pytrace=False,
        )
    return path


class Chromium:
    """Headless Chromium driven through the DevTools protocol on a pipe (fds 3/4): no port, no network."""

    def __init__(self, profile: Path, timeout: float = 30.0):
        self.timeout = timeout
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def wire_pipes():  # in the child: its fd 3 reads our commands, fd 4 writes the answers
            a, b = os.dup(cmd_r), os.dup(res_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                chromium_path(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=wire_pipes,
            close_fds=False,
            start_new_session=True,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._next_id = 0
        self._buffer = b""

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" not in self._buffer:
                remaining = deadline - time.monotonic()
                ready, _, _ = select.select([self._res_r], [], [], max(remaining, 0))
                if not ready:
                    raise TimeoutError(f"Chromium did not answer {method} within {self.timeout} s")
                chunk = os.read(self._res_r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def open(self, path: Path, width: int = 1280, height: int = 900) -> str:
        """A new tab at a desktop size showing the file at `path`, loaded: its session id."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        self.send("Page.enable", {}, session)
        self.send("Page.navigate", {"url": path.as_uri()}, session)
        deadline = time.monotonic() + 20
        while self.evaluate(session, "document.readyState") != "complete":
            assert time.monotonic() < deadline, "the report did not finish loading"
            time.sleep(0.05)
        return session

    def evaluate(self, session: str, expression: str):
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the browser and its helpers: our own process group
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._res_r)
        self.proc.stderr.close()


# Each chart, its bars, and the screenshot pixel at the centre of every bar that has an area.
CHART_SCAN = """
(() => {
  const charts = [...document.querySelectorAll('svg.chart')].map(svg => {
    const box = svg.getBoundingClientRect();
    const bars = [...svg.querySelectorAll('rect.bar')].map(r => {
      const b = r.getBoundingClientRect();
      const style = getComputedStyle(r);
      return {x: b.x + scrollX, y: b.y + scrollY, w: b.width, h: b.height, fill: style.fill,
              visible: style.visibility === 'visible' && style.display !== 'none' && style.opacity !== '0'};
    });
    return {id: svg.id, declared: Number(svg.dataset.bars), w: box.width, h: box.height, bars,
            texts: svg.querySelectorAll('text').length};
  });
  return {charts, scripts: document.scripts.length, images: document.images.length,
          width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
          xss: [...document.querySelectorAll('#table-top-issues td.title-cell')].map(td => td.textContent)};
})()
"""

PIXEL_CHECK = """
(async () => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + %s;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const bars = %s;
  return bars.map(b => Array.from(ctx.getImageData(Math.floor(b.cx), Math.floor(b.cy), 1, 1).data));
})()
"""


def rgb(css: str) -> tuple[int, int, int]:
    numbers = [int(x) for x in re.findall(r"\d+", css)[:3]]
    return tuple(numbers) if len(numbers) == 3 else (-999, -999, -999)  # e.g. fill "none"


def test_report_renders_in_chromium(report, tmp_path):
    path, _ = report
    browser = Chromium(tmp_path / "profile")
    try:
        session = browser.open(path)
        scan = browser.evaluate(session, CHART_SCAN)
        shot = browser.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": scan["width"], "height": scan["height"], "scale": 1},
            },
            session,
        )["data"]
        (tmp_path / "report.png").write_bytes(base64.b64decode(shot))  # for a human look
        drawn = [b for c in scan["charts"] for b in c["bars"] if b["w"] >= 2 and b["h"] >= 2]
        centres = [{"cx": b["x"] + b["w"] / 2, "cy": b["y"] + b["h"] / 2} for b in drawn]
        pixels = browser.evaluate(session, PIXEL_CHECK % (json.dumps(shot), json.dumps(centres)))
    finally:
        browser.close()

    assert scan["scripts"] == 0 and scan["images"] == 0  # the escaped <script>/<img> stayed text
    assert XSS_TITLE in scan["xss"]
    assert scan["width"] <= 1280  # no horizontal overflow

    exp = expected_figures()
    charts = {c["id"]: c for c in scan["charts"]}
    expected_bars = {
        "chart-cycles-0": 3,  # ENG cycles 1-3 (4 is after the data)
        "chart-cycles-1": 3,  # DES cycles 1-3 (2 has no time: a zero bar)
        "chart-estimate-team": 2,
        "chart-estimate-cycle": len(exp["by_cycle"]),
        "chart-top-issues": len(ISSUES),
        "chart-unmatched-project": len(PROJECTS),
        "chart-unmatched-person": len(USERS),
    }
    assert {k: len(charts[k]["bars"]) for k in expected_bars} == expected_bars
    for chart in charts.values():
        assert chart["declared"] == len(chart["bars"])
        assert chart["w"] > 300 and chart["h"] > 60, chart["id"]  # laid out at a readable size
        assert all(b["visible"] for b in chart["bars"]), chart["id"]
        assert chart["texts"] >= len(chart["bars"]), chart["id"]  # labels and values are drawn

    nonzero = sum(1 for c in scan["charts"] for b in c["bars"] if b["w"] >= 2 and b["h"] >= 2)
    assert nonzero == len(drawn) and nonzero >= sum(expected_bars.values()) - 1  # only DES cycle 2 is 0
    # The screenshot has each bar's own colour at its centre: the charts were really painted.
    wrong = [(b, p) for b, p in zip(drawn, pixels) if max(abs(a - e) for a, e in zip(p[:3], rgb(b["fill"]))) > 8]
    assert not wrong, wrong[:3]
    assert len({rgb(b["fill"]) for b in drawn}) == 2  # hours bars and unmatched-share bars differ


def test_run_report_publishes_missing_marts_then_writes(tmp_path, monkeypatch):
    from orchestration.report.render import run_report
    from orchestration.settings import Settings

    warehouse = tmp_path / "warehouse.duckdb"
    build_warehouse_marts(warehouse)  # the warehouse has marts, nothing was published yet
    settings = Settings.from_env({"WAREHOUSE_PATH": str(warehouse)})  # no MARTS_PATH: beside the warehouse
    out = run_report(settings, tmp_path / "site" / "report.html")
    assert (tmp_path / "marts.duckdb").exists()
    page = out.read_text()
    assert re.search(r'id="kpi-total-hours">([^<]*)<', page).group(1) == h(expected_figures()["total"])
    assert "marts published" in page


# ------------------------------------------------------------------------------ from a real dbt build


@pytest.fixture(scope="module")
def built_report(tmp_path_factory):
    """The report of the dbt harness's warehouse (sandbox data and its edge cases -> raw -> `dbt build`),
    published by the real publish step, and the Python oracle over the same records."""
    from tests.test_dbt_harness import built_warehouse
    from tests.test_marts_vs_python import Reference

    warehouse = built_warehouse()
    assert warehouse.build.returncode == 0, warehouse.build.output[-3000:]
    directory = tmp_path_factory.mktemp("built-report")
    published = publish_marts(warehouse.path, directory / "marts.duckdb")
    page = write_report(published.path, directory / "report.html").read_text(encoding="utf-8")
    return page, Reference(warehouse.data.tables), warehouse.data.tables


def test_report_of_a_real_build_equals_the_oracle(built_report):
    """Not hand-built marts: every figure of the report from `dbt build`'s marts, against the oracle."""
    from orchestration.report.figures import TOP_ISSUES

    page, ref, tables = built_report
    t = parse_tables(page).tables
    total = sum(e.hours for e in ref.entries)
    assert re.search(r'id="kpi-total-hours">([^<]*)<', page).group(1) == h(total)
    matched_share = sum(e.hours for e in ref.matched) / total
    assert re.search(r'id="kpi-matched-share">([^<]*)<', page).group(1) == pct(matched_share)

    # Hours per team per cycle: every cycle with time (the bad-data overlapping cycle included).
    with_time = {
        (c["team_key"], str(c["cycle_number"]), h(c["hours"]), str(c["issue_count"]))
        for c in ref.hours_per_cycle().values()
        if c["hours"] > 0
    }
    shown = {(r[0], r[1], r[3], r[4]) for r in t["table-cycles"]}
    assert with_time <= shown and len(with_time) > 5
    assert all(r[3] == "0.0" for r in t["table-cycles"] if (r[0], r[1], r[3], r[4]) not in with_time)
    overlapping = next(c for c in tables["linear_cycles"] if c["id"] == "edge-overlapping-cycle")
    assert str(int(overlapping["number"])) in {r[1] for r in t["table-cycles"]}

    # Top issues: the oracle's hours per issue, largest first (display precision).
    per_issue = ref.hours_per_issue()
    expected = sorted(((row["issue_identifier"], row["hours"]) for row in per_issue.values()), key=lambda x: -x[1])
    rows = [(r[0], r[4]) for r in t["table-top-issues"]]
    assert len(rows) == min(TOP_ISSUES, len(expected))
    assert set(rows) <= {(ident, h(hours)) for ident, hours in expected}
    assert [float(hours.replace(",", "")) for _, hours in rows] == sorted(
        (float(hours.replace(",", "")) for _, hours in rows), reverse=True
    )
    if len(expected) > len(rows):  # nothing larger left out
        assert float(rows[-1][1].replace(",", "")) >= round(expected[len(rows)][1], 1) - 0.05

    # Estimate vs actual by team, over the issues with time.
    by_team = defaultdict(list)
    for row in per_issue.values():
        by_team[row["team_key"]].append((row["estimate"], row["hours"]))
    for team, values in by_team.items():
        points = sum(e for e, _ in values if e is not None)
        estimated = sum(hours for e, hours in values if e is not None)
        unestimated = sum(hours for e, hours in values if e is None)
        ratio = h(estimated / points) if points else "–"
        row = [team, f"{points:,.0f}", h(estimated), ratio, h(unestimated)]
        assert row in [r[:5] for r in t["table-estimate-team"]], row
    assert len(t["table-estimate-team"]) == len(by_team)

    # Unmatched share per person.
    expected_people = {
        (ref.person_name(user) or user): (h(v["unmatched_hours"]), h(v["total_hours"]), pct(v["unmatched_share"]))
        for user, v in ref.unmatched_by(lambda e: e.user_id).items()
    }
    assert {r[0]: (r[1], r[2], r[3]) for r in t["table-unmatched-person"]} == expected_people


def test_report_billing_section_of_a_real_build_equals_the_oracle(built_report):
    """Billable hours by client: the oracle's billable_by_client summed per client and currency, largest
    amount first; without the mart published the section says so."""
    page, ref, tables = built_report
    per_client = defaultdict(lambda: [None, 0.0, 0.0, 0.0, 0.0])
    for (_, _, _), v in ref.billable_by_client(tables).items():
        row = per_client[(v["client_id"], v["currency"])]
        row[0] = max(filter(None, [row[0], v["client_name"]]), default=None)
        row[1] += v["billable_hours"]
        row[2] += v["non_billable_hours"]
        row[3] += v["billable_amount"]
        row[4] += v["billable_hours_without_rate"]
    expected = sorted(per_client.items(), key=lambda kv: (-kv[1][3], -kv[1][1]))
    shown = parse_tables(page).tables["table-billing-client"]
    assert [r[3] for r in shown] == [f"{v[3]:,.2f}" for _, v in expected]  # largest amount first
    assert {(r[0], r[1], r[2], r[3], r[4], r[5]) for r in shown} == {
        (v[0] or "No client", h(v[1]), h(v[2]), f"{v[3]:,.2f}", currency or "", h(v[4]))
        for (_, currency), v in expected
    }
    assert any(float(r[3].replace(",", "")) > 0 for r in shown) and any(r[0] == "No client" for r in shown)


def test_report_without_the_billing_mart_says_so(tmp_path):
    marts = tmp_path / "marts.duckdb"
    build_marts(marts)  # the hand-built marts have no billable_by_client
    page = write_report(marts, tmp_path / "r.html").read_text()
    assert "The billing mart is not published yet: run a sync." in page and "table-billing-client" not in page


def test_report_flow_section_of_a_real_build_equals_the_oracle(built_report):
    """The flow section (issue 16): hours by state per team, cycle time against hours, and each cycle's
    planned / added / outside / carried-over hours, from `dbt build`'s marts, against the Python oracle."""
    from tests.test_marts_vs_python import FlowReference

    page, ref, tables = built_report
    flow = FlowReference(ref, tables)
    t = parse_tables(page).tables
    by_state = defaultdict(float)
    for (issue_id, _state, state_type), row in flow.hours_per_issue_state().items():
        by_state[(ref.teams[ref.issues[issue_id]["team"]["id"]]["key"], state_type)] += row["hours"]
    assert {(r[0], r[1]): r[2] for r in t["table-flow-state"]} == {k: h(v) for k, v in by_state.items()}
    assert len({r[1] for r in t["table-flow-state"]}) >= 4  # several states, not one bucket

    issue_rows = {ref.issues[i]["identifier"]: r for i, r in flow.issue_flow().items()}
    assert t["table-flow-cycle-time"]
    for r in t["table-flow-cycle-time"]:
        exp = issue_rows[r[0]]
        assert [r[2], r[4]] == [f"{exp['cycle_time_days']:,.1f}", h(exp["hours"])], r

    scope = flow.cycle_scope()
    by_label = defaultdict(list)
    for c, v in scope.items():
        by_label[ref.teams[ref.cycles[c]["team"]["id"]]["key"] + f" C{int(ref.cycles[c]['number'])}"].append(v)
    by_label = {k: v[0] for k, v in by_label.items() if len(v) == 1}  # the bad-data overlapping cycle shares one
    assert len(t["table-flow-scope"]) > 5
    for r in [r for r in t["table-flow-scope"] if r[0] in by_label]:
        exp = by_label[r[0]]
        assert r[1:] == [
            h(exp[k]) for k in ("planned_hours", "added_hours", "outside_hours", "carried_over_hours", "hours")
        ]
    assert "chart-flow-state" in page and "chart-flow-cycle-time" in page and "chart-flow-scope" in page


def test_flow_charts_render_in_chromium(built_report, tmp_path):
    """The flow section's charts (from a real build) are laid out and drawn beside their tables: one bar per
    table row, visible, with their labels and values."""
    page, _ref, _tables = built_report
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    browser = Chromium(tmp_path / "profile")
    try:
        session = browser.open(path)
        scan = browser.evaluate(session, CHART_SCAN)
    finally:
        browser.close()
    charts = {c["id"]: c for c in scan["charts"]}
    t = parse_tables(page).tables
    rows = {"chart-flow-state": "table-flow-state", "chart-flow-cycle-time": "table-flow-cycle-time"}
    rows["chart-flow-scope"] = "table-flow-scope"
    for chart_id, table_id in rows.items():
        chart = charts[chart_id]
        assert len(chart["bars"]) == chart["declared"] == len(t[table_id]) > 0, chart_id
        assert chart["w"] > 300 and chart["h"] > 60, chart_id
        assert all(b["visible"] for b in chart["bars"]), chart_id
        assert chart["texts"] >= len(chart["bars"]), chart_id
        assert sum(1 for b in chart["bars"] if b["w"] >= 2) >= len(chart["bars"]) // 2, chart_id
    assert scan["width"] <= 1280


def test_report_person_weeks_are_local_weeks(built_report):
    """Issue 17: the person in UTC-8 who logged 40 hours in a local Monday-to-Friday week sees 40.0 in that
    week (by UTC weeks it would show 41.0); every cell shown equals the oracle's local-week hours."""
    from tests import test_dbt_harness as harness

    page, ref, tables = built_report
    cells = person_week_cells(page)
    assert cells[("Edge Pacific", "2025-W08")] == "40.0"
    expected = {
        (ref.person_name(user) or user, week): v["hours"] for (user, _, week), v in ref.hours_per_person_week().items()
    }
    shown_weeks = {week for _, week in cells}
    assert shown_weeks == set(sorted({week for _, week in expected})[-12:]) and "2025-W08" in shown_weeks
    shown = {k: v for k, v in expected.items() if k[1] in shown_weeks}
    assert set(cells) == set(shown)
    # display precision: 0.1 h, rounded from the mart's sum (which may sit a float's width from the oracle's)
    assert all(abs(float(cells[k].replace(",", "")) - v) <= 0.05 + 1e-6 for k, v in shown.items())
    assert harness.LOCAL_WEEK_START.isoformat() in page


# ------------------------------------------------------- capacity (issue 17 part 3), from a real build


def heat_cells(page: str) -> dict[tuple[str, str], tuple[str, str]]:
    """{(person, ISO week): (class, text)} of the utilisation table (empty cells left out)."""
    table = page[page.index('<table id="table-utilisation"') :]
    table = table[: table.index("</table>")]
    weeks = re.findall(r'<th scope="col" class="num"><time datetime="[^"]*">([^<]*)</time>', table)
    out = {}
    for row in re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", table):
        cells = re.findall(r'<td class="num ?([^"]*)"(?: title="[^"]*")?>([^<]*)</td>', row[1])
        for week, (cls, text) in zip(weeks, cells, strict=True):
            if text:
                out[(html.unescape(row[0]), week)] = (cls, text)
    return out


def _expected(ref, tables):
    rows = ref.capacity_per_person_week(tables)
    return {(ref.person_name(user) or user, v["year_week"]): v for (user, _week), v in rows.items()}


def test_utilisation_heat_map_equals_the_oracle(built_report):
    page, ref, tables = built_report
    cells = heat_cells(page)
    expected = _expected(ref, tables)
    weeks = sorted({week for _, week in expected})[-12:]
    shown = {k: v for k, v in expected.items() if k[1] in weeks}
    assert set(cells) == set(shown) and len(cells) > 20
    for key, row in shown.items():
        u = row["utilisation"]
        assert cells[key] == (heat_class(u), pct(u) if u is not None else "no capacity"), key
    assert len({cls for cls, _ in cells.values()}) >= 3  # the map tells weeks apart
    # The person in UTC-8 with 40 hours in a local Monday-Friday week: 40 logged hours in that week, against
    # that week's capacity (edge case of the harness; hours_per_person_week shows the same 40.0).
    pacific = expected[("Edge Pacific", "2025-W08")]
    assert abs(pacific["logged_hours"] - 40.0) < 1e-9 and pacific["expected_hours"] == 40.0
    assert abs(pacific["utilisation"] - 40.0 / pacific["capacity_hours"]) < 1e-9


def _team_shares(ref, tables) -> dict[tuple[str, str], float]:
    sums: dict = defaultdict(lambda: [0.0, 0.0])
    for v in ref.capacity_per_person_week(tables).values():
        if v["team_id"]:
            key = (ref.teams[v["team_id"]]["key"], v["year_week"])
            sums[key][0] += v["matched_hours"]
            sums[key][1] += v["logged_hours"]
    return {k: m / l for k, (m, l) in sums.items() if l > 0}


def test_matched_share_line_per_team_equals_the_oracle(built_report):
    page, ref, tables = built_report
    svg = page[page.index('<svg class="chart" id="chart-matched-share"') :]
    svg = svg[: svg.index("</svg>")]
    points = {
        (html.unescape(team), week): value
        for team, week, value in re.findall(r"<title>([^<,]+), ([0-9W-]+): ([^<]+)</title>", svg)
    }
    expected = _team_shares(ref, tables)
    assert points == {k: pct(v) for k, v in expected.items()}
    assert len({team for team, _ in points}) >= 2


LINE_SCAN = """
(() => {
  const svg = document.querySelector('#chart-matched-share');
  const box = svg.getBoundingClientRect();
  const seen = el => { const s = getComputedStyle(el); return s.visibility === 'visible' && s.display !== 'none'; };
  const lines = [...svg.querySelectorAll('line[class*="series-line-"]')].map(l => {
    const b = l.getBoundingClientRect(); const s = getComputedStyle(l);
    return {w: b.width, h: b.height, stroke: s.stroke, width: s.strokeWidth, visible: seen(l)};
  });
  const dots = [...svg.querySelectorAll('rect.dot')].map(r => {
    const b = r.getBoundingClientRect();
    return {w: b.width, h: b.height, fill: getComputedStyle(r).fill, visible: seen(r)};
  });
  const heat = {};
  for (const td of document.querySelectorAll('#table-utilisation td[class*="heat-"]')) {
    heat[td.className.split(' ').find(c => c.startsWith('heat-'))] = getComputedStyle(td).backgroundColor;
  }
  return {w: box.width, h: box.height, lines, dots, heat};
})()
"""


def test_capacity_section_renders_in_chromium(built_report, tmp_path):
    page, _ref, _tables = built_report
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    browser = Chromium(tmp_path / "profile")
    try:
        session = browser.open(path)
        scan = browser.evaluate(session, LINE_SCAN)
    finally:
        browser.close()
    assert scan["w"] > 300 and scan["h"] > 150
    dots = len(re.findall(r'class="dot series-line-', page))
    assert len(scan["dots"]) == dots > 0 and all(d["visible"] and d["w"] >= 4 for d in scan["dots"])
    assert all(line["visible"] and line["width"] == "2px" and line["stroke"] != "none" for line in scan["lines"])
    assert len({line["stroke"] for line in scan["lines"]}) >= 2  # one colour per team
    # every heat class has its own background, and "no capacity" is not one of the heat colours
    colours = scan["heat"]
    assert len(colours) >= 3 and len(set(colours.values())) == len(colours)
