-- Every counted time entry on an issue, with the workflow state its issue was in when the entry started: the
-- state span with started_at <= entry start < ended_at (int_linear__issue_state_spans). An entry started
-- before its issue existed is 'before_created'; one in a gap between spans (bad data) 'unknown'. Should spans
-- overlap (bad data), the later-starting one wins, so an hour lands in exactly one state.
with

entries as (

    -- the entries the marts count (fct_time_entries' rule): finished, with a valid interval
    select time_entry_id, issue_id, user_id, billable, started_at, ended_at, hours
    from {{ ref('int_time_entries_with_cycle') }}
    where issue_id is not null and not is_running and is_valid_interval

),

spans as (select * from {{ ref('int_linear__issue_state_spans') }}),

in_span as (

    select
        entries.time_entry_id,
        spans.span_id,
        spans.state_id,
        spans.state_name,
        spans.state_type,
        spans.state_team_id
    from entries
    inner join spans
        on entries.issue_id = spans.issue_id
        and spans.started_at <= entries.started_at
        and (spans.ended_at is null or entries.started_at < spans.ended_at)
    qualify row_number() over (
        partition by entries.time_entry_id
        order by spans.started_at desc, spans.span_id
    ) = 1

),

issue_spans as (

    select issue_id, min(started_at) as first_span_at, bool_or(history_loaded) as history_loaded
    from spans
    group by issue_id

),

final as (

    select
        entries.*,
        in_span.span_id,
        in_span.state_id,
        in_span.state_name,
        coalesce(
            in_span.state_type,
            case when entries.started_at < issue_spans.first_span_at then 'before_created' else 'unknown' end
        ) as state_type,
        in_span.state_team_id,
        coalesce(issue_spans.history_loaded, false) as history_loaded
    from entries
    left join in_span on entries.time_entry_id = in_span.time_entry_id
    left join issue_spans on entries.issue_id = issue_spans.issue_id

)

select * from final
