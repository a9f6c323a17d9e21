with accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}

),

account_territories as (

    select * from {{ ref('int_accounts_territory_assigned') }}

),

final as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.owner_rep_id,
        accounts.industry,
        accounts.account_type,
        accounts.billing_country,
        accounts.number_of_employees,
        {{ money('accounts.annual_revenue') }} as annual_revenue,
        coalesce(accounts.segment, 'Unknown') as segment,
        account_territories.territory_id,
        account_territories.territory_source,
        accounts.created_at
    from accounts
    left join account_territories
        on accounts.account_id = account_territories.account_id

)

select * from final
