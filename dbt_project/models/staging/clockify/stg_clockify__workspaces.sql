with

source as (

    select * from {{ source('clockify', 'clockify_workspaces') }}

),

renamed as (

    select
        id as workspace_id,
        name as workspace_name,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by workspace_id order by loaded_at desc) = 1

)

select * from latest
