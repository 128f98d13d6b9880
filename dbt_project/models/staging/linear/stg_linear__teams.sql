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

    select * from renamed
    qualify row_number() over (
        partition by team_id order by updated_at desc nulls last, loaded_at desc
    ) = 1

)

select * from latest
