-- Matched hours per Linear label. An issue with two labels counts in both label rows, so label rows do
-- not add up; two more rows do: `no_label` (issues without any label) and `total` (every matched hour
-- once, = the matched hours of fct_time_entries). Labels are the issue's current ones; group labels
-- (which only hold other labels) get no row, their children carry the group's name.
with

time_entries as (

    select * from {{ ref('fct_time_entries') }}
    where issue_id is not null

),

issues as (select issue_id, label_ids from {{ ref('stg_linear__issues') }}),

labels as (select * from {{ ref('stg_linear__labels') }}),

teams as (select team_id, team_key from {{ ref('stg_linear__teams') }}),

entry_labels as (

    -- one row per entry and distinct label of its issue (a label listed twice still counts once)
    select distinct time_entries.time_entry_id, unnest(issues.label_ids) as label_id
    from time_entries
    inner join issues on time_entries.issue_id = issues.issue_id

),

per_label as (

    select
        entry_labels.label_id,
        sum(time_entries.hours) as hours,
        coalesce(sum(time_entries.hours) filter (where time_entries.billable), 0) as billable_hours,
        count(distinct time_entries.issue_id) as issue_count,
        count(*) as time_entry_count
    from entry_labels
    inner join time_entries on entry_labels.time_entry_id = time_entries.time_entry_id
    group by entry_labels.label_id

),

label_rows as (

    select
        'label' as row_kind,
        coalesce(labels.label_id, per_label.label_id) as label_id,
        labels.label_name,
        parents.label_name as label_group,
        teams.team_key,
        coalesce(per_label.hours, 0) as hours,
        coalesce(per_label.billable_hours, 0) as billable_hours,
        coalesce(per_label.issue_count, 0) as issue_count,
        coalesce(per_label.time_entry_count, 0) as time_entry_count
    from (select * from labels where not is_group) as labels
    full outer join per_label on labels.label_id = per_label.label_id
    left join {{ ref('stg_linear__labels') }} as parents on labels.parent_label_id = parents.label_id
    left join teams on labels.team_id = teams.team_id

),

summary_rows as (

    select
        kind as row_kind,
        null::varchar as label_id,
        null::varchar as label_name,
        null::varchar as label_group,
        null::varchar as team_key,
        coalesce(sum(hours), 0) as hours,
        coalesce(sum(hours) filter (where billable), 0) as billable_hours,
        count(distinct issue_id) as issue_count,
        count(*) as time_entry_count
    from (
        select time_entries.*, 'total' as kind from time_entries
        union all
        select time_entries.*, 'no_label' as kind from time_entries
        where time_entry_id not in (select time_entry_id from entry_labels)
    ) as t
    group by kind

),

kinds as (select * from (values ('total'), ('no_label')) as k(row_kind)),

final as (

    select * from label_rows
    union all
    -- both summary rows always exist (0 without matched time)
    select
        kinds.row_kind, null, null, null, null,
        coalesce(s.hours, 0), coalesce(s.billable_hours, 0), coalesce(s.issue_count, 0), coalesce(s.time_entry_count, 0)
    from kinds
    left join summary_rows as s on kinds.row_kind = s.row_kind

)

select * from final
