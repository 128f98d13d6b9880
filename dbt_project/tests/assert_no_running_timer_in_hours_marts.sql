-- Shown in Dagster as an asset check on fct_time_entries (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'fct_time_entries'}}}) }}

-- No running timer (and no invalid interval) counts anywhere: every hours mart's total equals the
-- total over completed, valid entries in staging (matched/cycled subsets where the mart is).
with

stg as (
    select
        sum(entries.hours) as total,
        sum(entries.hours) filter (where matched.issue_id is not null) as matched,
        sum(entries.hours) filter (where matched.cycle_id is not null) as cycled
    from {{ ref('stg_clockify__time_entries') }} as entries
    inner join {{ ref('int_time_entries_with_cycle') }} as matched using (time_entry_id)
    where not entries.is_running and entries.is_valid_interval
),

marts as (
    select 'fct_time_entries' as mart, (select sum(hours) from {{ ref('fct_time_entries') }}) as hours, 'total' as expected
    union all select 'hours_per_person_week', (select sum(hours) from {{ ref('hours_per_person_week') }}), 'total'
    union all select 'unmatched_hours_by_project', (select sum(total_hours) from {{ ref('unmatched_hours_by_project') }}), 'total'
    union all select 'unmatched_hours_by_person', (select sum(total_hours) from {{ ref('unmatched_hours_by_person') }}), 'total'
    union all select 'hours_per_issue', (select sum(hours) from {{ ref('hours_per_issue') }}), 'matched'
    union all select 'hours_per_team', (select sum(hours) from {{ ref('hours_per_team') }}), 'matched'
    union all select 'estimate_vs_actual_by_team', (select sum(hours) from {{ ref('estimate_vs_actual_by_team') }}), 'matched'
    union all select 'hours_per_cycle', (select sum(hours) from {{ ref('hours_per_cycle') }}), 'cycled'
    union all select 'estimate_vs_actual_by_cycle', (select sum(hours) from {{ ref('estimate_vs_actual_by_cycle') }}), 'cycled'
)

select marts.*, stg.*
from marts
cross join stg
where {{ hours_differ(
    'coalesce(marts.hours, 0)',
    "coalesce(case marts.expected when 'total' then stg.total when 'matched' then stg.matched else stg.cycled end, 0)"
) }}
