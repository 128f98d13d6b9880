-- The billable rate (cents of the workspace's currency) each time entry is priced at, and where it came
-- from. The rate Clockify recorded with the entry wins (the report's `rate`: a rate changed later
-- "from now on" leaves older entries at their old rate); where the answer carried none (0 or null: an
-- open fact, e.g. a plan that hides amounts, or a main-API read) the most specific rate set today:
-- task > project member > project > workspace member > workspace. A rate of 0 counts as "not set".
with

entries as (

    select time_entry_id, workspace_id, user_id, project_id, task_id, recorded_rate_cents
    from {{ ref('stg_clockify__time_entries') }}

),

tasks as (select task_id, hourly_rate_cents from {{ ref('stg_clockify__tasks') }}),

project_members as (select project_id, user_id, hourly_rate_cents from {{ ref('stg_clockify__project_memberships') }}),

projects as (select project_id, hourly_rate_cents from {{ ref('stg_clockify__projects') }}),

members as (select user_id, member_hourly_rate_cents from {{ ref('stg_clockify__users') }}),

workspaces as (select workspace_id, hourly_rate_cents, currency from {{ ref('stg_clockify__workspaces') }}),

levels as (

    select
        entries.time_entry_id,
        nullif(entries.recorded_rate_cents, 0) as recorded,
        nullif(tasks.hourly_rate_cents, 0) as task,
        nullif(project_members.hourly_rate_cents, 0) as project_member,
        nullif(projects.hourly_rate_cents, 0) as project,
        nullif(members.member_hourly_rate_cents, 0) as workspace_member,
        nullif(workspaces.hourly_rate_cents, 0) as workspace,
        workspaces.currency
    from entries
    left join tasks on entries.task_id = tasks.task_id
    left join project_members
        on entries.project_id = project_members.project_id and entries.user_id = project_members.user_id
    left join projects on entries.project_id = projects.project_id
    left join members on entries.user_id = members.user_id
    left join workspaces on entries.workspace_id = workspaces.workspace_id

)

select
    time_entry_id,
    coalesce(recorded, task, project_member, project, workspace_member, workspace) as rate_cents,
    case
        when recorded is not null then 'recorded'
        when task is not null then 'task'
        when project_member is not null then 'project_member'
        when project is not null then 'project'
        when workspace_member is not null then 'workspace_member'
        when workspace is not null then 'workspace'
    end as rate_source,
    currency
from levels
