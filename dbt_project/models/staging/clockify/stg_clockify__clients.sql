with

source as (

    select * from {{ source('clockify', 'clockify_clients') }}

),

renamed as (

    select
        id as client_id,
        name as client_name,
        workspace_id,
        coalesce(archived, false) as is_archived,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by client_id order by loaded_at desc) = 1

)

select * from latest
