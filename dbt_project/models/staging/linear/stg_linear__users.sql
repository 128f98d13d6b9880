with

source as (

    select * from {{ source('linear', 'linear_users') }}

),

renamed as (

    select
        id as linear_user_id,
        name as user_name,
        display_name,
        email,
        active as is_active,
        created_at,
        updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    {{ latest_version('renamed', 'linear_user_id') }}

)

select * from latest
