"""The report's figures: what `query_figures` reads from the published marts file.

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
"""

from __future__ import annotations

TOP_ISSUES = 15


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
