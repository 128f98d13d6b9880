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
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (
        partition by span_id
        order by issue_updated_at desc nulls last, loaded_at desc
    ) = 1

)

select * from latest
