"""`warehouse report`: one self-contained HTML page from the published marts file.

The page needs nothing but itself: inline CSS, charts drawn as inline SVG on the server, no script at
all, and a Content-Security-Policy that forbids any fetch, so it opens offline, mails well and prints.
Every string from the data (issue titles are user text) goes through Jinja2's autoescaping. The figures
come from figures.py, the charts and number formats from charts.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jinja2 import Environment

from orchestration.report.charts import (
    BarRow,
    cycle_charts,
    fmt_amount,
    fmt_date,
    fmt_hours,
    fmt_int,
    fmt_points,
    fmt_ratio,
    fmt_share,
    hbar_chart,
    line_chart,
)
from orchestration.report.figures import TOP_ISSUES, query_figures
from orchestration.settings import Settings
from orchestration.warehouse.duckdb import connect_with_lock_wait
from orchestration.warehouse.publish import publish_marts

TEMPLATE_PATH = Path(__file__).with_name("template.html")
MAX_ROWS = 25  # projects / people shown in the unmatched charts (tables list them all)


# ------------------------------------------------------------------------------------------- page


def _team_label(key: str | None) -> str:
    return key if key is not None else "(no team)"


def build_context(figures: dict, marts_path: Path, generated_at: dt.datetime) -> dict:
    s = figures["summary"]

    est_team_rows = [
        BarRow(
            _team_label(r["team_key"]),
            r["hours_per_point"],
            fmt_ratio(r["hours_per_point"]) + " h/pt",
            f"{_team_label(r['team_key'])}: {fmt_hours(r['estimated_hours'])} h on "
            f"{fmt_points(r['estimate_points'])} points",
        )
        for r in figures["estimate_by_team"]
    ]
    overall = figures["overall_hours_per_point"]
    reference = (overall, f"all teams {fmt_ratio(overall)}") if overall is not None else None
    est_cycle_rows = [
        BarRow(
            f"C{r['cycle_number']} · {fmt_date(r['cycle_starts_at'])}",
            r["hours_per_point"],
            fmt_ratio(r["hours_per_point"]) + " h/pt",
            f"{r['team_key']} cycle {r['cycle_number']}: {fmt_hours(r['estimated_hours'])} h on "
            f"{fmt_points(r['estimate_points'])} points",
            group=r["team_key"],
        )
        for r in figures["estimate_by_cycle"]
    ]
    issue_rows = [
        BarRow(
            f"{r['issue_identifier'] or r['issue_id'] or '?'} {r['issue_title'] or ''}".strip(),
            r["hours"],
            fmt_hours(r["hours"]) + " h",
            f"{r['issue_identifier']}: {r['issue_title'] or ''} ({fmt_hours(r['hours'])} h)",
        )
        for r in figures["top_issues"]
    ]

    def project_label(r):
        return r["project_name"] or ("(no project)" if r["project_id"] is None else r["project_id"])

    def person_label(r):
        return r["user_name"] or r["user_id"] or "(unknown)"

    for r in figures["unmatched_by_project"]:
        r["label"] = project_label(r)
    for r in figures["unmatched_by_person"]:
        r["label"] = person_label(r)

    def share_rows(rows):
        return [
            BarRow(
                r["label"],
                r["unmatched_share"],
                fmt_share(r["unmatched_share"]),
                f"{r['label']}: {fmt_hours(r['unmatched_hours'])} of {fmt_hours(r['total_hours'])} h unmatched",
            )
            for r in rows[:MAX_ROWS]
        ]

    flow = figures.get("flow")
    flow_charts = {}
    if flow:
        flow_charts = dict(
            flow_state=hbar_chart(
                "chart-flow-state",
                "Hours by workflow state, per team",
                "Bar chart: hours logged while the issues were in each state type (the state at each "
                "entry's start), grouped by team.",
                [
                    BarRow(
                        r["state_type"],
                        r["hours"],
                        fmt_hours(r["hours"]) + " h",
                        f"{_team_label(r['team_key'])}, {r['state_type']}: {fmt_hours(r['hours'])} h",
                        group=_team_label(r["team_key"]),
                    )
                    for r in flow["by_state"]
                ],
            ),
            flow_cycle_time=hbar_chart(
                "chart-flow-cycle-time",
                "Cycle time of the completed issues with the most hours",
                "Bar chart: days from first start to completion of each issue; its hours are in the table.",
                [
                    BarRow(
                        r["issue_identifier"] or "?",
                        r["cycle_time_days"],
                        fmt_ratio(r["cycle_time_days"]) + " d",
                        f"{r['issue_identifier']}: {fmt_ratio(r['cycle_time_days'])} days, {fmt_hours(r['hours'])} h",
                    )
                    for r in flow["cycle_time"]
                ],
                bar_class="series-b",
            ),
            flow_scope=hbar_chart(
                "chart-flow-scope",
                "Hours on planned issues, per cycle",
                "Bar chart: hours logged during each cycle on the issues planned into it at its start; "
                "the table adds the hours on issues added later and on issues outside the cycle.",
                [
                    BarRow(
                        f"C{r['cycle_number']} · {fmt_date(r['cycle_starts_at'])}",
                        r["planned_hours"],
                        fmt_hours(r["planned_hours"]) + " h",
                        f"{r['team_key']} cycle {r['cycle_number']}: {fmt_hours(r['planned_hours'])} h planned, "
                        f"{fmt_hours(r['added_hours'])} h added, {fmt_hours(r['carried_over_hours'])} h carried over",
                        group=_team_label(r["team_key"]),
                    )
                    for r in flow["scope"]
                ],
            ),
        )
    # person x week (columns: the weeks shown, oldest first)
    weeks = sorted({(r["week_start"], r["year_week"]) for r in figures["person_weeks"]})
    people: dict = {}
    for r in figures["person_weeks"]:
        row = people.setdefault(r["user_id"], dict(label=person_label(r), hours={}))
        row["hours"][r["week_start"]] = r["hours"]
    person_week = dict(weeks=weeks, rows=sorted(people.values(), key=lambda row: (row["label"].lower(), row["label"])))

    capacity, capacity_charts = _capacity(figures.get("capacity"), person_label)

    charts = dict(
        **flow_charts,
        **capacity_charts,
        cycles=cycle_charts(figures["cycles"]),
        est_team=hbar_chart(
            "chart-estimate-team",
            "Hours per estimate point, by team",
            "Bar chart: hours logged on estimated issues divided by their estimate points, "
            "per team; the dashed line is all teams together.",
            est_team_rows,
            reference=reference,
        ),
        est_cycle=hbar_chart(
            "chart-estimate-cycle",
            "Hours per estimate point, by cycle",
            "Bar chart: hours per estimate point in each cycle, grouped by team; the dashed "
            "line is all teams over the whole range.",
            est_cycle_rows,
            reference=reference,
        ),
        issues=hbar_chart(
            "chart-top-issues",
            f"Top {len(issue_rows)} issues by hours",
            "Bar chart: the issues with the most hours logged.",
            issue_rows,
        ),
        unmatched_project=hbar_chart(
            "chart-unmatched-project",
            "Unmatched share of hours, by project",
            "Bar chart: share of each project's hours not linked to a Linear issue.",
            share_rows(figures["unmatched_by_project"]),
            percent=True,
            track=True,
            bar_class="series-b",
        ),
        unmatched_person=hbar_chart(
            "chart-unmatched-person",
            "Unmatched share of hours, by person",
            "Bar chart: share of each person's hours not linked to a Linear issue.",
            share_rows(figures["unmatched_by_person"]),
            percent=True,
            track=True,
            bar_class="series-b",
        ),
    )
    return dict(
        figures=figures,
        person_week=person_week,
        capacity=capacity,
        s=s,
        charts=charts,
        marts_path=str(marts_path),
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        published_at=(figures["published_at"].strftime("%Y-%m-%d %H:%M UTC") if figures["published_at"] else None),
        date_from=fmt_date(s["date_from"]),
        date_to=fmt_date(s["date_to"]),
        top_n=TOP_ISSUES,
        max_rows=MAX_ROWS,
        fmt_hours=fmt_hours,
        fmt_share=fmt_share,
        fmt_ratio=fmt_ratio,
        fmt_points=fmt_points,
        fmt_int=fmt_int,
        fmt_amount=fmt_amount,
        fmt_date=fmt_date,
        team_label=_team_label,
    )


# Heat-map classes by utilisation (logged / capacity): below 25 %, 50 %, 75 %, 100 %, 125 %, and above.
HEAT_STEPS = (0.25, 0.5, 0.75, 1.0, 1.25)


def heat_class(utilisation: float | None) -> str:
    if utilisation is None:
        return "heat-none"
    return f"heat-{sum(utilisation >= step for step in HEAT_STEPS)}"


def _capacity(capacity: dict | None, person_label) -> tuple[dict | None, dict]:
    """The person-week utilisation heat map (a table: people x the weeks shown) and the per-team line
    chart of matched share over weeks, or (None, {}) when the capacity mart is not published."""
    if capacity is None:
        return None, {}
    weeks = sorted({(r["week_start"], r["year_week"]) for r in capacity["utilisation"]})
    people: dict = {}
    for r in capacity["utilisation"]:
        row = people.setdefault(r["user_id"], dict(label=person_label(r), cells={}))
        row["cells"][r["week_start"]] = dict(
            cls=heat_class(r["utilisation"]),
            text=fmt_share(r["utilisation"]) if r["utilisation"] is not None else "no capacity",
            tooltip=f"logged {fmt_hours(r['logged_hours'])} h of {fmt_hours(r['capacity_hours'])} h capacity",
        )
    rows = sorted(people.values(), key=lambda row: (row["label"].lower(), row["label"]))
    share_weeks = sorted({(r["week_start"], r["year_week"]) for r in capacity["team_share"]})
    by_team: dict = {}
    for r in capacity["team_share"]:
        by_team.setdefault(r["team_key"], {})[r["week_start"]] = r["matched_share"]
    series = [(_team_label(team), [shares.get(w) for w, _ in share_weeks]) for team, shares in sorted(by_team.items())]
    charts = {}
    if series:
        charts["capacity_matched_share"] = line_chart(
            "chart-matched-share",
            "Matched share of logged hours, per team and week",
            "Line chart: per team (a person's team is where most of their matched hours went) and ISO week, "
            "the share of the team's people's logged hours that reached a Linear issue.",
            [label for _, label in share_weeks],
            series,
        )
    return dict(weeks=weeks, rows=rows), charts


def render_report(figures: dict, marts_path: Path, generated_at: dt.datetime | None = None) -> str:
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    template = env.from_string(TEMPLATE_PATH.read_text(encoding="utf-8"))
    return template.render(**build_context(figures, marts_path, generated_at))


def write_report(marts_path: str | Path, out_path: str | Path, *, lock_timeout_seconds: float = 60.0) -> Path:
    """Write the HTML report of the published marts file `marts_path` to `out_path` (atomically)."""
    marts_path = Path(marts_path).expanduser().resolve()
    out_path = Path(out_path).expanduser().resolve()
    if not marts_path.exists():
        raise FileNotFoundError(
            f"Marts file {marts_path} does not exist: run a sync (it builds and publishes the marts) first."
        )
    con = connect_with_lock_wait(marts_path, lock_timeout_seconds, read_only=True)
    try:
        figures = query_figures(con)
    finally:
        con.close()
    html = render_report(figures, marts_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out_path)
    return out_path


def run_report(settings: Settings, out: str | Path | None = None) -> Path:
    """What `warehouse report [--out PATH]` does: write the report of the published marts.

    The marts file is `settings.marts_path` (MARTS_PATH, or marts.duckdb beside the warehouse); when it is
    missing but the warehouse has marts (dbt ran before publishing existed), they are published first.
    `out` defaults to report.html beside the warehouse (`Settings.report_path`: data/report.html, the demo's
    data/demo/report.html).
    """
    warehouse, marts = settings.warehouse_path, settings.marts_path
    if not marts.exists() and warehouse.exists():
        publish_marts(warehouse, marts)
    out_path = Path(out).expanduser() if out else settings.report_path
    return write_report(marts, out_path)
