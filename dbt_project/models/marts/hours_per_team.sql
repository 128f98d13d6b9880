-- One row per Linear team (teams without logged time show 0 hours). Hours of entries matched to an
-- issue whose team is missing from the teams table still appear, with a null team_key, so the mart
-- always sums to the matched hours of fct_time_entries.
with

time_entries as (

    select * from {{ ref('fct_time_entries') }}
    where issue_id is not null

),

teams as (select team_id, team_key, team_name from {{ ref('stg_linear__teams') }}),

team_hours as (

    select
        team_id,
        sum(hours) as hours,
        coalesce(sum(hours) filter (where billable), 0) as billable_hours,
        count(distinct issue_id) as issue_count,
        count(*) as time_entry_count,
        count(distinct user_id) as contributors
    from time_entries
    group by team_id

),

final as (

    select
        coalesce(teams.team_id, team_hours.team_id) as team_id,
        teams.team_key,
        teams.team_name,
        coalesce(team_hours.hours, 0) as hours,
        coalesce(team_hours.billable_hours, 0) as billable_hours,
        coalesce(team_hours.issue_count, 0) as issue_count,
        coalesce(team_hours.time_entry_count, 0) as time_entry_count,
        coalesce(team_hours.contributors, 0) as contributors
    from teams
    full outer join team_hours on teams.team_id = team_hours.team_id

)

select * from final
