-- Every time entry (running or not) with the Linear issue it was logged against, if any.
with

time_entries as (

    select * from {{ ref('int_time_entries_local') }}

),

-- Explicit links: a Clockify task that write-back created (or adopted) for a Linear issue names its
-- issue by id, which beats any identifier in the task name or the description (match_source 'link').
-- Links to an issue the warehouse does not know are ignored (the entry falls back to parsed identifiers).
explicit_links as (

    select
        time_entries.time_entry_id,
        links.issue_id,
        issues.issue_identifier
    from time_entries
    inner join {{ ref('stg_clockify__issue_task_links') }} as links
        on time_entries.task_id = links.task_id
    inner join {{ ref('stg_linear__issues') }} as issues
        on links.issue_id = issues.issue_id and not issues.is_deleted

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
        -- for a link: the issue's current identifier
        case
            when explicit_links.issue_id is not null then explicit_links.issue_identifier
            else parsed_matches.candidate_identifier
        end as matched_identifier,
        case
            when explicit_links.issue_id is not null then 'link'
            else parsed_matches.match_source
        end as match_source
    from time_entries
    left join explicit_links on time_entries.time_entry_id = explicit_links.time_entry_id
    left join parsed_matches on time_entries.time_entry_id = parsed_matches.time_entry_id

)

select * from matched
