-- One row per Linear IssueStateSpan (Issue.stateHistory): the issue sat in state_id from started_at until
-- ended_at (null: it still does).
with

source as (

    select * from {{ source('linear', 'linear_issue_state_spans') }}

),

renamed as (

    select
        id as span_id,
        issue_id,
        state_id,
        started_at,
        ended_at,
        issue_updated_at,
        issue_updated_at as updated_at,
        _loaded_at as loaded_at

    from source
    where id is not null

),

-- Should a span still come twice (two reads, bad data), the one of the latest read wins (updated_at: the
-- issue's updatedAt at that read).
latest as (

    {{ latest_version('renamed', 'span_id') }}

)

select * from latest
