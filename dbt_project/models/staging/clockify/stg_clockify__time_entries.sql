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

final as (

    select
        *,
        ended_at is null as is_running,
        -- false for bad input (end before start, or an unparseable start): kept here, excluded from marts
        started_at is not null and (ended_at is null or ended_at >= started_at) as is_valid_interval,
        cast(started_at as date) as entry_date,
        case
            when ended_at >= started_at then {{ hours_between('started_at', 'ended_at') }}
        end as hours

    from latest

)

select * from final
