-- Hours and billable amounts per client, project and month. The month is the local month of the entry's
-- local_date (the person's own calendar, as every day-keyed mart), so an invoice month matches the
-- timesheets. An entry's client is its project's (a project has one); time without a project forms one
-- row per month with a null project_id. Amounts price billable hours only, at the entry's rate
-- (int_clockify__time_entry_rates), in the workspace's currency; billable hours without any rate are
-- counted in billable_hours_without_rate and priced at nothing. The mart sums to fct_time_entries
-- (tests/assert_billable_by_client_reconciles.sql).
with

time_entries as (

    select * from {{ ref('fct_time_entries') }}

),

rates as (select * from {{ ref('int_clockify__time_entry_rates') }}),

projects as (select project_id, client_id from {{ ref('stg_clockify__projects') }}),

priced as (

    select
        time_entries.workspace_id,
        cast(date_trunc('month', time_entries.local_date) as date) as month,
        projects.client_id,
        time_entries.client_name,
        time_entries.project_id,
        time_entries.project_name,
        rates.currency,
        time_entries.billable,
        time_entries.hours,
        rates.rate_cents,
        case when time_entries.billable then time_entries.hours * rates.rate_cents / 100.0 end as amount
    from time_entries
    left join rates on time_entries.time_entry_id = rates.time_entry_id
    left join projects on time_entries.project_id = projects.project_id

),

final as (

    select
        workspace_id,
        month,
        max(client_id) as client_id,
        -- the name the lists give, else the report's (a deleted project's entries keep theirs)
        max(client_name) as client_name,
        project_id,
        max(project_name) as project_name,
        max(currency) as currency,
        sum(hours) as hours,
        coalesce(sum(hours) filter (where billable), 0) as billable_hours,
        coalesce(sum(hours) filter (where not billable), 0) as non_billable_hours,
        coalesce(sum(amount), 0) as billable_amount,
        coalesce(sum(hours) filter (where billable and rate_cents is null), 0) as billable_hours_without_rate,
        count(*) as time_entry_count
    from priced
    group by workspace_id, month, project_id

)

select * from final
