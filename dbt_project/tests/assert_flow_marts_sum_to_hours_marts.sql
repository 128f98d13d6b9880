-- Shown in Dagster as an asset check on hours_per_issue_state (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'hours_per_issue_state'}}}) }}

-- The flow marts count each hour once: per issue, hours_per_issue_state sums to hours_per_issue; per cycle,
-- cycle_scope's planned + added + outside hours sum to hours_per_cycle; issue_flow's before/during/after
-- split sums to the issue's hours wherever the history is loaded.
with

per_issue_state as (
    select issue_id, sum(hours) as hours from {{ ref('hours_per_issue_state') }} group by issue_id
),

issue_mismatch as (
    select 'issue ' || coalesce(i.issue_id, s.issue_id) as what, i.hours as expected, s.hours as actual
    from {{ ref('hours_per_issue') }} as i
    full outer join per_issue_state as s on i.issue_id = s.issue_id
    where i.issue_id is null or s.issue_id is null or {{ hours_differ('i.hours', 's.hours') }}
),

cycle_mismatch as (
    select 'cycle ' || c.cycle_id, c.hours, s.planned_hours + s.added_hours + s.outside_hours
    from {{ ref('hours_per_cycle') }} as c
    left join {{ ref('cycle_scope') }} as s on c.cycle_id = s.cycle_id
    where s.cycle_id is null
       or {{ hours_differ('c.hours', 's.planned_hours + s.added_hours + s.outside_hours') }}
),

flow_mismatch as (
    select 'flow ' || issue_id, hours, hours_before_start + hours_during + hours_after_completion
    from {{ ref('issue_flow') }}
    where history_loaded
      and {{ hours_differ('hours', 'hours_before_start + hours_during + hours_after_completion') }}
)

select * from issue_mismatch
union all
select * from cycle_mismatch
union all
select * from flow_mismatch
