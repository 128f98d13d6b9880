with

source as (

    select * from {{ source('linear', 'linear_customer_needs') }}

),

renamed as (

    select
        id as customer_need_id,
        customer_id,
        issue_id,
        project_id as linear_project_id,
        coalesce(priority, 0) = 1 as is_important,
        archived_at,
        created_at,
        updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    {{ latest_version('renamed', 'customer_need_id') }}

)

select * from latest
