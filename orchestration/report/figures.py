"""The report's figures: read from the published marts file, never re-derived from them.

Every number the page shows is a column of a dbt mart (its definition is the mart's, dbt_project/README.md);
here they are only selected, filtered and ordered:

(a) Headline totals and the all-teams hours per estimate point: `hours_summary` (one row).
(b) Hours per team per cycle: `hours_per_cycle` (hours, issue_count), keeping cycles with hours or
    overlapping the data range (from the first to the last time entry start, from `hours_summary`), so
    future cycles are left out and idle ones in range show as 0. Team names come from `hours_per_team`.
(c) Estimate vs actual: `estimate_vs_actual_by_team` and `estimate_vs_actual_by_cycle`, the teams and
    cycles with time. By cycle the hours are the ones logged inside the cycle, and an issue worked in two
    cycles counts its estimate in both (points are not additive across cycles).
(d) Top issues by hours: the `TOP_ISSUES` issues of `hours_per_issue` with the most hours.
(e) Unmatched share: `unmatched_hours_by_project` (null project_id = no project) and
    `unmatched_hours_by_person`, largest unmatched hours first.
(f) Flow (when the flow marts are published): hours by state type per team, the sum of
    `hours_per_issue_state` per team and state type; the `TOP_FLOW_ISSUES` completed issues of `issue_flow`
    with the most hours, with their cycle time; each cycle's planned / added / outside / carried-over hours
    from `cycle_scope` (the cycles shown in (b)).
(g) Billable hours by client (when `billable_by_client` is published): its billable and non-billable hours
    and billable amounts summed over months and projects per client and currency, largest amount first.
(f) Hours per person and week: `hours_per_person_week` (the people's own ISO weeks), the last
    `PERSON_WEEKS` weeks with time. The date range in the header is the people's local dates too
    (`hours_summary.first_local_date` .. `last_local_date`).
(g) Capacity (when `capacity_per_person_week` is published): each person's `utilisation` per week (the
    last `PERSON_WEEKS` weeks), and per team and week the share of logged time matched to an issue:
    sum(matched_hours) / sum(logged_hours) over the mart's rows of the people of that team (null without time).
"""

from __future__ import annotations

TOP_ISSUES = 15
TOP_FLOW_ISSUES = 15
FLOW_MARTS = ("hours_per_issue_state", "issue_flow", "cycle_scope")
STATE_ORDER = [
    "triage",
    "backlog",
    "unstarted",
    "started",
    "completed",
    "canceled",
    "duplicate",
    "before_created",
    "unknown",
]
PERSON_WEEKS = 12  # weeks shown in the person-week table (the latest ones with time)

# hours_summary when it has no row (never from dbt: an empty fct_time_entries still gives one row).
EMPTY_SUMMARY = dict(
    date_from=None,
    date_to=None,
    first_start=None,
    last_start=None,
    total_hours=0.0,
    matched_hours=0.0,
    unmatched_hours=0.0,
    matched_share=None,
    entry_count=0,
    people=0,
    issues=0,
    hours_per_point=None,
)


def _rows(con, sql: str, params: dict | None = None) -> list[dict]:
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def query_figures(con) -> dict:
    """Every figure of the report, from the marts of the connection's database (see the module doc)."""
    (catalog,) = con.execute("SELECT current_database()").fetchone()
    m = '"' + catalog.replace('"', '""') + '".main'  # the published file keeps the marts in its default schema

    rows = _rows(
        con,
        f"""
        select first_local_date as date_from, last_local_date as date_to,
               first_started_at as first_start, last_started_at as last_start,
               "hours" as total_hours, matched_hours, unmatched_hours, matched_share,
               time_entry_count as entry_count, contributors as people, issue_count as issues,
               hours_per_estimate_point as hours_per_point
        from {m}.hours_summary
    """,
    )
    summary = rows[0] if rows else dict(EMPTY_SUMMARY)

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
        issues_with_time,
        estimated_issue_count as estimated_issues,
        estimate_points,
        estimated_issue_hours as estimated_hours,
        unestimated_issue_hours as unestimated_hours,
        "hours",
        hours_per_estimate_point as hours_per_point
    """
    estimate_by_team = _rows(
        con,
        f"""
        select team_key, {estimate_columns}
        from {m}.estimate_vs_actual_by_team
        where issues_with_time > 0
        order by team_key nulls last
    """,
    )
    estimate_by_cycle = _rows(
        con,
        f"""
        select team_key, cycle_number, cycle_starts_at, {estimate_columns}
        from {m}.estimate_vs_actual_by_cycle
        where issues_with_time > 0
        order by team_key, cycle_starts_at, cycle_number
    """,
    )

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
        select project_id, project_name, client_name, unmatched_hours, total_hours, unmatched_share
        from {m}.unmatched_hours_by_project
        order by unmatched_hours desc, total_hours desc, project_name nulls last, project_id nulls last
    """,
    )
    unmatched_by_person = _rows(
        con,
        f"""
        select user_id, user_name, unmatched_hours, total_hours, unmatched_share
        from {m}.unmatched_hours_by_person
        order by unmatched_hours desc, total_hours desc, user_name nulls last, user_id nulls last
    """,
    )

    flow = _flow_figures(con, m, summary) if _has_tables(con, FLOW_MARTS) else None
    billing = _billing_figures(con, m) if _has_tables(con, ("billable_by_client",)) else None
    person_weeks = _rows(
        con,
        f"""
        with shown as (
            select distinct week_start from {m}.hours_per_person_week order by week_start desc limit {PERSON_WEEKS}
        )
        select user_id, user_name, week_start, year_week, "hours", matched_hours
        from {m}.hours_per_person_week
        where week_start in (select week_start from shown)
        order by week_start, user_name nulls last, user_id
    """,
    )

    capacity = _capacity_figures(con, m) if _has_tables(con, ("capacity_per_person_week",)) else None

    return dict(
        flow=flow,
        billing=billing,
        capacity=capacity,
        summary=summary,
        person_weeks=person_weeks,
        published_at=published,
        cycles=cycles,
        estimate_by_team=estimate_by_team,
        estimate_by_cycle=estimate_by_cycle,
        overall_hours_per_point=summary["hours_per_point"],
        top_issues=top_issues,
        unmatched_by_project=unmatched_by_project,
        unmatched_by_person=unmatched_by_person,
    )


def _capacity_figures(con, m: str) -> dict:
    utilisation = _rows(
        con,
        f"""
        with shown as (
            select distinct week_start from {m}.capacity_per_person_week order by week_start desc limit {PERSON_WEEKS}
        )
        select user_id, user_name, week_start, year_week, utilisation, capacity_hours, logged_hours
        from {m}.capacity_per_person_week
        where week_start in (select week_start from shown)
        order by week_start, user_name nulls last, user_id
    """,
    )
    team_share = _rows(
        con,
        f"""
        select team_key, week_start, year_week, sum(matched_hours) as matched_hours, sum(logged_hours) as logged_hours,
               case when sum(logged_hours) > 0 then sum(matched_hours) / sum(logged_hours) end as matched_share
        from {m}.capacity_per_person_week
        where team_key is not null
        group by team_key, week_start, year_week
        order by team_key, week_start
    """,
    )
    return dict(utilisation=utilisation, team_share=team_share)


def _has_tables(con, names: tuple[str, ...]) -> bool:
    (found,) = con.execute(
        "select count(*) from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'main' and table_name in (select unnest($names))",
        {"names": list(names)},
    ).fetchone()
    return found == len(names)


def _billing_figures(con, m: str) -> list[dict]:
    """(g): one row per client (null: time without a client) and currency."""
    return _rows(
        con,
        f"""
        select client_id, max(client_name) as client_name, currency,
               sum(billable_hours) as billable_hours, sum(non_billable_hours) as non_billable_hours,
               sum(billable_amount) as billable_amount,
               sum(billable_hours_without_rate) as billable_hours_without_rate
        from {m}.billable_by_client
        group by client_id, currency
        order by billable_amount desc, billable_hours desc, client_name nulls last, client_id nulls last
    """,
    )


def _flow_figures(con, m: str, summary: dict) -> dict:
    order = ", ".join(f"'{t}'" for t in STATE_ORDER)
    by_state = _rows(
        con,
        f"""
        select team_key, state_type, sum("hours") as "hours", bool_and(history_loaded) as history_loaded
        from {m}.hours_per_issue_state
        group by team_key, state_type
        order by team_key nulls last, list_position([{order}], state_type), state_type
    """,
    )
    cycle_time = _rows(
        con,
        f"""
        select issue_identifier, team_key, cycle_time_days, lead_time_days, "hours", hours_during,
               hours_after_completion, times_reopened
        from {m}.issue_flow
        where completed_at is not null and cycle_time_days is not null and "hours" > 0
        order by "hours" desc, issue_identifier
        limit {TOP_FLOW_ISSUES}
    """,
    )
    scope = _rows(
        con,
        f"""
        select team_key, cycle_number, cycle_starts_at, "hours", planned_hours, added_hours, outside_hours,
               carried_over_hours, planned_issues, added_issues, carried_over_issues
        from {m}.cycle_scope
        where "hours" > 0 or (cycle_starts_at <= $last_start and cycle_ends_at > $first_start)
        order by team_key nulls last, cycle_starts_at, cycle_number
    """,
        {"first_start": summary["first_start"], "last_start": summary["last_start"]},
    )
    return dict(by_state=by_state, cycle_time=cycle_time, scope=scope)
