-- One row per Clockify user and ISO week of their own calendar (Monday start, by the entry's local_date in
-- the user's profile zone, else WAREHOUSE_TIMEZONE) with logged time.
with

time_entries as (select * from {{ ref('fct_time_entries') }}),

people as (select user_id, user_name from {{ ref('dim_people') }}),

weekly as (

    select
        user_id,
        local_week_start as week_start,
        sum(hours) as hours,
        coalesce(sum(hours) filter (where billable), 0) as billable_hours,
        coalesce(sum(hours) filter (where issue_id is not null), 0) as matched_hours,
        count(*) as time_entry_count
    from time_entries
    group by all

),

final as (

    select
        weekly.user_id,
        people.user_name,
        weekly.week_start,
        isoyear(weekly.week_start) as iso_year,
        weekofyear(weekly.week_start) as iso_week,
        strftime(weekly.week_start, '%G-W%V') as year_week,
        weekly.hours,
        weekly.billable_hours,
        weekly.matched_hours,
        weekly.hours - weekly.matched_hours as unmatched_hours,
        weekly.time_entry_count
    from weekly
    left join people on weekly.user_id = people.user_id

)

select * from final
