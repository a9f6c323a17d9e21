with users as (

    select * from {{ ref('stg_salesforce__users') }}

),

roles as (

    select * from {{ ref('stg_salesforce__user_roles') }}

),

rep_territories as (

    select * from {{ ref('int_reps_territory_assigned') }}

),

territories as (

    select * from {{ ref('stg_salesforce__territories') }}

),

final as (

    select
        users.user_id as rep_id,
        users.user_name as rep_name,
        users.email,
        users.is_active,
        users.role_id,
        roles.role_name,
        users.manager_id,
        managers.user_name as manager_name,
        rep_territories.territory_id,
        territories.territory_name,
        coalesce(rep_territories.territory_count, 0) as territory_count,
        users.title,
        users.department,
        users.created_at
    from users
    left join roles
        on users.role_id = roles.role_id
    left join users as managers
        on users.manager_id = managers.user_id
    left join rep_territories
        on users.user_id = rep_territories.rep_id
    left join territories
        on rep_territories.territory_id = territories.territory_id

)

select * from final
