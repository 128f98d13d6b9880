-- One row per Linear IssueHistory record: what changed together on an issue at changed_at. A from/to pair
-- that is null on both sides did not change; a null on one side means "none" (to_cycle_id null: taken out of
-- its cycle). The is_*_change flags say which fields a record changed.
with

source as (

    select * from {{ source('linear', 'linear_issue_history') }}

),

renamed as (

    select
        id as history_id,
        issue_id,
        created_at as changed_at,
        from_state_id,
        to_state_id,
        from_cycle_id,
        to_cycle_id,
        from_team_id,
        to_team_id,
        from_estimate,
        to_estimate,
        from_assignee_id,
        to_assignee_id,
        from_project_id,
        to_project_id,
        from_priority,
        to_priority,
        coalesce(added_label_ids, []) as added_label_ids,
        coalesce(removed_label_ids, []) as removed_label_ids,
        archived,
        trashed,
        actor_id,
        issue_updated_at,
        issue_updated_at as updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

-- Raw replaces an issue's rows whole on each read; should a record still come twice (two reads, bad data),
-- the one of the latest read wins (updated_at: the issue's updatedAt at that read).
latest as (

    {{ latest_version('renamed', 'history_id') }}

),

final as (

    select
        *,
        from_state_id is distinct from to_state_id as is_state_change,
        from_cycle_id is distinct from to_cycle_id as is_cycle_change,
        from_team_id is distinct from to_team_id as is_team_change,
        from_estimate is distinct from to_estimate as is_estimate_change,
        from_assignee_id is distinct from to_assignee_id as is_assignee_change
    from latest

)

select * from final
