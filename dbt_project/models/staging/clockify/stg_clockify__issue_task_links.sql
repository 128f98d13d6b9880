-- Clockify task -> Linear issue links written by the write-back asset (assets/writeback.py).
-- The raw table only exists once write-back has run: when it is missing this model is an empty,
-- typed relation, so the project builds on every warehouse. `source()` is called either way, so the
-- lineage (and the Dagster dependency) is the same.
{% set source_relation = source('clockify', 'clockify_issue_task_links') %}
{% set existing = adapter.get_relation(
        database=source_relation.database,
        schema=source_relation.schema,
        identifier=source_relation.identifier) if execute else none %}
with

source as (

{% if existing is not none %}
    select * from {{ source_relation }}
{% else %}
    select
        cast(null as varchar) as task_id,
        cast(null as varchar) as issue_id,
        cast(null as varchar) as issue_identifier,
        cast(null as varchar) as project_id,
        cast(null as varchar) as workspace_id,
        cast(null as varchar) as task_name,
        cast(null as varchar) as status,
        cast(null as timestamp) as linked_at,
        cast(null as timestamp) as updated_at
    where false
{% endif %}

),

renamed as (

    select
        task_id,
        issue_id,
        issue_identifier,
        nullif(project_id, '') as project_id,
        workspace_id,
        task_name,
        status,
        linked_at,
        updated_at

    from source
    where task_id is not null and issue_id is not null

),

latest as (

    select * from renamed
    qualify row_number() over (partition by task_id order by updated_at desc, linked_at desc) = 1

)

select * from latest
