with

source as (

    select * from {{ source('clockify', 'clockify_workspaces') }}

),

renamed as (

    select
        id as workspace_id,
        name as workspace_name,
        -- billable rate in cents (null or 0: none set); every rate in the workspace is in its currency:
        -- the rate's own currency, else the default of `currencies`
        hourly_rate as hourly_rate_cents,
        coalesce(
            nullif(currency, ''),
            json_extract_string(
                list_filter(
                    json_extract(_raw, '$.currencies[*]'),
                    lambda c: json_extract_string(c, '$.isDefault') = 'true'
                )[1],
                '$.code'
            )
        ) as currency,
        _loaded_at as loaded_at

    from source
    where id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by workspace_id order by loaded_at desc) = 1

)

select * from latest
