-- One row per person and day of their own calendar: the hours they are expected to work, what holidays and
-- approved time off take off that, and the capacity left. The days run from the Monday of the first counted
-- entry's local week to the Sunday of the last one's (any person's); someone no longer active in the
-- workspace (or no longer listed) only up to the Sunday of their own last week with time.
with

entries as (

    select user_id, local_date  -- each entry's day in its author's zone (int_time_entries_local)
    from {{ ref('int_time_entries_local') }}
    where not is_running and is_valid_interval  -- the entries the marts count

),

date_range as (

    select
        cast(date_trunc('week', min(local_date)) as date) as first_day,
        cast(date_trunc('week', max(local_date)) as date) + 6 as last_day
    from entries

),

users as (select user_id, time_zone, is_active_member from {{ ref('stg_clockify__users') }}),

known_zones as (select name from pg_timezone_names()),

last_entry as (

    select user_id, cast(date_trunc('week', max(local_date)) as date) + 6 as last_day
    from entries
    group by user_id

),

people as (

    select
        coalesce(users.user_id, last_entry.user_id) as user_id,
        coalesce(known_zones.name, {{ warehouse_timezone() }}) as time_zone,
        case
            when users.user_id is not null and users.is_active_member is distinct from false then date_range.last_day
            else last_entry.last_day
        end as last_day
    from users
    full outer join last_entry on users.user_id = last_entry.user_id
    left join known_zones on users.time_zone = known_zones.name
    cross join date_range

),

workspace_days as (

    select working_days from {{ ref('stg_clockify__workspace_working_days') }}
    order by loaded_at desc
    limit 1

),

schedule as (

    select
        people.user_id,
        people.time_zone,
        people.last_day,
        coalesce(
            profiles.working_days,
            (select working_days from workspace_days),
            ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY']
        ) as working_days,
        coalesce(profiles.work_capacity_hours, {{ warehouse_workday_hours() }}) as workday_hours
    from people
    left join {{ ref('stg_clockify__member_profiles') }} as profiles on people.user_id = profiles.user_id

),

days as (

    select
        schedule.user_id,
        schedule.time_zone,
        cast(day as date) as local_date,
        schedule.workday_hours,
        list_contains(schedule.working_days, upper(dayname(cast(day as date)))) as is_working_day
    from schedule
    cross join date_range
    cross join generate_series(
        cast(date_range.first_day as timestamp), cast(date_range.last_day as timestamp), interval 1 day
    ) as g(day)
    where cast(day as date) <= schedule.last_day

),

listed_holidays as (select * from {{ ref('stg_clockify__holidays') }}),

user_groups as (select * from {{ ref('stg_clockify__user_groups') }}),

-- Who a holiday is for when not everyone: the people it names and the members of the groups it names.
group_members as (

    select listed_holidays.holiday_id, flatten(list(user_groups.user_ids)) as user_ids
    from listed_holidays
    join user_groups on list_contains(listed_holidays.user_group_ids, user_groups.user_group_id)
    group by listed_holidays.holiday_id

),

holidays as (

    select
        listed_holidays.*,
        list_concat(listed_holidays.user_ids, coalesce(group_members.user_ids, [])) as member_ids
    from listed_holidays
    left join group_members on listed_holidays.holiday_id = group_members.holiday_id

),

-- A holiday falls on a day when the day is within its dates, or, repeating yearly, within them moved to
-- the day's year (or the year before, for one spanning New Year), from its first year on.
holiday_days as (

    select days.user_id, days.local_date, string_agg(distinct holidays.holiday_name, ', ' order by holidays.holiday_name) as holiday_names
    from days
    join holidays
        on (holidays.is_for_everyone or list_contains(holidays.member_ids, days.user_id))
        and (
            days.local_date between holidays.start_date and holidays.end_date
            or (
                holidays.occurs_annually
                and year(days.local_date) >= year(holidays.start_date)
                and exists (
                    select 1
                    from (values (0), (1)) as back(years)
                    where days.local_date
                        between holidays.start_date + to_years(cast(year(days.local_date) - year(holidays.start_date) - back.years as integer))
                        and holidays.end_date + to_years(cast(year(days.local_date) - year(holidays.start_date) - back.years as integer))
                )
            )
        )
    group by all

),

time_off as (

    select
        t.*,
        coalesce(zone.name, people.time_zone, {{ warehouse_timezone() }}) as zone_name,
        -- A DAYS period either spans the person's own midnights (as UTC instants) or names UTC dates
        -- (which one the API sends is open): one starting at UTC midnight is read as dates, any other in
        -- the person's zone. The end is inclusive to the millisecond (23:59:59.999), or an exclusive midnight.
        t.period_start = date_trunc('day', t.period_start) as is_utc_dates
    from {{ ref('stg_clockify__time_off') }} as t
    left join people on t.user_id = people.user_id
    left join known_zones as zone on t.user_time_zone = zone.name

),

time_off_spans as (

    select
        user_id,
        time_unit,
        is_half_day,
        case
            when time_unit = 'DAYS' and is_utc_dates then cast(period_start as date)
            else cast(timezone(zone_name, timezone('UTC', period_start)) as date)
        end as first_day,
        case
            when time_unit = 'DAYS' and is_utc_dates then cast(period_end - interval 1 millisecond as date)
            when time_unit = 'DAYS' then cast(timezone(zone_name, timezone('UTC', period_end - interval 1 millisecond)) as date)
            else cast(timezone(zone_name, timezone('UTC', period_start)) as date)
        end as last_day,
        {{ hours_between('period_start', 'period_end') }} as period_hours
    from time_off

),

-- What each day's time off asks: a share of the day's expected hours (DAYS: 1, a half day 0.5), or hours.
time_off_days as (

    select
        days.user_id,
        days.local_date,
        coalesce(sum(case when spans.time_unit = 'DAYS' then (case when spans.is_half_day then 0.5 else 1.0 end) end), 0)
            as day_shares,
        coalesce(sum(case when spans.time_unit = 'HOURS' then spans.period_hours end), 0) as off_hours
    from days
    join time_off_spans as spans
        on days.user_id = spans.user_id
        and days.local_date between spans.first_day and greatest(spans.first_day, spans.last_day)
    group by all

),

final as (

    select
        days.user_id,
        days.local_date,
        cast(date_trunc('week', days.local_date) as date) as week_start,
        days.time_zone,
        days.is_working_day,
        days.workday_hours,
        case when days.is_working_day then days.workday_hours else 0.0 end as expected_hours,
        holiday_days.holiday_names,
        case when days.is_working_day and holiday_days.user_id is not null then days.workday_hours else 0.0 end
            as holiday_hours,
        -- time off counts on working days that are no holiday, never more than the day's hours
        case
            when days.is_working_day and holiday_days.user_id is null and time_off_days.user_id is not null then
                least(
                    days.workday_hours,
                    time_off_days.day_shares * days.workday_hours + time_off_days.off_hours
                )
            else 0.0
        end as time_off_hours
    from days
    left join holiday_days on days.user_id = holiday_days.user_id and days.local_date = holiday_days.local_date
    left join time_off_days on days.user_id = time_off_days.user_id and days.local_date = time_off_days.local_date

)

select
    *,
    expected_hours - holiday_hours - time_off_hours as capacity_hours
from final
