-- One row per person and ISO week of their own calendar (Monday start): expected hours (their working days
-- times their hours a day), what holidays and approved time off take off, the capacity left, and the hours
-- they logged against it (each entry in its local week, as hours_per_person_week), matched or not.
with

days as (select * from {{ ref('int_clockify__capacity_days') }}),

time_entries as (select * from {{ ref('fct_time_entries') }}),

people as (select user_id, user_name from {{ ref('dim_people') }}),

-- A person's team: the Linear team their matched hours went to most over the whole range (ties: the
-- team key first in order); none without matched time.
team_hours as (

    select user_id, team_id, team_key, sum(hours) as hours
    from time_entries
    where team_id is not null
    group by all

),

teams as (

    select user_id, team_id, team_key
    from team_hours
    qualify row_number() over (partition by user_id order by hours desc, team_key, team_id) = 1

),

planned as (

    select
        user_id,
        week_start,
        count(*) filter (where is_working_day) as working_days,
        sum(expected_hours) as expected_hours,
        sum(holiday_hours) as holiday_hours,
        sum(time_off_hours) as time_off_hours,
        sum(capacity_hours) as capacity_hours
    from days
    group by all

),

logged as (

    select
        user_id,
        local_week_start as week_start,
        sum(hours) as logged_hours,
        coalesce(sum(hours) filter (where issue_id is not null), 0) as matched_hours
    from time_entries
    group by all

),

final as (

    select
        planned.user_id,
        people.user_name,
        teams.team_id,
        teams.team_key,
        planned.week_start,
        strftime(planned.week_start, '%G-W%V') as year_week,
        planned.working_days,
        planned.expected_hours,
        planned.holiday_hours,
        planned.time_off_hours,
        planned.capacity_hours,
        coalesce(logged.logged_hours, 0) as logged_hours,
        coalesce(logged.matched_hours, 0) as matched_hours,
        case when planned.capacity_hours > 0 then coalesce(logged.logged_hours, 0) / planned.capacity_hours end
            as utilisation,
        case when logged.logged_hours > 0 then logged.matched_hours / logged.logged_hours end as matched_share
    from planned
    left join logged on planned.user_id = logged.user_id and planned.week_start = logged.week_start
    left join people on planned.user_id = people.user_id
    left join teams on planned.user_id = teams.user_id

)

select * from final
