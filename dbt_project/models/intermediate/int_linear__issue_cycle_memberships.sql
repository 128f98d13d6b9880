-- When each issue was in which cycle: one row per stay, [joined_at, left_at) (left_at null: still there), and
-- the cycle it went to when it left (left_to_cycle_id; null: taken out of cycles). Read from the cycle changes
-- of its history: before its first change the issue was in that change's from cycle since its creation; after
-- each change in its to cycle until the next change. An issue without cycle changes (or whose history is not
-- loaded yet) has been in its current cycle since its creation. The same with or without a record for the
-- creation itself (its from side is null).
with

issues as (select issue_id, cycle_id, created_at from {{ ref('stg_linear__issues') }}),

changes as (

    select
        issue_id,
        history_id,
        changed_at,
        from_cycle_id,
        to_cycle_id,
        row_number() over (partition by issue_id order by changed_at, history_id) as change_number,
        lead(changed_at) over (partition by issue_id order by changed_at, history_id) as next_changed_at,
        lead(to_cycle_id) over (partition by issue_id order by changed_at, history_id) as next_to_cycle_id
    from {{ ref('stg_linear__issue_history') }}
    where is_cycle_change

),

before_first_change as (

    select
        changes.issue_id,
        changes.from_cycle_id as cycle_id,
        issues.created_at as joined_at,
        changes.changed_at as left_at,
        changes.to_cycle_id as left_to_cycle_id
    from changes
    inner join issues on changes.issue_id = issues.issue_id
    where changes.change_number = 1 and changes.from_cycle_id is not null

),

after_each_change as (

    select
        issue_id,
        to_cycle_id as cycle_id,
        changed_at as joined_at,
        next_changed_at as left_at,
        next_to_cycle_id as left_to_cycle_id
    from changes
    where to_cycle_id is not null

),

never_changed as (

    select
        issue_id,
        cycle_id,
        created_at as joined_at,
        cast(null as timestamp) as left_at,
        cast(null as varchar) as left_to_cycle_id
    from issues
    where cycle_id is not null
      and not exists (select 1 from changes where changes.issue_id = issues.issue_id)

)

select * from before_first_change
union all
select * from after_each_change
union all
select * from never_changed
