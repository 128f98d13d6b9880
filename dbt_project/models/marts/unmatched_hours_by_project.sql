-- Per Clockify project (null project_id = entries without a project): hours not matched to any
-- Linear issue, total hours, and the unmatched share (null when the project has 0 hours in total).
with

time_entries as (select * from {{ ref('fct_time_entries') }}),

projects as (select project_id, project_name, client_id from {{ ref('stg_clockify__projects') }}),

clients as (select client_id, client_name from {{ ref('stg_clockify__clients') }}),

-- A project the list no longer returns keeps the names of its latest entry (fct_time_entries' names).
entry_names as (

    select
        project_id,
        arg_max(project_name, {'started_at': started_at, 'time_entry_id': time_entry_id}) as project_name,
        arg_max(client_name, {'started_at': started_at, 'time_entry_id': time_entry_id}) as client_name
    from time_entries
    where project_id is not null
    group by project_id

),

per_project as (

    select
        project_id,
        coalesce(sum(hours) filter (where issue_id is null), 0) as unmatched_hours,
        sum(hours) as total_hours,
        count(*) filter (where issue_id is null) as unmatched_time_entry_count,
        count(*) as time_entry_count
    from time_entries
    group by project_id

),

final as (

    select
        per_project.project_id,
        coalesce(projects.project_name, entry_names.project_name) as project_name,
        coalesce(clients.client_name, entry_names.client_name) as client_name,
        per_project.unmatched_hours,
        per_project.total_hours,
        per_project.unmatched_hours / nullif(per_project.total_hours, 0) as unmatched_share,
        per_project.unmatched_time_entry_count,
        per_project.time_entry_count
    from per_project
    left join projects on per_project.project_id = projects.project_id
    left join clients on projects.client_id = clients.client_id
    left join entry_names on per_project.project_id = entry_names.project_id

)

select * from final
