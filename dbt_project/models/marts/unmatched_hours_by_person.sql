-- Per Clockify user: hours not matched to any Linear issue, total hours, and the unmatched share
-- (null when the user has 0 hours in total).
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

per_person as (

    select
        user_id,
        coalesce(sum(hours) filter (where issue_id is null), 0) as unmatched_hours,
        sum(hours) as total_hours,
        count(*) filter (where issue_id is null) as unmatched_time_entry_count,
        count(*) as time_entry_count
    from time_entries
    group by user_id

),

final as (

    select
        per_person.user_id,
        coalesce(users.user_name, entry_names.user_name) as user_name,
        per_person.unmatched_hours,
        per_person.total_hours,
        per_person.unmatched_hours / nullif(per_person.total_hours, 0) as unmatched_share,
        per_person.unmatched_time_entry_count,
        per_person.time_entry_count
    from per_person
    left join users on per_person.user_id = users.user_id
    left join entry_names on per_person.user_id = entry_names.user_id

)

select * from final
