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

users_joined as (

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
        users.created_at,
        false as is_unassigned
    from users
    left join roles
        on users.role_id = roles.role_id
    left join users as managers
        on users.manager_id = managers.user_id
    left join rep_territories
        on users.user_id = rep_territories.rep_id
    left join territories
        on rep_territories.territory_id = territories.territory_id

),

unassigned as (

    -- the explicit owner of opportunities without OwnerId (fct_opportunities.rep_id), so they reconcile
    -- by rep instead of vanishing; inactive, in no territory, never a quota holder
    select
        'unassigned' as rep_id,
        'Unassigned' as rep_name,
        cast(null as {{ dbt.type_string() }}) as email,
        false as is_active,
        cast(null as {{ dbt.type_string() }}) as role_id,
        cast(null as {{ dbt.type_string() }}) as role_name,
        cast(null as {{ dbt.type_string() }}) as manager_id,
        cast(null as {{ dbt.type_string() }}) as manager_name,
        cast(null as {{ dbt.type_string() }}) as territory_id,
        cast(null as {{ dbt.type_string() }}) as territory_name,
        0 as territory_count,
        cast(null as {{ dbt.type_string() }}) as title,
        cast(null as {{ dbt.type_string() }}) as department,
        cast(null as {{ dbt.type_timestamp() }}) as created_at,
        true as is_unassigned

),

final as (

    select * from users_joined
    union all
    select * from unassigned
    -- a real user whose Id is literally 'unassigned' cannot exist (Salesforce Ids are 15/18 characters)

)

select * from final
