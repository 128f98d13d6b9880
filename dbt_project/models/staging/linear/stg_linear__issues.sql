with

source as (

    select * from {{ source('linear', 'linear_issues') }}

),

-- The reconcile walk's listing (assets/reconcile.py): every issue id Linear still returns. Empty until the
-- first walk, which then knows no deletion.
listed as (

    select id, archived_at, trashed, listed_at, _loaded_at as listed_loaded_at
    from {{ source('linear', 'linear_issue_ids') }}
    where id is not null

),

listing as (

    select max(listed_at) as listed_at, count(*) as listed_count from listed

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

),

-- Archiving and trashing may not bump updatedAt (an open fact): where the listing was loaded after the
-- issue's latest version, its flags are the fresher. An issue missing from a listing that began after it
-- was created is deleted (Linear purges its trash after 30 days): its hours count for no issue.
reconciled as (

    select
        latest.* replace (
            case when listed.listed_loaded_at > latest.loaded_at then listed.archived_at else latest.archived_at end
                as archived_at,
            case
                when listed.listed_loaded_at > latest.loaded_at then coalesce(listed.trashed, false)
                else latest.is_trashed
            end as is_trashed
        ),
        coalesce(
            listing.listed_count > 0 and listed.id is null and latest.created_at < listing.listed_at, false
        ) as is_deleted

    from latest
    cross join listing
    left join listed on listed.id = latest.issue_id

)

select * from reconciled
