-- Every issue's workflow-state spans with the state's name, type and team: the loaded ones (Issue.stateHistory),
-- and, for an issue whose history is not loaded yet, one span in its current state from its creation
-- (history_loaded false), so an issue's hours always land in some state.
with

loaded as (

    select span_id, issue_id, state_id, started_at, ended_at, true as history_loaded
    from {{ ref('stg_linear__issue_state_spans') }}

),

issues as (select issue_id, state_id, created_at from {{ ref('stg_linear__issues') }}),

inferred as (

    select
        cast(null as varchar) as span_id,
        issues.issue_id,
        issues.state_id,
        issues.created_at as started_at,
        cast(null as timestamp) as ended_at,
        false as history_loaded
    from issues
    where not exists (select 1 from loaded where loaded.issue_id = issues.issue_id)

),

spans as (

    select * from loaded
    union all
    select * from inferred

),

states as (select state_id, state_name, state_type, team_id from {{ ref('stg_linear__workflow_states') }}),

final as (

    select
        spans.span_id,
        spans.issue_id,
        spans.state_id,
        states.state_name,
        states.state_type,
        states.team_id as state_team_id,
        spans.started_at,
        spans.ended_at,
        spans.history_loaded,
        row_number() over (partition by spans.issue_id order by spans.started_at, spans.span_id) as span_number,
        lag(states.state_type) over (
            partition by spans.issue_id order by spans.started_at, spans.span_id
        ) as previous_state_type
    from spans
    left join states on spans.state_id = states.state_id

)

select * from final
