with

source as (

    select * from {{ source('clockify', 'clockify_users') }}

),

renamed as (

    select
        id as user_id,
        name as user_name,
        email,
        status,
        workspace_id,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by user_id order by loaded_at desc) = 1

)

select * from latest
