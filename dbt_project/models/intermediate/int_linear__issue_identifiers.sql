-- Every identifier that points at a Linear issue: its current `identifier` and each of its
-- `previousIdentifiers` (an issue moved to another team gets a new identifier; time logged against the
-- old one still belongs to it). Upper-cased, one row per identifier.
with

issues as (

    select issue_id, issue_identifier, previous_identifiers, updated_at
    from {{ ref('stg_linear__issues') }}
    where not is_deleted  -- Linear no longer has it: its identifiers name nothing

),

current_identifiers as (

    select issue_id, upper(issue_identifier) as identifier, true as is_current, updated_at
    from issues
    where issue_identifier is not null

),

previous_identifiers as (

    select issue_id, upper(unnest(previous_identifiers)) as identifier, false as is_current, updated_at
    from issues

),

unioned as (

    select * from current_identifiers
    union all
    select * from previous_identifiers

),

-- An identifier should belong to one issue; if bad data lets two issues claim it, the issue that holds
-- it as its current identifier wins, then the most recently updated one (deterministic either way).
resolved as (

    select issue_id, identifier, is_current
    from unioned
    where identifier is not null
    qualify row_number() over (
        partition by identifier
        order by is_current desc, updated_at desc nulls last, issue_id
    ) = 1

)

select * from resolved
