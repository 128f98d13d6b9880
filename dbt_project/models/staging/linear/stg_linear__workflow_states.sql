with

source as (

    select * from {{ source('linear', 'linear_workflow_states') }}

),

renamed as (

    select
        id as state_id,
        team_id,
        name as state_name,
        type as state_type,
        position,
        updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (
        partition by state_id order by updated_at desc nulls last, loaded_at desc
    ) = 1

)

select * from latest
