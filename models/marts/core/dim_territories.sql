with territories as (

    select * from {{ ref('stg_salesforce__territories') }}

),

rep_territories as (

    select * from {{ ref('int_reps_territory_assigned') }}

),

account_territories as (

    select * from {{ ref('int_accounts_territory_assigned') }}

),

rep_counts as (

    select
        territory_id,
        count(*) as rep_count
    from rep_territories
    group by territory_id

),

account_counts as (

    select
        territory_id,
        count(*) as account_count
    from account_territories
    where territory_id is not null
    group by territory_id

),

final as (

    select
        territories.territory_id,
        territories.territory_name,
        territories.parent_territory_id,
        parents.territory_name as parent_territory_name,
        coalesce(rep_counts.rep_count, 0) as rep_count,
        coalesce(account_counts.account_count, 0) as account_count
    from territories
    left join territories as parents
        on territories.parent_territory_id = parents.territory_id
    left join rep_counts
        on territories.territory_id = rep_counts.territory_id
    left join account_counts
        on territories.territory_id = account_counts.territory_id

)

select * from final
