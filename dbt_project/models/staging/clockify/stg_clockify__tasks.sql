with

source as (

    select * from {{ source('clockify', 'clockify_tasks') }}

),

renamed as (

    select
        id as task_id,
        name as task_name,
        nullif(project_id, '') as project_id,
        status,
        estimate as estimate_iso,
        billable,
        hourly_rate as hourly_rate_cents,  -- billable rate in cents (null or 0: none set)
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by task_id order by loaded_at desc) = 1

)

select * from latest
