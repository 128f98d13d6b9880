-- One row per approved Clockify time-off request: its period (UTC instants), unit and half-day flag.
with

source as (

    select * from {{ source('clockify', 'clockify_time_off_requests') }}

),

renamed as (

    select
        id as time_off_id,
        user_id,
        policy_name,
        status,
        upper(time_unit) as time_unit,
        period_start,
        period_end,
        coalesce(half_day, false) as is_half_day,
        nullif(user_time_zone, '') as user_time_zone,
        created_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by time_off_id order by loaded_at desc) = 1

)

-- the load asks for approved requests only; a pending or rejected one takes nothing off
select * from latest
where status = 'APPROVED' and period_start is not null and period_end is not null
