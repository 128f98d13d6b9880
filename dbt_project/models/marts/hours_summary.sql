-- One row: the totals over every counted time entry (the report's headline figures), and estimate vs
-- actual over all issues with time (what estimate_vs_actual_by_team shows per team, for all teams).
-- An empty fct_time_entries gives one row of zeros (dates, shares and the ratio null).
with

time_entries as (select * from {{ ref('fct_time_entries') }}),

issues as (select * from {{ ref('hours_per_issue') }}),

entry_totals as (

    select
        min(entry_date) as first_entry_date,
        max(entry_date) as last_entry_date,
        min(local_date) as first_local_date,
        max(local_date) as last_local_date,
        min(started_at) as first_started_at,
        max(started_at) as last_started_at,
        coalesce(sum(hours), 0) as hours,
        coalesce(sum(hours) filter (where issue_id is not null), 0) as matched_hours,
        coalesce(sum(hours) filter (where issue_id is null), 0) as unmatched_hours,
        count(*) as time_entry_count,
        count(distinct user_id) as contributors,
        count(distinct issue_id) as issue_count
    from time_entries

),

estimates as (

    select
        coalesce(sum(estimate), 0) as estimate_points,
        coalesce(sum(hours) filter (where estimate is not null), 0) as estimated_issue_hours
    from issues

),

final as (

    select
        entry_totals.first_entry_date,
        entry_totals.last_entry_date,
        entry_totals.first_local_date,
        entry_totals.last_local_date,
        entry_totals.first_started_at,
        entry_totals.last_started_at,
        entry_totals.hours,
        entry_totals.matched_hours,
        entry_totals.unmatched_hours,
        entry_totals.matched_hours / nullif(entry_totals.hours, 0) as matched_share,
        entry_totals.time_entry_count,
        entry_totals.contributors,
        entry_totals.issue_count,
        estimates.estimate_points,
        estimates.estimated_issue_hours,
        estimates.estimated_issue_hours / nullif(estimates.estimate_points, 0) as hours_per_estimate_point
    from entry_totals
    cross join estimates

)

select * from final
