-- One row per Linear project (0 hours when nobody logged time on its issues), with its status, lead,
-- dates and progress. Hours of a matched entry count in its issue's *current* project; matched hours on
-- issues without a project form one row with a null linear_project_id, so the mart sums to the matched
-- hours of fct_time_entries (an hour counted once).
with

time_entries as (

    select * from {{ ref('fct_time_entries') }}
    where issue_id is not null

),

issues as (select issue_id, linear_project_id from {{ ref('stg_linear__issues') }}),

projects as (select * from {{ ref('stg_linear__projects') }}),

users as (select linear_user_id, user_name from {{ ref('stg_linear__users') }}),

project_hours as (

    select
        issues.linear_project_id,
        sum(time_entries.hours) as hours,
        coalesce(sum(time_entries.hours) filter (where time_entries.billable), 0) as billable_hours,
        count(distinct time_entries.issue_id) as issue_count,
        count(*) as time_entry_count,
        count(distinct time_entries.user_id) as contributors
    from time_entries
    left join issues on time_entries.issue_id = issues.issue_id
    group by issues.linear_project_id

),

final as (

    select
        coalesce(projects.linear_project_id, project_hours.linear_project_id) as linear_project_id,
        projects.project_name,
        projects.project_status,
        projects.lead_id,
        users.user_name as lead_name,
        projects.start_date,
        projects.target_date,
        projects.progress,
        coalesce(project_hours.hours, 0) as hours,
        coalesce(project_hours.billable_hours, 0) as billable_hours,
        coalesce(project_hours.issue_count, 0) as issue_count,
        coalesce(project_hours.time_entry_count, 0) as time_entry_count,
        coalesce(project_hours.contributors, 0) as contributors
    from projects
    full outer join project_hours on projects.linear_project_id = project_hours.linear_project_id
    left join users on projects.lead_id = users.linear_user_id

)

select * from final
