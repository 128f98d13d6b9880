-- One row: the range the flow marts describe. range_start is the UTC midnight before the first counted time
-- entry's start, as_of the UTC midnight after the last one's: "now" for the open spans of unfinished issues
-- and for cycles that have not ended. Start instants, not local days (an entry counts where it started).
-- Without time entries: the latest history change, or now.
with

entries as (

    select min(started_at) as first_start, max(started_at) as last_start
    from {{ ref('int_time_entries_with_cycle') }}
    where not is_running and is_valid_interval  -- the entries the marts count

),

history as (select max(changed_at) as last_change from {{ ref('stg_linear__issue_history') }})

select
    coalesce(date_trunc('day', entries.first_start), date_trunc('day', history.last_change)) as range_start,
    coalesce(
        date_trunc('day', entries.last_start) + interval 1 day,
        history.last_change,
        cast(now() at time zone 'UTC' as timestamp)
    ) as as_of
from entries
cross join history
