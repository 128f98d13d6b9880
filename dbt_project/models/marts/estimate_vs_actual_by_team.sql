-- Estimate points against logged hours per team, over the team's issues that have logged time.
-- Points and hours_per_estimate_point use only estimated issues (estimate not null); unestimated
-- hours are shown beside them.
with

issues as (select * from {{ ref('hours_per_issue') }}),

teams as (select team_id, team_key, team_name from {{ ref('hours_per_team') }}),

per_team as (

    select
        team_id,
        count(*) as issues_with_time,
        count(estimate) as estimated_issue_count,
        coalesce(sum(estimate), 0) as estimate_points,
        coalesce(sum(hours) filter (where estimate is not null), 0) as estimated_issue_hours,
        coalesce(sum(hours) filter (where estimate is null), 0) as unestimated_issue_hours,
        sum(hours) as hours
    from issues
    group by team_id

),

final as (

    select
        teams.team_id,
        teams.team_key,
        teams.team_name,
        coalesce(per_team.issues_with_time, 0) as issues_with_time,
        coalesce(per_team.estimated_issue_count, 0) as estimated_issue_count,
        coalesce(per_team.estimate_points, 0) as estimate_points,
        coalesce(per_team.estimated_issue_hours, 0) as estimated_issue_hours,
        coalesce(per_team.unestimated_issue_hours, 0) as unestimated_issue_hours,
        coalesce(per_team.hours, 0) as hours,
        per_team.estimated_issue_hours / nullif(per_team.estimate_points, 0) as hours_per_estimate_point
    from teams
    left join per_team on teams.team_id is not distinct from per_team.team_id

)

select * from final
