with

source as (

    select * from {{ source('clockify', 'clockify_users') }}

),

renamed as (

    select
        id as user_id,
        name as user_name,
        email,
        -- the account's status (ACTIVE, LIMITED, ...), not whether the person is still a member here
        status,
        workspace_id,
        -- this workspace's membership (read with memberships=WORKSPACE): ACTIVE, INACTIVE (deactivated
        -- here), PENDING, DECLINED; null when the load did not ask for it
        nullif(membership_status, '') as membership_status,
        nullif(time_zone, '') as time_zone,
        -- the workspace-member billable rate in cents (null: none set, or the load did not ask)
        hourly_rate as member_hourly_rate_cents,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by user_id order by loaded_at desc) = 1

),

final as (

    select
        *,
        -- Active in this workspace: an ACTIVE membership and an account that still exists (LIMITED
        -- members, whose time an admin tracks, are active members). Null when the membership is unknown.
        case
            when membership_status is null then null
            else membership_status = 'ACTIVE' and coalesce(status, '') not in ('DELETED', 'LIMITED_DELETED')
        end as is_active_member

    from latest

)

select * from final
