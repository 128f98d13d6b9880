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

    select * from renamed
    qualify row_number() over (
        partition by customer_id order by updated_at desc nulls last, loaded_at desc
    ) = 1

)

select * from latest
