with

source as (

    select * from {{ source('clockify', 'clockify_time_entries') }}

),

renamed as (

    select
        id as time_entry_id,
        workspace_id,
        user_id,
        -- the API sends '' as well as null for "none"
        nullif(project_id, '') as project_id,
        nullif(task_id, '') as task_id,
        tag_ids,
        description,
        coalesce(billable, false) as billable,
        type as entry_type,
        started_at,
        ended_at,
        -- The report's names for the entry's user, project, task and client ('' = none): the fallback
        -- where the lists no longer return them (a removed user, a DONE task no listing shows).
        nullif(user_name, '') as report_user_name,
        nullif(user_email, '') as report_user_email,
        nullif(project_name, '') as report_project_name,
        nullif(task_name, '') as report_task_name,
        nullif(client_name, '') as report_client_name,
        -- The price Clockify recorded with the entry: the report's `rate` (cents), else the main API's
        -- `hourlyRate.amount` (cents); the report's `amount` is kept as sent (its unit is an open fact).
        coalesce(rate, hourly_rate) as recorded_rate_cents,
        amount as report_amount,
        _partition_date as partition_date,
        _loaded_at as loaded_at

    from source
    where id is not null

),

-- An entry edited after it was loaded (e.g. its start moved to another day) can sit in several
-- partitions: keep the most recently loaded version.
latest as (

    select * from renamed
    qualify row_number() over (
        partition by time_entry_id
        order by loaded_at desc, partition_date desc
    ) = 1

),

-- The zone each person's days and weeks are counted in: the Clockify profile zone, else WAREHOUSE_TIMEZONE
-- (also for a zone name DuckDB's ICU does not know, rather than failing the build).
users as (

    select user_id, time_zone from {{ ref('stg_clockify__users') }}

),

known_zones as (

    select name from pg_timezone_names()

),

zoned as (

    select
        latest.*,
        coalesce(known_zones.name, {{ warehouse_timezone() }}) as time_zone,
        -- started_at is naive UTC: read it as UTC, render it as the wall clock in the person's zone
        -- (DST-correct per instant; independent of the session's and the machine's zone)
        timezone(coalesce(known_zones.name, {{ warehouse_timezone() }}), timezone('UTC', latest.started_at))
            as local_started_at
    from latest
    left join users on latest.user_id = users.user_id
    left join known_zones on users.time_zone = known_zones.name

),

final as (

    select
        *,
        ended_at is null as is_running,
        -- false for bad input (end before start, or an unparseable start): kept here, excluded from marts
        started_at is not null and (ended_at is null or ended_at >= started_at) as is_valid_interval,
        cast(started_at as date) as entry_date,
        -- the person's own calendar: the day and ISO week (Monday start) their timesheet shows the entry on
        cast(local_started_at as date) as local_date,
        cast(date_trunc('week', local_started_at) as date) as local_week_start,
        printf('%04d-W%02d', isoyear(local_started_at), weekofyear(local_started_at)) as local_week,
        case
            when ended_at >= started_at then {{ hours_between('started_at', 'ended_at') }}
        end as hours

    from zoned

)

select * from final
