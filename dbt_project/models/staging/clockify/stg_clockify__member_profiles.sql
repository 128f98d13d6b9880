-- One row per person with a Clockify member profile: hours per working day and working days, as set there.
with

source as (

    select * from {{ source('clockify', 'clockify_member_profiles') }}

),

renamed as (

    select
        id as user_id,
        work_capacity,
        {{ iso_duration_hours('work_capacity') }} as work_capacity_hours,
        -- an empty list means none set: the workspace's working days apply
        case when len(working_days) > 0 then list_transform(working_days, lambda d: upper(d)) end as working_days,
        _loaded_at as loaded_at

    from source
    where id is not null

)

select * from renamed
qualify row_number() over (partition by user_id order by loaded_at desc) = 1
