-- Shown in Dagster as an asset check on capacity_per_person_week (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'capacity_per_person_week'}}}) }}

-- Every counted hour is in capacity_per_person_week exactly once (logged and matched hours sum to
-- fct_time_entries'), and capacity is expected hours less holidays and time off, never below zero.
with

mart as (
    select
        coalesce(sum(logged_hours), 0) as logged_hours,
        coalesce(sum(matched_hours), 0) as matched_hours,
        count(*) filter (where abs(capacity_hours - (expected_hours - holiday_hours - time_off_hours)) > 1e-9
            or capacity_hours < -1e-9) as bad_rows
    from {{ ref('capacity_per_person_week') }}
),

facts as (
    select
        coalesce(sum(hours), 0) as logged_hours,
        coalesce(sum(hours) filter (where issue_id is not null), 0) as matched_hours
    from {{ ref('fct_time_entries') }}
)

select mart.*, f.logged_hours as fact_logged_hours, f.matched_hours as fact_matched_hours
from mart
cross join facts as f
where abs(mart.logged_hours - f.logged_hours) > 1e-6
   or abs(mart.matched_hours - f.matched_hours) > 1e-6
   or mart.bad_rows > 0
