with

source as (

    select * from {{ source('linear', 'linear_issues') }}

),

renamed as (

    select
        id as issue_id,
        identifier as issue_identifier,
        number as issue_number,
        title as issue_title,
        team_id,
        state_id,
        cycle_id,
        project_id as linear_project_id,
        assignee_id,
        estimate,
        priority,
        coalesce(previous_identifiers, []) as previous_identifiers,
        created_at,
        updated_at,
        started_at,
        completed_at,
        canceled_at,
        archived_at,
        coalesce(trashed, false) as is_trashed,
        -- the issue's labels (ids of stg_linear__labels); an older load without the column counts none
        coalesce(label_ids, []) as label_ids,
        _partition_date as partition_date,
        _loaded_at as loaded_at

    from source
    where id is not null

),

-- Raw may hold several versions of an issue (one per updated_at partition it was seen in):
-- keep the newest by updated_at, then by load time.
latest as (

    {{ latest_version('renamed', 'issue_id', then_by=['partition_date desc']) }}

)

select * from latest
