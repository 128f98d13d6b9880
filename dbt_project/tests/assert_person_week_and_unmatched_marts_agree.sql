-- Shown in Dagster as an asset check on hours_per_person_week (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'hours_per_person_week'}}}) }}

-- The per-person marts agree with each other: a person's hours over all weeks equal their total in
-- unmatched_hours_by_person, and their unmatched hours equal hours minus matched hours over the weeks.
with

weeks as (
    select user_id, sum(hours) as hours, sum(hours - matched_hours) as unmatched_hours
    from {{ ref('hours_per_person_week') }}
    group by user_id
),

people as (
    select user_id, total_hours, unmatched_hours from {{ ref('unmatched_hours_by_person') }}
)

select coalesce(weeks.user_id, people.user_id) as user_id, weeks.hours, people.total_hours,
       weeks.unmatched_hours as week_unmatched, people.unmatched_hours as person_unmatched
from weeks
full outer join people on weeks.user_id = people.user_id
where weeks.user_id is null or people.user_id is null
   or {{ hours_differ('weeks.hours', 'people.total_hours') }}
   or {{ hours_differ('weeks.unmatched_hours', 'people.unmatched_hours') }}
