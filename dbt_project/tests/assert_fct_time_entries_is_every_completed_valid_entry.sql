-- Shown in Dagster as an asset check on fct_time_entries (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'fct_time_entries'}}}) }}

-- fct_time_entries holds exactly the completed entries with a valid interval of staging, once each,
-- with their staging hours: nothing dropped by a join, nothing duplicated, no running timer.
with

expected as (
    select time_entry_id, hours
    from {{ ref('stg_clockify__time_entries') }}
    where not is_running and is_valid_interval
),

actual as (
    select time_entry_id, hours from {{ ref('fct_time_entries') }}
)

select coalesce(expected.time_entry_id, actual.time_entry_id) as time_entry_id,
       expected.hours as expected_hours,
       actual.hours as actual_hours
from expected
full outer join actual on expected.time_entry_id = actual.time_entry_id
where expected.time_entry_id is null
   or actual.time_entry_id is null
   or abs(expected.hours - actual.hours) > 1e-9
