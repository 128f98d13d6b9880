-- Shown in Dagster as an asset check on hours_per_linear_project (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'hours_per_linear_project'}}}) }}

-- hours_per_linear_project sums to the matched hours of fct_time_entries, and each project's hours are
-- the hours of the entries whose issue is in it now.
with

fct as (
    select f.hours, f.billable, i.linear_project_id
    from {{ ref('fct_time_entries') }} as f
    left join {{ ref('stg_linear__issues') }} as i on f.issue_id = i.issue_id
    where f.issue_id is not null
),

expected as (select linear_project_id, sum(hours) as hours from fct group by linear_project_id),

total_mismatch as (
    select 'total' as what, (select coalesce(sum(hours), 0) from fct) as expected_hours, sum(m.hours) as mart_hours
    from {{ ref('hours_per_linear_project') }} as m
    having {{ hours_differ('expected_hours', 'coalesce(sum(m.hours), 0)') }}
),

project_mismatch as (
    select 'project ' || coalesce(m.linear_project_id, '(none)'), coalesce(e.hours, 0), m.hours
    from {{ ref('hours_per_linear_project') }} as m
    left join expected as e on m.linear_project_id is not distinct from e.linear_project_id
    where {{ hours_differ('m.hours', 'coalesce(e.hours, 0)') }}
)

select * from total_mismatch
union all
select * from project_mismatch
