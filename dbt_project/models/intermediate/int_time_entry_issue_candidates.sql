-- Issue identifiers found in a time entry's Clockify task name, then its description, left to right.
-- The task name is the task list's, else the report's `taskName` kept with the entry.
--
-- The rule (case-insensitive): (?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]{0,6})-([0-9]{1,7})(?![A-Za-z0-9])
-- DuckDB's RE2 has no look-around, so one regex pass takes every maximal run of ASCII letters/digits
-- followed by '-' and a digit, with the whole alnum run after the hyphen: '[A-Za-z0-9]+-[0-9]+[A-Za-z0-9]*'.
-- A match ends where a run ends, so the next one starts where a run starts (scanning finds the leftmost
-- start): both runs are whole, which gives the look-behind/look-ahead. A candidate is a match that is
-- exactly <letter><0-6 alnum>-<1-7 digits> ('xENG-1' -> 'XENG-1', 'ENG-1x' -> nothing, 'ENG-1-2' ->
-- 'ENG-1', 'AB-CD-12' -> 'CD-12', 'ENG--1' -> nothing). One pass per text, where cutting the text into
-- tokens and pairing each with the next (a window over every token) took three times as long.
--
-- One row per candidate occurrence; `issue_id` is null for a candidate that is no known identifier;
-- `match_rank` = 1 marks the winning candidate (first known identifier: task before description, then
-- left to right).
with

time_entries as (

    select time_entry_id, task_id, description, report_task_name
    from {{ ref('stg_clockify__time_entries') }}

),

tasks as (

    select task_id, task_name
    from {{ ref('stg_clockify__tasks') }}

),

issue_identifiers as (

    select identifier, issue_id
    from {{ ref('int_linear__issue_identifiers') }}

),

texts as (

    -- The task list's name, else the one the report gave with the entry (a DONE task no listing shows).
    select
        time_entries.time_entry_id,
        'task' as match_source,
        1 as source_rank,
        coalesce(tasks.task_name, time_entries.report_task_name) as text
    from time_entries
    left join tasks on time_entries.task_id = tasks.task_id
    where time_entries.task_id is not null

    union all

    select time_entry_id, 'description' as match_source, 2 as source_rank, description as text
    from time_entries

),

matches as (

    -- the matches of one text, left to right (they never overlap)
    select
        time_entry_id,
        match_source,
        source_rank,
        regexp_extract_all(text, '[A-Za-z0-9]+-[0-9]+[A-Za-z0-9]*') as found
    from texts
    where text is not null

),

found_tokens as (

    select
        time_entry_id,
        match_source,
        source_rank,
        unnest(found) as token,
        generate_subscripts(found, 1) as token_position
    from matches

),

candidates as (

    select
        time_entry_id,
        match_source,
        source_rank,
        token_position,
        upper(token) as candidate_identifier
    from found_tokens
    where regexp_full_match(token, '[A-Za-z][A-Za-z0-9]{0,6}-[0-9]{1,7}')

),

resolved as (

    select
        candidates.*,
        issue_identifiers.issue_id
    from candidates
    left join issue_identifiers
        on candidates.candidate_identifier = issue_identifiers.identifier

),

ranked as (

    select
        *,
        case when issue_id is not null then
            row_number() over (
                partition by time_entry_id
                order by issue_id is null, source_rank, token_position
            )
        end as match_rank
    from resolved

)

select * from ranked
