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

    {{ latest_version('renamed', 'state_id') }}

)

select * from latest
