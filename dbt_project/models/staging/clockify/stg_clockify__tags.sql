with

source as (

    select * from {{ source('clockify', 'clockify_tags') }}

),

renamed as (

    select
        id as tag_id,
        name as tag_name,
        workspace_id,
        coalesce(archived, false) as is_archived,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by tag_id order by loaded_at desc) = 1

)

select * from latest
