with

source as (

    select * from {{ source('linear', 'linear_customers') }}

),

renamed as (

    select
        id as customer_id,
        name as customer_name,
        domains,
        revenue,
        size,
        created_at,
        updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    {{ latest_version('renamed', 'customer_id') }}

)

select * from latest
