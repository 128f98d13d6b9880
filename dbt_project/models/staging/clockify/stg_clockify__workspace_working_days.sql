-- The workspace's working days (workspaceSettings.workingDays): everyone's, unless their profile sets their own.
with

source as (

    select * from {{ source('clockify', 'clockify_workspaces') }}

),

renamed as (

    select
        id as workspace_id,
        json_extract_string(_raw, '$.workspaceSettings.workingDays[*]') as working_days,
        _loaded_at as loaded_at

    from source
    where id is not null

)

select
    workspace_id,
    case when len(working_days) > 0 then list_transform(working_days, lambda d: upper(d)) end as working_days,
    loaded_at
from renamed
qualify row_number() over (partition by workspace_id order by loaded_at desc) = 1
