{#-
    One territory per rep. Salesforce allows several UserTerritory2Associations per user; the
    warehouse reports a rep in one territory, the association with the smallest Id (the oldest
    assignment, as Salesforce Ids grow with time).
-#}
with associations as (

    select * from {{ ref('stg_salesforce__user_territory_associations') }}

),

ranked as (

    select
        rep_id,
        territory_id,
        row_number() over (partition by rep_id order by user_territory_association_id) as assignment_rank,
        count(*) over (partition by rep_id) as territory_count
    from associations

),

final as (

    select
        rep_id,
        territory_id,
        territory_count
    from ranked
    where assignment_rank = 1

)

select * from final
