with

source as (

    select * from {{ source('linear', 'linear_labels') }}

),

renamed as (

    select
        id as label_id,
        name as label_name,
        coalesce(is_group, false) as is_group,
        parent_id as parent_label_id,
        team_id,
        archived_at,
        created_at,
        updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    {{ latest_version('renamed', 'label_id') }}

)

select * from latest
