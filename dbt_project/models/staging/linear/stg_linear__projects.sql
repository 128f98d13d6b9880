with

source as (

    select * from {{ source('linear', 'linear_projects') }}

),

renamed as (

    select
        id as linear_project_id,
        name as project_name,
        status as project_status,
        start_date,
        target_date,
        created_at,
        updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (
        partition by linear_project_id order by updated_at desc nulls last, loaded_at desc
    ) = 1

)

select * from latest
