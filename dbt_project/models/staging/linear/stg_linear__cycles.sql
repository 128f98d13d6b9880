with

source as (

    select * from {{ source('linear', 'linear_cycles') }}

),

renamed as (

    select
        id as cycle_id,
        team_id,
        number as cycle_number,
        name as cycle_name,
        starts_at,
        ends_at,
        completed_at,
        updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    {{ latest_version('renamed', 'cycle_id') }}

)

select * from latest
