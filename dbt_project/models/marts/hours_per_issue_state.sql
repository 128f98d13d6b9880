-- One row per issue and workflow state it had time logged in: an entry counts in the state span that
-- contains its start (int_time_entries_with_state). 'before_created' holds entries started before the issue
-- existed; an issue whose history is not loaded yet has all its hours in its current state, history_loaded
-- false. Per issue the rows sum to hours_per_issue.
with

entries as (select * from {{ ref('int_time_entries_with_state') }}),

issues as (select issue_id, issue_identifier, team_id from {{ ref('stg_linear__issues') }}),

teams as (select team_id, team_key from {{ ref('stg_linear__teams') }}),

spans as (

    select issue_id, state_id, count(*) as span_count
    from {{ ref('int_linear__issue_state_spans') }}
    group by issue_id, state_id

),

grouped as (

    select
        issue_id,
        state_id,
        any_value(state_name) as state_name,
        state_type,
        any_value(state_team_id) as state_team_id,
        bool_or(history_loaded) as history_loaded,
        sum(hours) as hours,
        coalesce(sum(hours) filter (where billable), 0) as billable_hours,
        count(*) as time_entry_count,
        count(distinct user_id) as contributors,
        min(started_at) as first_logged_at,
        max(ended_at) as last_logged_at
    from entries
    group by issue_id, state_id, state_type

),

final as (

    select
        grouped.issue_id,
        issues.issue_identifier,
        issues.team_id,
        teams.team_key,
        grouped.state_id,
        grouped.state_name,
        grouped.state_type,
        grouped.state_team_id,
        grouped.history_loaded,
        coalesce(spans.span_count, 0) as span_count,
        grouped.hours,
        grouped.billable_hours,
        grouped.time_entry_count,
        grouped.contributors,
        grouped.first_logged_at,
        grouped.last_logged_at
    from grouped
    left join issues on grouped.issue_id = issues.issue_id
    left join teams on issues.team_id = teams.team_id
    left join spans on grouped.issue_id = spans.issue_id and grouped.state_id = spans.state_id

)

select * from final
