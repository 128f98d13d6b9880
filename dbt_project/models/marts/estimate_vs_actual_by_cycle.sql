-- Estimate points against hours logged during each cycle, over the issues that got time in that cycle.
-- Hours are those worked inside the cycle (the cycle rule of fct_time_entries), so they add up with
-- hours_per_cycle; an issue worked in two cycles counts its estimate in both, so points are not
-- additive across cycles.
with

time_entries as (

    select * from {{ ref('fct_time_entries') }}
    where cycle_id is not null

),

issues as (select issue_id, estimate from {{ ref('stg_linear__issues') }}),

cycles as (select * from {{ ref('hours_per_cycle') }}),

issue_cycle_hours as (

    select cycle_id, issue_id, sum(hours) as hours
    from time_entries
    group by all

),

per_cycle as (

    select
        issue_cycle_hours.cycle_id,
        count(*) as issues_with_time,
        count(issues.estimate) as estimated_issue_count,
        coalesce(sum(issues.estimate), 0) as estimate_points,
        coalesce(sum(issue_cycle_hours.hours) filter (where issues.estimate is not null), 0)
            as estimated_issue_hours,
        coalesce(sum(issue_cycle_hours.hours) filter (where issues.estimate is null), 0)
            as unestimated_issue_hours,
        sum(issue_cycle_hours.hours) as hours
    from issue_cycle_hours
    left join issues on issue_cycle_hours.issue_id = issues.issue_id
    group by issue_cycle_hours.cycle_id

),

final as (

    select
        cycles.cycle_id,
        cycles.team_id,
        cycles.team_key,
        cycles.cycle_number,
        cycles.cycle_starts_at,
        cycles.cycle_ends_at,
        coalesce(per_cycle.issues_with_time, 0) as issues_with_time,
        coalesce(per_cycle.estimated_issue_count, 0) as estimated_issue_count,
        coalesce(per_cycle.estimate_points, 0) as estimate_points,
        coalesce(per_cycle.estimated_issue_hours, 0) as estimated_issue_hours,
        coalesce(per_cycle.unestimated_issue_hours, 0) as unestimated_issue_hours,
        coalesce(per_cycle.hours, 0) as hours,
        per_cycle.estimated_issue_hours / nullif(per_cycle.estimate_points, 0) as hours_per_estimate_point
    from cycles
    left join per_cycle on cycles.cycle_id = per_cycle.cycle_id

)

select * from final
