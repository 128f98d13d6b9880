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

    select * from renamed
    qualify row_number() over (
        partition by linear_user_id order by updated_at desc nulls last, loaded_at desc
    ) = 1

)

select * from latest
