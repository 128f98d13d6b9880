-- Per team and estimate value: the completed issues with time (issue_flow), how many hours they took
-- (median, quartiles, min, max), hours per point, and the share of issues whose hours exceed twice the
-- median of their group. The estimate is the one in effect at completion (the current estimate while the
-- issue's history is not loaded). Issues without an estimate are one group with estimate null.
with

issues as (

    select
        team_id,
        team_key,
        coalesce(estimate_at_completion, case when not history_loaded then estimate end) as estimate,
        hours
    from {{ ref('issue_flow') }}
    where state_type = 'completed' and hours > 0

),

medians as (

    select team_id, estimate, median(hours) as median_hours
    from issues
    group by team_id, estimate

),

final as (

    select
        issues.team_id,
        any_value(issues.team_key) as team_key,
        issues.estimate,
        count(*) as issues,
        sum(issues.hours) as hours,
        any_value(medians.median_hours) as median_hours,
        quantile_cont(issues.hours, 0.25) as p25_hours,
        quantile_cont(issues.hours, 0.75) as p75_hours,
        min(issues.hours) as min_hours,
        max(issues.hours) as max_hours,
        case when sum(issues.estimate) > 0 then sum(issues.hours) / sum(issues.estimate) end as hours_per_point,
        count(*) filter (where issues.hours > 2 * medians.median_hours) / count(*) as share_over_twice_median
    from issues
    inner join medians
        on issues.team_id = medians.team_id and issues.estimate is not distinct from medians.estimate
    group by issues.team_id, issues.estimate

)

select * from final
