-- Each issue's estimate over time: one row per value, valid from valid_from until valid_to (null: still),
-- null estimates included. Read from the estimate changes of its history like cycles are (see
-- int_linear__issue_cycle_memberships): before the first change the from value since the creation; an issue
-- without estimate changes (or without loaded history) has had its current estimate since its creation.
with

issues as (select issue_id, estimate, created_at from {{ ref('stg_linear__issues') }}),

changes as (

    select
        issue_id,
        history_id,
        changed_at,
        from_estimate,
        to_estimate,
        row_number() over (partition by issue_id order by changed_at, history_id) as change_number,
        lead(changed_at) over (partition by issue_id order by changed_at, history_id) as next_changed_at
    from {{ ref('stg_linear__issue_history') }}
    where is_estimate_change

),

before_first_change as (

    select changes.issue_id, changes.from_estimate as estimate, issues.created_at as valid_from,
           changes.changed_at as valid_to
    from changes
    inner join issues on changes.issue_id = issues.issue_id
    where changes.change_number = 1

),

after_each_change as (

    select issue_id, to_estimate as estimate, changed_at as valid_from, next_changed_at as valid_to
    from changes

),

never_changed as (

    select issue_id, estimate, created_at as valid_from, cast(null as timestamp) as valid_to
    from issues
    where not exists (select 1 from changes where changes.issue_id = issues.issue_id)

)

select * from before_first_change
union all
select * from after_each_change
union all
select * from never_changed
