-- One row per Linear cycle: its scope from the issues' cycle stays (int_linear__issue_cycle_memberships).
-- planned: in the cycle when it started; added: joined after the start, before the end (and not planned);
-- removed: left before the end, not completed in it; completed: completed (final completedAt) while in it,
-- within the cycle; carried over: still in it at its end, not completed, moved to a later cycle when it
-- ended. Points: the estimate in effect at the moment that defines the group (start, joining, leaving,
-- completion, end). Hours: the entries hours_per_cycle counts (started during the cycle, on the team's
-- issues), split by the issue's place in the cycle: planned + added + outside = hours_per_cycle.hours.
with

cycles as (select * from {{ ref('stg_linear__cycles') }}),

teams as (select team_id, team_key from {{ ref('stg_linear__teams') }}),

issues as (

    select issues.issue_id, issues.completed_at
    from {{ ref('stg_linear__issues') }} as issues
    inner join {{ ref('stg_linear__workflow_states') }} as states on issues.state_id = states.state_id
    where states.state_type = 'completed'

),

stays as (

    select stays.*, cycles.starts_at, cycles.ends_at
    from {{ ref('int_linear__issue_cycle_memberships') }} as stays
    inner join cycles on stays.cycle_id = cycles.cycle_id
    where stays.joined_at < cycles.ends_at and (stays.left_at is null or stays.left_at > cycles.starts_at)

),

next_cycles as (

    select cycle_id, lead(cycle_id) over (partition by team_id order by starts_at, cycle_id) as next_cycle_id
    from cycles

),

-- One row per cycle and issue that was in it at some time during it.
per_issue as (

    select
        stays.cycle_id,
        stays.issue_id,
        any_value(stays.starts_at) as starts_at,
        any_value(stays.ends_at) as ends_at,
        bool_or(stays.joined_at <= stays.starts_at) as planned,
        min(stays.joined_at) filter (where stays.joined_at > stays.starts_at) as added_at,
        -- its last stay in the cycle
        arg_max(stays.left_at, stays.joined_at) as left_at,
        arg_max(stays.left_to_cycle_id, stays.joined_at) as left_to_cycle_id,
        coalesce(bool_or(
            issues.completed_at >= greatest(stays.joined_at, stays.starts_at)
            and issues.completed_at < stays.ends_at
            and (stays.left_at is null or issues.completed_at < stays.left_at)
        ), false) as completed,  -- false, not null, for an issue that is not completed
        any_value(issues.completed_at) as completed_at
    from stays
    left join issues on stays.issue_id = issues.issue_id
    group by stays.cycle_id, stays.issue_id

),

grouped as (

    select
        per_issue.*,
        not per_issue.planned as added,
        not per_issue.completed and per_issue.left_at is not null and per_issue.left_at < per_issue.ends_at
            as removed,
        not per_issue.completed
            and per_issue.left_at is not null
            and per_issue.left_at >= per_issue.ends_at
            and per_issue.left_to_cycle_id is not null
            and per_issue.left_to_cycle_id = next_cycles.next_cycle_id as carried_over
    from per_issue
    left join next_cycles on per_issue.cycle_id = next_cycles.cycle_id

),

estimates as (select * from {{ ref('int_linear__issue_estimates') }}),

-- The estimate of each issue at each group's moment.
moments as (

    select cycle_id, issue_id, 'planned' as grp, starts_at as at_ from grouped where planned
    union all
    select cycle_id, issue_id, 'added', added_at from grouped where added
    union all
    select cycle_id, issue_id, 'removed', left_at from grouped where removed
    union all
    select cycle_id, issue_id, 'completed', completed_at from grouped where completed
    union all
    select cycle_id, issue_id, 'carried_over', ends_at from grouped where carried_over

),

points as (

    select moments.cycle_id, moments.issue_id, moments.grp, estimates.estimate
    from moments
    left join estimates
        on moments.issue_id = estimates.issue_id
        and estimates.valid_from <= moments.at_
        and (estimates.valid_to is null or moments.at_ < estimates.valid_to)
    qualify row_number() over (
        partition by moments.cycle_id, moments.issue_id, moments.grp order by estimates.valid_from desc
    ) = 1

),

group_counts as (

    select
        cycle_id,
        count(*) filter (where grp = 'planned') as planned_issues,
        count(*) filter (where grp = 'added') as added_issues,
        count(*) filter (where grp = 'removed') as removed_issues,
        count(*) filter (where grp = 'completed') as completed_issues,
        count(*) filter (where grp = 'carried_over') as carried_over_issues,
        coalesce(sum(estimate) filter (where grp = 'planned'), 0) as planned_points,
        coalesce(sum(estimate) filter (where grp = 'added'), 0) as added_points,
        coalesce(sum(estimate) filter (where grp = 'removed'), 0) as removed_points,
        coalesce(sum(estimate) filter (where grp = 'completed'), 0) as completed_points,
        coalesce(sum(estimate) filter (where grp = 'carried_over'), 0) as carried_over_points
    from points
    group by cycle_id

),

entries as (

    select fct.cycle_id, fct.issue_id, fct.hours, grouped.planned, grouped.added, grouped.removed,
           grouped.completed, grouped.carried_over
    from {{ ref('fct_time_entries') }} as fct
    left join grouped on fct.cycle_id = grouped.cycle_id and fct.issue_id = grouped.issue_id
    where fct.cycle_id is not null

),

group_hours as (

    select
        cycle_id,
        sum(hours) as hours,
        coalesce(sum(hours) filter (where planned), 0) as planned_hours,
        coalesce(sum(hours) filter (where added), 0) as added_hours,
        coalesce(sum(hours) filter (where planned is null), 0) as outside_hours,
        coalesce(sum(hours) filter (where removed), 0) as removed_hours,
        coalesce(sum(hours) filter (where completed), 0) as completed_hours,
        coalesce(sum(hours) filter (where carried_over), 0) as carried_over_hours
    from entries
    group by cycle_id

),

final as (

    select
        cycles.cycle_id,
        cycles.team_id,
        teams.team_key,
        cycles.cycle_number,
        cycles.starts_at as cycle_starts_at,
        cycles.ends_at as cycle_ends_at,
        coalesce(group_counts.planned_issues, 0) as planned_issues,
        coalesce(group_counts.added_issues, 0) as added_issues,
        coalesce(group_counts.removed_issues, 0) as removed_issues,
        coalesce(group_counts.completed_issues, 0) as completed_issues,
        coalesce(group_counts.carried_over_issues, 0) as carried_over_issues,
        coalesce(group_counts.planned_points, 0) as planned_points,
        coalesce(group_counts.added_points, 0) as added_points,
        coalesce(group_counts.removed_points, 0) as removed_points,
        coalesce(group_counts.completed_points, 0) as completed_points,
        coalesce(group_counts.carried_over_points, 0) as carried_over_points,
        coalesce(group_hours.hours, 0) as hours,
        coalesce(group_hours.planned_hours, 0) as planned_hours,
        coalesce(group_hours.added_hours, 0) as added_hours,
        coalesce(group_hours.outside_hours, 0) as outside_hours,
        coalesce(group_hours.removed_hours, 0) as removed_hours,
        coalesce(group_hours.completed_hours, 0) as completed_hours,
        coalesce(group_hours.carried_over_hours, 0) as carried_over_hours
    from cycles
    left join teams on cycles.team_id = teams.team_id
    left join group_counts on cycles.cycle_id = group_counts.cycle_id
    left join group_hours on cycles.cycle_id = group_hours.cycle_id

)

select * from final
