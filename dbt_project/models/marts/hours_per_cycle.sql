-- One row per Linear cycle (cycles without logged time show 0 hours). An entry counts in the cycle of
-- its issue's team that contains the entry's start; entries outside every cycle are not here.
with

time_entries as (

    select * from {{ ref('fct_time_entries') }}
    where cycle_id is not null

),

cycles as (select * from {{ ref('stg_linear__cycles') }}),

teams as (select team_id, team_key, team_name from {{ ref('stg_linear__teams') }}),

cycle_hours as (

    select
        cycle_id,
        sum(hours) as hours,
        coalesce(sum(hours) filter (where billable), 0) as billable_hours,
        count(distinct issue_id) as issue_count,
        count(*) as time_entry_count,
        count(distinct user_id) as contributors
    from time_entries
    group by cycle_id

),

final as (

    select
        cycles.cycle_id,
        cycles.team_id,
        teams.team_key,
        cycles.cycle_number,
        cycles.cycle_name,
        cycles.starts_at as cycle_starts_at,
        cycles.ends_at as cycle_ends_at,
        coalesce(cycle_hours.hours, 0) as hours,
        coalesce(cycle_hours.billable_hours, 0) as billable_hours,
        coalesce(cycle_hours.issue_count, 0) as issue_count,
        coalesce(cycle_hours.time_entry_count, 0) as time_entry_count,
        coalesce(cycle_hours.contributors, 0) as contributors
    from cycles
    left join cycle_hours on cycles.cycle_id = cycle_hours.cycle_id
    left join teams on cycles.team_id = teams.team_id

)

select * from final
