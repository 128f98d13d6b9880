-- One row per Clockify holiday, with its first and last date (both inclusive) and who it is for.
with

source as (

    select * from {{ source('clockify', 'clockify_holidays') }}

),

renamed as (

    select
        id as holiday_id,
        name as holiday_name,
        -- YYYY-MM-DD as probed; the first ten characters of a timestamp are the same date
        try_cast(left(start_date, 10) as date) as start_date,
        coalesce(try_cast(left(end_date, 10) as date), try_cast(left(start_date, 10) as date)) as end_date,
        coalesce(everyone, false) as is_for_everyone,
        coalesce(user_ids, []) as user_ids,
        coalesce(user_group_ids, []) as user_group_ids,
        coalesce(occurs_annually, false) as occurs_annually,
        _loaded_at as loaded_at

    from source
    where id is not null

)

select * from renamed
qualify row_number() over (partition by holiday_id order by loaded_at desc) = 1
