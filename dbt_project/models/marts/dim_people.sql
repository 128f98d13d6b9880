-- One row per Clockify person: everyone the user list returns, and everyone with counted time whom it no
-- longer returns (deleted or left members, LIMITED accounts a load did not ask for). Their name is the
-- list's, else the name the report gave with their latest counted entry: the one rule every per-person
-- mart takes its names from.
with

users as (select user_id, user_name from {{ ref('stg_clockify__users') }}),

time_entries as (select * from {{ ref('fct_time_entries') }}),

entry_names as (

    select user_id, arg_max(user_name, {'started_at': started_at, 'time_entry_id': time_entry_id}) as user_name
    from time_entries
    where user_name is not null
    group by user_id

),

people as (

    select user_id from users
    union
    select distinct user_id from time_entries where user_id is not null

),

final as (

    select
        people.user_id,
        coalesce(users.user_name, entry_names.user_name) as user_name,
        users.user_id is not null as is_listed
    from people
    left join users on people.user_id = users.user_id
    left join entry_names on people.user_id = entry_names.user_id

)

select * from final
