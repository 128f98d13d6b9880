-- Adds the team and cycle of each time entry.
-- Team = the matched issue's current team. Cycle = that team's cycle with
-- starts_at <= entry start < ends_at: the cycle the work was done in, not the issue's current cycle.
-- A start exactly at a cycle's end belongs to the next cycle. Unmatched entries have neither.
with

time_entries as (

    select * from {{ ref('int_time_entries_matched') }}

),

issues as (

    select issue_id, team_id
    from {{ ref('stg_linear__issues') }}

),

cycles as (

    select cycle_id, team_id, starts_at, ends_at
    from {{ ref('stg_linear__cycles') }}

),

with_team as (

    select
        time_entries.*,
        issues.team_id
    from time_entries
    left join issues on time_entries.issue_id = issues.issue_id

),

-- Cycles of a team do not overlap in Linear; should bad data make them, the later-starting cycle wins
-- so an hour still lands in exactly one cycle.
entry_cycles as (

    select
        with_team.time_entry_id,
        cycles.cycle_id
    from with_team
    inner join cycles
        on with_team.team_id = cycles.team_id
        and cycles.starts_at <= with_team.started_at
        and with_team.started_at < cycles.ends_at
    qualify row_number() over (
        partition by with_team.time_entry_id
        order by cycles.starts_at desc, cycles.cycle_id
    ) = 1

),

final as (

    select
        with_team.*,
        entry_cycles.cycle_id
    from with_team
    left join entry_cycles on with_team.time_entry_id = entry_cycles.time_entry_id

)

select * from final
