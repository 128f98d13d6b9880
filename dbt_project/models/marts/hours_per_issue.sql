-- One row per Linear issue with at least one counted time entry.
with

time_entries as (

    select * from {{ ref('fct_time_entries') }}
    where issue_id is not null

),

issues as (select * from {{ ref('stg_linear__issues') }}),

teams as (select team_id, team_key from {{ ref('stg_linear__teams') }}),

states as (select state_id, state_name, state_type from {{ ref('stg_linear__workflow_states') }}),

issue_hours as (

    select
        issue_id,
        sum(hours) as hours,
        coalesce(sum(hours) filter (where billable), 0) as billable_hours,
        count(*) as time_entry_count,
        count(distinct user_id) as contributors,
        min(started_at) as first_logged_at,
        max(ended_at) as last_logged_at
    from time_entries
    group by issue_id

),

final as (

    select
        issue_hours.issue_id,
        issues.issue_identifier,
        issues.issue_title,
        issues.team_id,
        teams.team_key,
        issues.state_id,
        states.state_name,
        states.state_type,
        issues.cycle_id as current_cycle_id,
        issues.estimate,
        issue_hours.hours,
        issue_hours.billable_hours,
        issue_hours.time_entry_count,
        issue_hours.contributors,
        issue_hours.first_logged_at,
        issue_hours.last_logged_at
    from issue_hours
    left join issues on issue_hours.issue_id = issues.issue_id
    left join teams on issues.team_id = teams.team_id
    left join states on issues.state_id = states.state_id

)

select * from final
