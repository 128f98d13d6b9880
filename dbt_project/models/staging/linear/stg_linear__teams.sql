with

source as (

    select * from {{ source('linear', 'linear_teams') }}

),

renamed as (

    select
        id as team_id,
        key as team_key,
        name as team_name,
        timezone,
        cycles_enabled,
        created_at,
        updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    {{ latest_version('renamed', 'team_id') }}

)

select * from latest
