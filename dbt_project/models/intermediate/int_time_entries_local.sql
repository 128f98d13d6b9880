-- Every time entry (stg_clockify__time_entries) on its person's own calendar: the zone their days and weeks
-- are counted in (the Clockify profile zone, else WAREHOUSE_TIMEZONE, also for a zone name DuckDB's ICU does
-- not know, rather than failing the build), and the local start, day and ISO week (Monday start) their
-- timesheet shows the entry on. Staging reads only its source; the join with the users is here.
with

time_entries as (

    select * from {{ ref('stg_clockify__time_entries') }}

),

users as (

    select user_id, time_zone from {{ ref('stg_clockify__users') }}

),

known_zones as (

    select name from pg_timezone_names()

),

zoned as (

    select
        time_entries.*,
        coalesce(known_zones.name, {{ warehouse_timezone() }}) as time_zone,
        -- started_at is naive UTC: read it as UTC, render it as the wall clock in the person's zone
        -- (DST-correct per instant; independent of the session's and the machine's zone)
        timezone(coalesce(known_zones.name, {{ warehouse_timezone() }}), timezone('UTC', time_entries.started_at))
            as local_started_at
    from time_entries
    left join users on time_entries.user_id = users.user_id
    left join known_zones on users.time_zone = known_zones.name

)

select
    *,
    cast(local_started_at as date) as local_date,
    cast(date_trunc('week', local_started_at) as date) as local_week_start,
    -- the ISO year and week (2024-12-30 is in 2025-W01); strftime is a third of printf's time here
    strftime(local_started_at, '%G-W%V') as local_week
from zoned
