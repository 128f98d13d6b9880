-- Issue identifiers found in a time entry's Clockify task name, then its description, left to right.
-- The task name is the task list's, else the report's `taskName` kept with the entry.
--
-- The rule (case-insensitive): (?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]{0,6})-([0-9]{1,7})(?![A-Za-z0-9])
-- DuckDB's RE2 has no look-around, so the text is cut into tokens: each token is one maximal run of ASCII
-- letters/digits plus the run of other characters after it ('[ENG-1][ENG-2]' -> '[' is skipped,
-- 'ENG-', '1][', 'ENG-', '2]'). A candidate is a token that is exactly <letter><0-6 alnum>'-' (so the
-- prefix is a whole alnum run and is followed by exactly one hyphen) followed by a token whose alnum
-- run is 1-7 digits. Whole runs give the look-behind/look-ahead for free ('xENG-1' -> 'XENG-1',
-- 'ENG-1x' -> nothing, 'ENG-1-2' -> 'ENG-1'), and matches cannot overlap (a digit run is never a prefix).
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

tokenized as (

    select
        time_entry_id,
        match_source,
        source_rank,
        regexp_extract_all(text, '[A-Za-z0-9]+[^A-Za-z0-9]*') as tokens
    from texts
    where text is not null

),

tokens as (

    select
        time_entry_id,
        match_source,
        source_rank,
        unnest(tokens) as token,
        generate_subscripts(tokens, 1) as token_position
    from tokenized

),

token_pairs as (

    select
        *,
        lead(token) over (
            partition by time_entry_id, source_rank order by token_position
        ) as next_token
    from tokens

),

candidates as (

    select
        time_entry_id,
        match_source,
        source_rank,
        token_position,
        upper(regexp_extract(token, '^[A-Za-z0-9]+'))
            || '-' || regexp_extract(next_token, '^[0-9]+') as candidate_identifier
    from token_pairs
    where regexp_full_match(token, '[A-Za-z][A-Za-z0-9]{0,6}-')
      and regexp_full_match(next_token, '[0-9]{1,7}[^A-Za-z0-9]*')

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
