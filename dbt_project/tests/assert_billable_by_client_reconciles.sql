-- Shown in Dagster as an asset check on billable_by_client (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'billable_by_client'}}}) }}

-- billable_by_client sums to fct_time_entries: in total, per project (and time without one) and per
-- client, for hours and billable hours; an hour is counted once.
with

fct as (
    select f.hours, f.billable, f.project_id, p.client_id
    from {{ ref('fct_time_entries') }} as f
    left join {{ ref('stg_clockify__projects') }} as p on f.project_id = p.project_id
),

mart as (select * from {{ ref('billable_by_client') }}),

total_mismatch as (
    select
        'total' as what,
        (select coalesce(sum(hours), 0) from fct) as expected_hours,
        coalesce(sum(hours), 0) as mart_hours
    from mart
    having {{ hours_differ('expected_hours', 'mart_hours') }}
    union all
    select
        'billable total',
        (select coalesce(sum(hours) filter (where billable), 0) from fct),
        coalesce(sum(billable_hours), 0)
    from mart
    having {{ hours_differ('(select coalesce(sum(hours) filter (where billable), 0) from fct)', 'coalesce(sum(billable_hours), 0)') }}
),

by_project as (
    select coalesce(e.project_id, m.project_id) as project_id, e.hours as expected_hours, m.hours as mart_hours
    from (select project_id, sum(hours) as hours from fct group by project_id) as e
    full outer join (select project_id, sum(hours) as hours from mart group by project_id) as m
        on e.project_id is not distinct from m.project_id
),

project_mismatch as (
    select 'project ' || coalesce(project_id, '(none)'), coalesce(expected_hours, 0), coalesce(mart_hours, 0)
    from by_project
    where {{ hours_differ('coalesce(expected_hours, 0)', 'coalesce(mart_hours, 0)') }}
),

by_client as (
    select coalesce(e.client_id, m.client_id) as client_id, e.hours as expected_hours, m.hours as mart_hours
    from (select client_id, sum(hours) as hours from fct group by client_id) as e
    full outer join (select client_id, sum(hours) as hours from mart group by client_id) as m
        on e.client_id is not distinct from m.client_id
),

client_mismatch as (
    select 'client ' || coalesce(client_id, '(none)'), coalesce(expected_hours, 0), coalesce(mart_hours, 0)
    from by_client
    where {{ hours_differ('coalesce(expected_hours, 0)', 'coalesce(mart_hours, 0)') }}
)

select * from total_mismatch
union all
select * from project_mismatch
union all
select * from client_mismatch
