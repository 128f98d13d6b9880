-- One row per Clockify user and ISO week of their own calendar (Monday start, by the entry's local_date in
-- the user's profile zone, else WAREHOUSE_TIMEZONE) with logged time.
with

time_entries as (select * from {{ ref('fct_time_entries') }}),

users as (select user_id, user_name from {{ ref('stg_clockify__users') }}),

-- A user the list no longer returns keeps the name of their latest entry (fct_time_entries' user_name).
entry_names as (

    select user_id, arg_max(user_name, {'started_at': started_at, 'time_entry_id': time_entry_id}) as user_name
    from time_entries
    where user_name is not null
    group by user_id

),

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
        coalesce(users.user_name, entry_names.user_name) as user_name,
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
    left join users on weekly.user_id = users.user_id
    left join entry_names on weekly.user_id = entry_names.user_id

)

select * from final
