-- Per Clockify user: hours not matched to any Linear issue, total hours, and the unmatched share
-- (null when the user has 0 hours in total).
with

time_entries as (select * from {{ ref('fct_time_entries') }}),

people as (select user_id, user_name from {{ ref('dim_people') }}),

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
        people.user_name,
        per_person.unmatched_hours,
        per_person.total_hours,
        per_person.unmatched_hours / nullif(per_person.total_hours, 0) as unmatched_share,
        per_person.unmatched_time_entry_count,
        per_person.time_entry_count
    from per_person
    left join people on per_person.user_id = people.user_id

)

select * from final
