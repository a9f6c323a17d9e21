{#-
    One territory per account: the account's own ObjectTerritory2Association (smallest association
    Id when there are several), falling back to the territory of the account owner.
-#}
with accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}

),

account_associations as (

    select * from {{ ref('stg_salesforce__account_territory_associations') }}

),

rep_territories as (

    select * from {{ ref('int_reps_territory_assigned') }}

),

first_account_association as (

    select
        account_id,
        territory_id,
        row_number() over (partition by account_id order by account_territory_association_id) as assignment_rank
    from account_associations

),

final as (

    select
        accounts.account_id,
        coalesce(first_account_association.territory_id, rep_territories.territory_id) as territory_id,
        case
            when first_account_association.territory_id is not null then 'account'
            when rep_territories.territory_id is not null then 'owner'
        end as territory_source
    from accounts
    left join first_account_association
        on accounts.account_id = first_account_association.account_id
        and first_account_association.assignment_rank = 1
    left join rep_territories
        on accounts.owner_rep_id = rep_territories.rep_id

)

select * from final
