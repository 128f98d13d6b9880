-- Shown in Dagster as an asset check on hours_per_team (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'hours_per_team'}}}) }}

-- hours_per_team sums to the matched hours of fct_time_entries (an hour counted once, in one team),
-- and so does hours_per_issue; each team's hours equal the sum over its issues.
with

fct as (
    select coalesce(sum(hours), 0) as matched_hours
    from {{ ref('fct_time_entries') }}
    where issue_id is not null
),

team_total as (select coalesce(sum(hours), 0) as hours from {{ ref('hours_per_team') }}),

issue_total as (select coalesce(sum(hours), 0) as hours from {{ ref('hours_per_issue') }}),

per_team_from_issues as (
    select team_id, sum(hours) as hours from {{ ref('hours_per_issue') }} group by team_id
),

totals_mismatch as (
    select 'total' as what, fct.matched_hours, team_total.hours as team_hours, issue_total.hours as issue_hours
    from fct, team_total, issue_total
    where {{ hours_differ('fct.matched_hours', 'team_total.hours') }}
       or {{ hours_differ('fct.matched_hours', 'issue_total.hours') }}
),

team_mismatch as (
    select 'team ' || coalesce(t.team_key, t.team_id) as what, null, t.hours, coalesce(i.hours, 0)
    from {{ ref('hours_per_team') }} as t
    left join per_team_from_issues as i on t.team_id is not distinct from i.team_id
    where {{ hours_differ('t.hours', 'coalesce(i.hours, 0)') }}
)

select * from totals_mismatch
union all
select * from team_mismatch
