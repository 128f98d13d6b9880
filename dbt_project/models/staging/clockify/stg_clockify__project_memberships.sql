-- One row per member of a project with a project-member billable rate (Clockify's `memberships` on the
-- project record, membershipType PROJECT), from the latest loaded version of each project.
with

source as (

    select * from {{ source('clockify', 'clockify_projects') }}

),

latest as (

    select id as project_id, _raw, _loaded_at as loaded_at
    from source
    where id is not null
    qualify row_number() over (partition by id order by _loaded_at desc) = 1

),

members as (

    select
        latest.project_id,
        unnest(coalesce(json_extract(latest._raw, '$.memberships[*]'), [])) as membership,
        latest.loaded_at
    from latest

),

final as (

    select
        project_id,
        json_extract_string(membership, '$.userId') as user_id,
        try_cast(json_extract_string(membership, '$.hourlyRate.amount') as double) as hourly_rate_cents,
        loaded_at
    from members
    where coalesce(json_extract_string(membership, '$.membershipType'), 'PROJECT') = 'PROJECT'
      and json_extract_string(membership, '$.userId') is not null

)

-- one rate per (project, user), should a record list a member twice: the higher rate
select * from final
qualify row_number() over (partition by project_id, user_id order by hourly_rate_cents desc nulls last) = 1
