-- Every time entry (running or not) with the Linear issue it was logged against, if any.
with

time_entries as (

    select * from {{ ref('stg_clockify__time_entries') }}

),

-- Hook for explicit links: when Clockify tasks can be linked to a Linear issue explicitly (a planned
-- feature), select (time_entry_id, issue_id) here; an explicit link beats parsed identifiers and gets
-- match_source 'explicit' (add it to the accepted_values test then). Empty until the feature exists.
explicit_links as (

    select
        cast(null as varchar) as time_entry_id,
        cast(null as varchar) as issue_id
    where false

),

parsed_matches as (

    select time_entry_id, issue_id, candidate_identifier, match_source
    from {{ ref('int_time_entry_issue_candidates') }}
    where match_rank = 1

),

matched as (

    select
        time_entries.*,
        coalesce(explicit_links.issue_id, parsed_matches.issue_id) as issue_id,
        case when explicit_links.issue_id is null then parsed_matches.candidate_identifier end
            as matched_identifier,
        case
            when explicit_links.issue_id is not null then 'explicit'
            else parsed_matches.match_source
        end as match_source
    from time_entries
    left join explicit_links on time_entries.time_entry_id = explicit_links.time_entry_id
    left join parsed_matches on time_entries.time_entry_id = parsed_matches.time_entry_id

)

select * from matched
