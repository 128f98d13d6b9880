with

source as (

    select * from {{ source('clockify', 'clockify_projects') }}

),

renamed as (

    select
        id as project_id,
        name as project_name,
        nullif(client_id, '') as client_id,
        workspace_id,
        billable,
        coalesce(archived, false) as is_archived,
        hourly_rate as hourly_rate_cents,  -- billable rate in cents (null or 0: none set)
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by project_id order by loaded_at desc) = 1

)

select * from latest
