-- Matched hours per Linear customer, through customer needs: an entry's hours count for every customer
-- with a need on its issue (two needs of one customer on one issue count once). An issue requested by
-- two customers counts in both customer rows, so those do not add up; the `total` row counts every such
-- hour once. Needs on a project only (no issue) bring no hours. Empty (no rows at all) when the workspace
-- has no customers, e.g. a Linear plan without the feature (raw.linear_customer_needs' asset says so).
with

time_entries as (

    select * from {{ ref('fct_time_entries') }}
    where issue_id is not null

),

customers as (select customer_id, customer_name from {{ ref('stg_linear__customers') }}),

issue_customers as (

    select distinct issue_id, customer_id
    from {{ ref('stg_linear__customer_needs') }}
    where issue_id is not null and customer_id is not null

),

per_customer as (

    select
        issue_customers.customer_id,
        sum(time_entries.hours) as hours,
        coalesce(sum(time_entries.hours) filter (where time_entries.billable), 0) as billable_hours,
        count(distinct time_entries.issue_id) as issue_count,
        count(*) as time_entry_count
    from issue_customers
    inner join time_entries on issue_customers.issue_id = time_entries.issue_id
    group by issue_customers.customer_id

),

customer_rows as (

    select
        'customer' as row_kind,
        coalesce(customers.customer_id, per_customer.customer_id) as customer_id,
        customers.customer_name,
        coalesce(per_customer.hours, 0) as hours,
        coalesce(per_customer.billable_hours, 0) as billable_hours,
        coalesce(per_customer.issue_count, 0) as issue_count,
        coalesce(per_customer.time_entry_count, 0) as time_entry_count
    from customers
    full outer join per_customer on customers.customer_id = per_customer.customer_id

),

total_row as (

    select
        'total' as row_kind,
        null::varchar as customer_id,
        null::varchar as customer_name,
        coalesce(sum(hours), 0) as hours,
        coalesce(sum(hours) filter (where billable), 0) as billable_hours,
        count(distinct issue_id) as issue_count,
        count(*) as time_entry_count
    from time_entries
    where issue_id in (select issue_id from issue_customers)

),

final as (

    select * from customer_rows
    union all
    select * from total_row
    where exists (select 1 from customer_rows)

)

select * from final
