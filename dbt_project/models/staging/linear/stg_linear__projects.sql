with

source as (

    select * from {{ source('linear', 'linear_projects') }}

),

renamed as (

    select
        id as linear_project_id,
        name as project_name,
        status as project_status,
        lead_id,
        progress,
        start_date,
        target_date,
        created_at,
        updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    {{ latest_version('renamed', 'linear_project_id') }}

)

select * from latest
