-- Shown in Dagster as an asset check on hours_per_customer (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'hours_per_customer'}}}) }}

-- hours_per_customer's total row is the hours of fct_time_entries on issues some customer asked for (each
-- hour once, never more than the matched hours); each customer's hours are those of its requested issues.
with

needs as (
    select distinct issue_id, customer_id from {{ ref('stg_linear__customer_needs') }}
    where issue_id is not null and customer_id is not null
),

fct as (select issue_id, hours from {{ ref('fct_time_entries') }} where issue_id is not null),

expected_total as (
    select coalesce(sum(hours), 0) as hours from fct where issue_id in (select issue_id from needs)
),

expected_customer as (
    select needs.customer_id, sum(fct.hours) as hours
    from needs inner join fct on needs.issue_id = fct.issue_id
    group by needs.customer_id
),

total_mismatch as (
    select 'total' as what, e.hours as expected_hours, m.hours as mart_hours
    from {{ ref('hours_per_customer') }} as m, expected_total as e
    where m.row_kind = 'total'
      and ({{ hours_differ('m.hours', 'e.hours') }} or m.hours > (select sum(hours) from fct) + 1e-6)
),

customer_mismatch as (
    select 'customer ' || m.customer_id, coalesce(e.hours, 0), m.hours
    from {{ ref('hours_per_customer') }} as m
    left join expected_customer as e on m.customer_id = e.customer_id
    where m.row_kind = 'customer' and {{ hours_differ('m.hours', 'coalesce(e.hours, 0)') }}
),

-- customers exist but the total row is missing, or no customers and rows anyway
shape_mismatch as (
    select 'rows', (select count(*) from {{ ref('stg_linear__customers') }}), count(*)
    from {{ ref('hours_per_customer') }}
    where row_kind = 'total'
    having (count(*) = 1) != ((select count(*) from {{ ref('stg_linear__customers') }}) > 0)
)

select * from total_mismatch
union all
select * from customer_mismatch
union all
select * from shape_mismatch
