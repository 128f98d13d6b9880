-- One row per Clockify user group with its members (for holidays given to groups).
with

source as (

    select * from {{ source('clockify', 'clockify_user_groups') }}

),

renamed as (

    select
        id as user_group_id,
        name as user_group_name,
        coalesce(user_ids, []) as user_ids,
        _loaded_at as loaded_at

    from source
    where id is not null

)

select * from renamed
qualify row_number() over (partition by user_group_id order by loaded_at desc) = 1
