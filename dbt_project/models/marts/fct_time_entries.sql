-- One row per completed time entry with a valid interval, matched to a Linear issue or not.
-- Running timers (no end yet) and entries ending before they start (bad input) are left out.
-- Names come from the lists (users, projects, clients, tasks), else from the report row kept with the
-- entry: the time of a user the list no longer returns, or of a task no listing shows, keeps its name.
with

time_entries as (

    select * from {{ ref('int_time_entries_with_cycle') }}
    where not is_running
      and is_valid_interval

),

users as (select user_id, user_name from {{ ref('stg_clockify__users') }}),

projects as (select project_id, project_name, client_id from {{ ref('stg_clockify__projects') }}),

clients as (select client_id, client_name from {{ ref('stg_clockify__clients') }}),

tasks as (select task_id, task_name from {{ ref('stg_clockify__tasks') }}),

issues as (select issue_id, issue_identifier from {{ ref('stg_linear__issues') }}),

teams as (select team_id, team_key from {{ ref('stg_linear__teams') }}),

cycles as (select cycle_id, cycle_number from {{ ref('stg_linear__cycles') }}),

final as (

    select
        time_entries.time_entry_id,
        time_entries.workspace_id,
        time_entries.user_id,
        coalesce(users.user_name, time_entries.report_user_name) as user_name,
        time_entries.project_id,
        coalesce(projects.project_name, time_entries.report_project_name) as project_name,
        coalesce(clients.client_name, time_entries.report_client_name) as client_name,
        time_entries.task_id,
        coalesce(tasks.task_name, time_entries.report_task_name) as task_name,
        time_entries.description,
        time_entries.billable,
        time_entries.entry_type,
        time_entries.tag_ids,
        time_entries.started_at,
        time_entries.ended_at,
        time_entries.entry_date,
        time_entries.time_zone,
        time_entries.local_started_at,
        time_entries.local_date,
        time_entries.local_week_start,
        time_entries.local_week,
        time_entries.hours,
        time_entries.issue_id,
        issues.issue_identifier,
        time_entries.matched_identifier,
        time_entries.match_source,
        time_entries.team_id,
        teams.team_key,
        time_entries.cycle_id,
        cycles.cycle_number

    from time_entries
    left join users on time_entries.user_id = users.user_id
    left join projects on time_entries.project_id = projects.project_id
    left join clients on projects.client_id = clients.client_id
    left join tasks on time_entries.task_id = tasks.task_id
    left join issues on time_entries.issue_id = issues.issue_id
    left join teams on time_entries.team_id = teams.team_id
    left join cycles on time_entries.cycle_id = cycles.cycle_id

)

select * from final
