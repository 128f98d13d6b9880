-- Shown in Dagster as an asset check on hours_per_label (it reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'hours_per_label'}}}) }}

-- hours_per_label's total row is the matched hours of fct_time_entries; no_label + the hours of labelled
-- issues (each once) is the total; each label's hours are the hours of entries whose issue carries it.
with

fct as (
    select f.time_entry_id, f.hours, i.label_ids
    from {{ ref('fct_time_entries') }} as f
    left join {{ ref('stg_linear__issues') }} as i on f.issue_id = i.issue_id
    where f.issue_id is not null
),

per_label as (
    select label_id, sum(hours) as hours
    from (select distinct time_entry_id, hours, unnest(label_ids) as label_id from fct)
    group by label_id
),

expected as (
    select
        coalesce(sum(hours), 0) as total,
        coalesce(sum(hours) filter (where len(coalesce(label_ids, [])) = 0), 0) as no_label
    from fct
),

mart as (
    select
        coalesce(sum(hours) filter (where row_kind = 'total'), 0) as total,
        coalesce(sum(hours) filter (where row_kind = 'no_label'), 0) as no_label
    from {{ ref('hours_per_label') }}
),

summary_mismatch as (
    select 'total / no_label' as what, expected.total, mart.total, expected.no_label, mart.no_label
    from expected, mart
    where {{ hours_differ('expected.total', 'mart.total') }} or {{ hours_differ('expected.no_label', 'mart.no_label') }}
),

label_mismatch as (
    select 'label ' || m.label_id, coalesce(p.hours, 0), m.hours, null, null
    from {{ ref('hours_per_label') }} as m
    left join per_label as p on m.label_id = p.label_id
    where m.row_kind = 'label' and {{ hours_differ('m.hours', 'coalesce(p.hours, 0)') }}
)

select * from summary_mismatch
union all
select * from label_mismatch
