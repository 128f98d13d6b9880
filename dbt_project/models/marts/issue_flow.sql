-- One row per issue that has time or was completed in the loaded range (int_flow__range): when it was created,
-- first started, completed or canceled; lead time (created -> completed) and cycle time (first started ->
-- completed) in days; days in each state type until it was finished (or until as_of while it is open); times
-- reopened; hours logged before its first start, between its first start and its end, and after its end
-- (completed or canceled); its estimate when it started and when it was completed. The flow columns read
-- the state spans and the estimate changes, so they are null for an issue whose history is not loaded yet.
with

range_ as (select * from {{ ref('int_flow__range') }}),

issues as (

    select
        issues.issue_id,
        issues.issue_identifier,
        issues.team_id,
        issues.created_at,
        issues.estimate,
        states.state_type,
        case when states.state_type = 'completed' then issues.completed_at end as completed_at,
        case when states.state_type in ('canceled', 'duplicate') then issues.canceled_at end as canceled_at
    from {{ ref('stg_linear__issues') }} as issues
    left join {{ ref('stg_linear__workflow_states') }} as states on issues.state_id = states.state_id

),

with_time as (select issue_id from {{ ref('hours_per_issue') }}),

selected as (

    select issues.*
    from issues
    cross join range_
    where issues.issue_id in (select issue_id from with_time)
       or (issues.completed_at >= range_.range_start and issues.completed_at < range_.as_of)

),

spans as (select * from {{ ref('int_linear__issue_state_spans') }}),

span_facts as (

    select
        issue_id,
        bool_or(history_loaded) as history_loaded,
        min(started_at) filter (where state_type = 'started') as first_started_at,
        count(*) filter (
            where previous_state_type in ('completed', 'canceled', 'duplicate')
              and state_type not in ('completed', 'canceled', 'duplicate')
        ) as times_reopened
    from spans
    group by issue_id

),

-- The flow ends when the issue was finished (its final completion or cancellation), else at as_of.
flow as (

    select
        selected.*,
        coalesce(selected.completed_at, selected.canceled_at, range_.as_of) as flow_end,
        span_facts.history_loaded,
        case when span_facts.history_loaded then span_facts.first_started_at end as first_started_at,
        case when span_facts.history_loaded then span_facts.times_reopened end as times_reopened
    from selected
    cross join range_
    left join span_facts on selected.issue_id = span_facts.issue_id

),

state_days as (

    select
        flow.issue_id,
        spans.state_type,
        sum(
            greatest(
                0,
                epoch_us(least(coalesce(spans.ended_at, flow.flow_end), flow.flow_end))
                - epoch_us(greatest(spans.started_at, flow.created_at))
            )
        ) / 86400000000.0 as days
    from flow
    inner join spans on flow.issue_id = spans.issue_id
    where flow.history_loaded
    group by flow.issue_id, spans.state_type

),

days_pivot as (

    select
        issue_id,
        coalesce(sum(days) filter (where state_type = 'triage'), 0) as days_triage,
        coalesce(sum(days) filter (where state_type = 'backlog'), 0) as days_backlog,
        coalesce(sum(days) filter (where state_type = 'unstarted'), 0) as days_unstarted,
        coalesce(sum(days) filter (where state_type = 'started'), 0) as days_started,
        coalesce(sum(days) filter (where state_type = 'completed'), 0) as days_completed,
        coalesce(sum(days) filter (where state_type in ('canceled', 'duplicate')), 0) as days_canceled
    from state_days
    group by issue_id

),

entries as (

    select time_entry_id, issue_id, started_at, hours
    from {{ ref('fct_time_entries') }}
    where issue_id is not null

),

hours_split as (

    select
        flow.issue_id,
        coalesce(sum(entries.hours), 0) as hours,
        coalesce(sum(entries.hours) filter (
            where not coalesce(entries.started_at >= coalesce(flow.completed_at, flow.canceled_at), false)
              and (flow.first_started_at is null or entries.started_at < flow.first_started_at)
        ), 0) as hours_before_start,
        coalesce(sum(entries.hours) filter (
            where not coalesce(entries.started_at >= coalesce(flow.completed_at, flow.canceled_at), false)
              and entries.started_at >= flow.first_started_at
        ), 0) as hours_during,
        coalesce(sum(entries.hours) filter (
            where entries.started_at >= coalesce(flow.completed_at, flow.canceled_at)
        ), 0) as hours_after_completion
    from flow
    left join entries on flow.issue_id = entries.issue_id
    group by flow.issue_id

),

estimates as (select * from {{ ref('int_linear__issue_estimates') }}),

-- The estimate in effect at the start (from that moment on) and at the completion (up to that moment).
estimate_at_start as (

    select flow.issue_id, estimates.estimate
    from flow
    inner join estimates
        on flow.issue_id = estimates.issue_id
        and estimates.valid_from <= flow.first_started_at
        and (estimates.valid_to is null or flow.first_started_at < estimates.valid_to)
    qualify row_number() over (partition by flow.issue_id order by estimates.valid_from desc) = 1

),

estimate_at_completion as (

    select flow.issue_id, estimates.estimate
    from flow
    inner join estimates
        on flow.issue_id = estimates.issue_id
        and estimates.valid_from < flow.completed_at
        and (estimates.valid_to is null or flow.completed_at <= estimates.valid_to)
    qualify row_number() over (partition by flow.issue_id order by estimates.valid_from desc) = 1

),

teams as (select team_id, team_key from {{ ref('stg_linear__teams') }}),

final as (

    select
        flow.issue_id,
        flow.issue_identifier,
        flow.team_id,
        teams.team_key,
        flow.state_type,
        flow.estimate,
        coalesce(flow.history_loaded, false) as history_loaded,
        flow.created_at,
        flow.first_started_at,
        flow.completed_at,
        flow.canceled_at,
        (epoch_us(flow.completed_at) - epoch_us(flow.created_at)) / 86400000000.0 as lead_time_days,
        (epoch_us(flow.completed_at) - epoch_us(flow.first_started_at)) / 86400000000.0 as cycle_time_days,
        case when flow.history_loaded then coalesce(days_pivot.days_triage, 0) end as days_triage,
        case when flow.history_loaded then coalesce(days_pivot.days_backlog, 0) end as days_backlog,
        case when flow.history_loaded then coalesce(days_pivot.days_unstarted, 0) end as days_unstarted,
        case when flow.history_loaded then coalesce(days_pivot.days_started, 0) end as days_started,
        case when flow.history_loaded then coalesce(days_pivot.days_completed, 0) end as days_completed,
        case when flow.history_loaded then coalesce(days_pivot.days_canceled, 0) end as days_canceled,
        flow.times_reopened,
        hours_split.hours,
        case when flow.history_loaded then hours_split.hours_before_start end as hours_before_start,
        case when flow.history_loaded then hours_split.hours_during end as hours_during,
        case when flow.history_loaded then hours_split.hours_after_completion end as hours_after_completion,
        case when flow.history_loaded and flow.first_started_at is not null then estimate_at_start.estimate end
            as estimate_at_start,
        case when flow.history_loaded and flow.completed_at is not null then estimate_at_completion.estimate end
            as estimate_at_completion
    from flow
    left join teams on flow.team_id = teams.team_id
    left join days_pivot on flow.issue_id = days_pivot.issue_id
    left join hours_split on flow.issue_id = hours_split.issue_id
    left join estimate_at_start on flow.issue_id = estimate_at_start.issue_id
    left join estimate_at_completion on flow.issue_id = estimate_at_completion.issue_id

)

select * from final
