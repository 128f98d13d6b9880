"""`warehouse report`: one self-contained HTML page from the published marts file.

The page needs nothing but itself: inline CSS, charts drawn as inline SVG on the server, no script at
all, and a Content-Security-Policy that forbids any fetch, so it opens offline, mails well and prints.
Every string from the data (issue titles are user text) goes through Jinja2's autoescaping.

The figures are computed here with our own SQL from four marts whose columns are stable (the other
marts are still moving), in the published file's schema `marts`:

(a) Hours per team per cycle: `hours_per_cycle` (hours, issue_count) as is, keeping cycles with hours
    or overlapping the data range (from the first to the last time entry start), so future cycles are left
    out and idle ones in range show as 0. Team names come from `hours_per_team`.
(b) Estimate vs actual, over issues with logged time (`hours_per_issue`), the same definitions as the dbt
    marts `estimate_vs_actual_by_*`: estimate points = sum of `estimate` of estimated issues; hours on
    estimated issues; hours per point = the one divided by the other; hours on unestimated issues beside.
    By team: grouped on `hours_per_issue.team_key`. By cycle: each matched entry of `fct_time_entries`
    counts in the cycle of its issue's team whose [cycle_starts_at, cycle_ends_at) holds the entry's start
    (the later-starting cycle should two overlap; the rule of `hours_per_cycle`), hours are summed per
    issue and cycle, and an issue worked in two cycles counts its estimate in both (points are not
    additive across cycles).
(c) Top issues by hours: the `TOP_ISSUES` issues of `hours_per_issue` with the most hours.
(d) Unmatched share: hours of `fct_time_entries` without `issue_id` over all hours, per project
    (`project_id`, null = no project) and per person (`user_id`), largest unmatched hours first.

Hours are shown with one decimal, shares as percentages with one decimal, hours per point with one.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment

from orchestration.settings import PROJECT_ROOT, Settings
from orchestration.warehouse.duckdb import connect_with_lock_wait
from orchestration.warehouse.publish import publish_marts

TEMPLATE_PATH = Path(__file__).with_name("template.html")
TOP_ISSUES = 15
MAX_ROWS = 25  # projects / people shown in the unmatched charts (tables list them all)


# ------------------------------------------------------------------------------------------ formatting


def fmt_hours(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def fmt_share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def fmt_points(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def fmt_int(value: int | None) -> str:
    return "–" if value is None else f"{value:,d}"


def fmt_date(value) -> str:
    if value is None:
        return "–"
    return value.strftime("%Y-%m-%d")


# ------------------------------------------------------------------------------------------- data


def _rows(con, sql: str, params: dict | None = None) -> list[dict]:
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def query_figures(con) -> dict:
    """Every figure of the report, from the marts of the connection's database (see the module doc)."""
    (catalog,) = con.execute("SELECT current_database()").fetchone()
    m = '"' + catalog.replace('"', '""') + '".main'  # the published file keeps the marts in its default schema

    summary = _rows(
        con,
        f"""
        select min(entry_date) as date_from, max(entry_date) as date_to,
               min(started_at) as first_start, max(started_at) as last_start,
               coalesce(sum("hours"), 0) as total_hours,
               coalesce(sum("hours") filter (where issue_id is not null), 0) as matched_hours,
               count(*) as entry_count,
               count(distinct user_id) as people,
               count(distinct issue_id) as issues
        from {m}.fct_time_entries
    """,
    )[0]
    summary["unmatched_hours"] = summary["total_hours"] - summary["matched_hours"]
    summary["matched_share"] = _ratio(summary["matched_hours"], summary["total_hours"])

    published = None
    has_published = con.execute(
        "select count(*) from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'main' and table_name = '_published'"
    ).fetchone()[0]
    if has_published:
        published = con.execute(f"select max(published_at) from {m}._published").fetchone()[0]

    cycles = _rows(
        con,
        f"""
        select c.team_key, t.team_name, c.cycle_number, c.cycle_starts_at, c.cycle_ends_at,
               coalesce(c."hours", 0) as "hours", coalesce(c.issue_count, 0) as issue_count
        from {m}.hours_per_cycle c
        left join (select team_key, any_value(team_name) as team_name from {m}.hours_per_team
                   group by team_key) t on t.team_key is not distinct from c.team_key
        where coalesce(c."hours", 0) > 0
           or (c.cycle_starts_at <= $last_start and c.cycle_ends_at > $first_start)
        order by c.team_key nulls last, c.cycle_starts_at, c.cycle_number
    """,
        {"first_start": summary["first_start"], "last_start": summary["last_start"]},
    )

    estimate_columns = """
        count(*) as issues_with_time,
        count(estimate) as estimated_issues,
        coalesce(sum(estimate), 0) as estimate_points,
        coalesce(sum("hours") filter (where estimate is not null), 0) as estimated_hours,
        coalesce(sum("hours") filter (where estimate is null), 0) as unestimated_hours,
        coalesce(sum("hours"), 0) as "hours"
    """
    estimate_by_team = _rows(
        con,
        f"""
        select team_key, {estimate_columns}
        from {m}.hours_per_issue
        group by team_key
        order by team_key nulls last
    """,
    )
    estimate_by_cycle = _rows(
        con,
        f"""
        with entries as (
            select e.time_entry_id, e.issue_id, e.started_at, e."hours", i.team_key, i.estimate
            from {m}.fct_time_entries e
            join {m}.hours_per_issue i on i.issue_id = e.issue_id
            where e.issue_id is not null
        ),
        in_cycle as (
            select c.team_key, c.cycle_number, c.cycle_starts_at, entries.issue_id, entries.estimate,
                   entries."hours"
            from entries
            join {m}.hours_per_cycle c
              on c.team_key = entries.team_key
             and c.cycle_starts_at <= entries.started_at and entries.started_at < c.cycle_ends_at
            qualify row_number() over (
                partition by entries.time_entry_id order by c.cycle_starts_at desc, c.cycle_number desc) = 1
        ),
        per_issue as (
            select team_key, cycle_number, cycle_starts_at, issue_id,
                   any_value(estimate) as estimate, sum("hours") as "hours"
            from in_cycle
            group by team_key, cycle_number, cycle_starts_at, issue_id
        )
        select team_key, cycle_number, cycle_starts_at, {estimate_columns}
        from per_issue
        group by team_key, cycle_number, cycle_starts_at
        order by team_key, cycle_starts_at, cycle_number
    """,
    )
    overall_points = sum(r["estimate_points"] for r in estimate_by_team)
    overall_estimated_hours = sum(r["estimated_hours"] for r in estimate_by_team)
    for row in [*estimate_by_team, *estimate_by_cycle]:
        row["hours_per_point"] = _ratio(row["estimated_hours"], row["estimate_points"])

    top_issues = _rows(
        con,
        f"""
        select issue_id, issue_identifier, issue_title, team_key, state_type, estimate, "hours", contributors
        from {m}.hours_per_issue
        order by "hours" desc nulls last, issue_identifier
        limit {TOP_ISSUES}
    """,
    )

    unmatched_by_project = _rows(
        con,
        f"""
        select project_id, any_value(project_name) as project_name, any_value(client_name) as client_name,
               coalesce(sum("hours") filter (where issue_id is null), 0) as unmatched_hours,
               coalesce(sum("hours"), 0) as total_hours
        from {m}.fct_time_entries
        group by project_id
        order by unmatched_hours desc, total_hours desc, project_name nulls last, project_id nulls last
    """,
    )
    unmatched_by_person = _rows(
        con,
        f"""
        select user_id, any_value(user_name) as user_name,
               coalesce(sum("hours") filter (where issue_id is null), 0) as unmatched_hours,
               coalesce(sum("hours"), 0) as total_hours
        from {m}.fct_time_entries
        group by user_id
        order by unmatched_hours desc, total_hours desc, user_name nulls last, user_id nulls last
    """,
    )
    for row in [*unmatched_by_project, *unmatched_by_person]:
        row["unmatched_share"] = _ratio(row["unmatched_hours"], row["total_hours"])

    return dict(
        summary=summary,
        published_at=published,
        cycles=cycles,
        estimate_by_team=estimate_by_team,
        estimate_by_cycle=estimate_by_cycle,
        overall_hours_per_point=_ratio(overall_estimated_hours, overall_points),
        top_issues=top_issues,
        unmatched_by_project=unmatched_by_project,
        unmatched_by_person=unmatched_by_person,
    )


# ------------------------------------------------------------------------------------------ charts
# Charts are lists of primitive shapes with coordinates computed here; the template draws them, and
# autoescapes every string. Bars carry class "bar" (the tests count them).

FONT_WIDTH = 6.6  # average glyph width of the 12 px system font, for label layout


def _truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round axis ticks from 0 to at least `maximum`."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in (1, 2, 2.5, 5, 10) if s * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _tick_text(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


@dataclass
class Chart:
    chart_id: str
    title: str
    description: str
    width: float
    height: float
    shapes: list[dict] = field(default_factory=list)
    bars: int = 0

    def rect(self, x, y, w, h, cls, tooltip=None, bar=False):
        self.shapes.append(
            dict(
                kind="rect",
                x=round(x, 2),
                y=round(y, 2),
                w=round(max(w, 0), 2),
                h=round(h, 2),
                cls=cls + (" bar" if bar else ""),
                tooltip=tooltip,
            )
        )
        self.bars += bool(bar)

    def text(self, x, y, content, cls="", anchor="start", tooltip=None):
        self.shapes.append(
            dict(kind="text", x=round(x, 2), y=round(y, 2), content=content, cls=cls, anchor=anchor, tooltip=tooltip)
        )

    def line(self, x1, y1, x2, y2, cls):
        self.shapes.append(
            dict(kind="line", x1=round(x1, 2), y1=round(y1, 2), x2=round(x2, 2), y2=round(y2, 2), cls=cls)
        )


@dataclass
class BarRow:
    label: str
    value: float | None
    value_text: str
    tooltip: str
    group: str | None = None


def hbar_chart(
    chart_id: str,
    title: str,
    description: str,
    rows: list[BarRow],
    *,
    percent: bool = False,
    reference: tuple[float, str] | None = None,
    track: bool = False,
    width: float = 560,
    bar_class: str = "series-a",
) -> Chart:
    """Horizontal bars, one per row, optionally under group headings; value printed after each bar.

    percent: the axis runs 0..100 %; track: a light full-length track behind each bar (for shares);
    reference: a dashed vertical line at (value, label).
    """
    row_h, bar_h, group_h, top, axis_h = 22.0, 14.0, 24.0, 8.0, 22.0
    label_chars = min(max([len(r.label) for r in rows] + [4]), 30)
    label_w = label_chars * FONT_WIDTH + 14
    value_w = max([len(r.value_text) for r in rows] + [3]) * FONT_WIDTH + 14
    plot_x, plot_w = label_w, width - label_w - value_w
    values = [r.value for r in rows if r.value is not None]
    maximum = 1.0 if percent else max(values + ([reference[0]] if reference else []) + [0.0])
    ticks = nice_ticks(maximum) if not percent else [0, 0.25, 0.5, 0.75, 1.0]
    scale_max = ticks[-1] or 1.0

    groups = [r.group for r in rows]
    n_groups = len({g for g in groups if g is not None})
    height = top + len(rows) * row_h + n_groups * group_h + (reference is not None) * 16 + axis_h + 4
    chart = Chart(chart_id, title, description, width, height)
    body_top = top + (reference is not None) * 16
    body_bottom = height - axis_h

    for tick in ticks:
        x = plot_x + plot_w * tick / scale_max
        chart.line(x, body_top - 4, x, body_bottom, "grid")
        chart.text(x, body_bottom + 15, _tick_text(tick, percent), "axis", "middle")

    y = body_top
    current_group = object()
    for row in rows:
        if row.group is not None and row.group != current_group:
            chart.text(4, y + 17, _truncate(row.group, 60), "group")
            y += group_h
        current_group = row.group
        bar_y = y + (row_h - bar_h) / 2
        if track:
            chart.rect(plot_x, bar_y, plot_w, bar_h, "track")
        chart.text(label_w - 8, y + row_h / 2 + 4, _truncate(row.label, 30), "label", "end", tooltip=row.tooltip)
        bar_w = 0.0 if row.value is None else plot_w * min(row.value, scale_max) / scale_max
        chart.rect(plot_x, bar_y, max(bar_w, 1.0 if row.value else 0.0), bar_h, bar_class, row.tooltip, bar=True)
        value_x = (plot_x + plot_w + 6) if track else (plot_x + bar_w + 6)
        chart.text(value_x, y + row_h / 2 + 4, row.value_text, "value")
        y += row_h

    if reference is not None:
        x = plot_x + plot_w * min(reference[0], scale_max) / scale_max
        chart.line(x, body_top - 6, x, body_bottom, "reference")
        chart.text(x, top + 6, reference[1], "reference-label", "middle" if x < width - 90 else "end")
    chart.line(plot_x, body_top - 4, plot_x, body_bottom, "baseline")
    return chart


def cycle_charts(cycles: list[dict]) -> list[Chart]:
    """Small multiples: one column chart per team, bars per cycle, the same hours scale for every team."""
    teams: dict[str, list[dict]] = {}
    for row in cycles:
        teams.setdefault(row["team_key"] or "(no team)", []).append(row)
    maximum = max([r["hours"] for r in cycles] + [0.0])
    ticks = nice_ticks(maximum)
    scale_max = ticks[-1] or 1.0
    charts = []
    for index, (team, rows) in enumerate(teams.items()):
        name = rows[0].get("team_name")
        heading = f"{team} · {name}" if name and name != team else team
        width, height, left, top, bottom = 560.0, 200.0, 44.0, 22.0, 34.0
        plot_w, plot_h = width - left - 8, height - top - bottom
        chart = Chart(
            f"chart-cycles-{index}",
            f"Hours per cycle, team {heading}",
            f"Column chart: hours logged in each of the {len(rows)} cycles of team {heading}.",
            width,
            height,
        )
        for tick in ticks:
            y = top + plot_h - plot_h * tick / scale_max
            chart.line(left, y, width - 8, y, "grid")
            chart.text(left - 6, y + 4, _tick_text(tick, False), "axis", "end")
        slot = plot_w / max(len(rows), 1)
        bar_w = min(slot * 0.7, 48)
        for i, row in enumerate(rows):
            x = left + slot * i + (slot - bar_w) / 2
            h = plot_h * row["hours"] / scale_max
            label = f"C{row['cycle_number']}"
            tip = (
                f"{team} cycle {row['cycle_number']} ({fmt_date(row['cycle_starts_at'])} – "
                f"{fmt_date(row['cycle_ends_at'])}): {fmt_hours(row['hours'])} h, {row['issue_count']} issues"
            )
            chart.rect(x, top + plot_h - h, bar_w, h, "series-a", tip, bar=True)
            if row["hours"] > 0:
                chart.text(x + bar_w / 2, top + plot_h - h - 4, fmt_hours(row["hours"]), "value", "middle")
            chart.text(x + bar_w / 2, top + plot_h + 15, label, "axis", "middle", tooltip=tip)
        chart.line(left, top + plot_h, width - 8, top + plot_h, "baseline")
        chart.text(left, height - 4, "cycle", "axis-title")
        chart.heading = heading  # type: ignore[attr-defined]
        charts.append(chart)
    return charts


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

    charts = dict(
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
        fmt_date=fmt_date,
        team_label=_team_label,
    )


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
    `out` defaults to data/report.html under the project root.
    """
    warehouse, marts = settings.warehouse_path, settings.marts_path
    if not marts.exists() and warehouse.exists():
        publish_marts(warehouse, marts)
    out_path = Path(out).expanduser() if out else PROJECT_ROOT / "data" / "report.html"
    return write_report(marts, out_path)
