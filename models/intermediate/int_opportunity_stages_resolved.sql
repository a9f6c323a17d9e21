{#-
    The stage catalog every opportunity model reads (instead of the seed): one row per stage name with
    its funnel order, closed/won flags, default probability and forecast category.

    Sources, in precedence order (DESIGN "Reference data"):
      1. the landed OpportunityStage object (the org's own sales process), every stage it lists;
      2. seeds/opportunity_stages.csv (Salesforce's classic default) - all of it when no OpportunityStage
         is landed, else only the stages the data uses that the object does not list;
      3. seeds/opportunity_stages_newer_orgs.csv (defaults of newer orgs) - only stages the data uses and
         neither of the above lists.
    The record's own IsClosed/IsWon sit between 1 and 2/3 for closed/won (fct_opportunities). A stage in
    none of them is not here: it is kept in the facts with a NULL stage_order and reported in
    dq_unmapped_values.

    stage_order is dense (1..n): open stages first (landed by SortOrder, then seed stages by their
    stage_order / funnel_position, so the newer-org stages fall between the classic ones), then won, then
    lost stages. With the classic seed alone it equals the seed's stage_order.
-#}
with landed as (

    select * from {{ ref('stg_salesforce__opportunity_stages') }}

),

classic_seed as (

    select * from {{ ref('opportunity_stages') }}

),

newer_seed as (

    select * from {{ ref('opportunity_stages_newer_orgs') }}

),

used_stages as (

    select stage_name from {{ ref('stg_salesforce__opportunities') }}
    where stage_name is not null
    union
    select stage_name from {{ ref('stg_salesforce__opportunity_history') }}
    where stage_name is not null

),

landed_count as (

    select count(*) as stage_count from landed

),

seed_stages as (

    select
        stage_name,
        cast(stage_order as {{ type_double() }}) as seed_position,
        default_probability,
        is_closed,
        is_won,
        forecast_category,
        'seed' as seed_source
    from classic_seed

    union all

    select
        stage_name,
        funnel_position as seed_position,
        default_probability,
        is_closed,
        is_won,
        forecast_category,
        'seed_newer_orgs' as seed_source
    from newer_seed
    where newer_seed.stage_name not in (select classic_seed.stage_name from classic_seed)

),

from_landed as (

    -- a landed stage without IsClosed/IsWon (columns absent from the export) takes the seed's flags for
    -- the same name, else the record's own flags decide (flags_source says which)
    select
        landed.stage_name,
        1 as source_rank,
        cast(landed.sort_order as {{ type_double() }}) as position,
        'landed' as stage_source,
        case
            when landed.is_closed is not null then 'landed'
            when seed_stages.stage_name is not null then seed_stages.seed_source
            else 'none'
        end as flags_source,
        coalesce(case when landed.is_won then true else landed.is_closed end, seed_stages.is_closed, false)
            as is_closed,
        coalesce(landed.is_won, case when landed.is_closed = false then false end, seed_stages.is_won, false) as is_won,
        coalesce(landed.default_probability, seed_stages.default_probability) as default_probability,
        coalesce(landed.forecast_category, seed_stages.forecast_category) as forecast_category,
        landed.is_active
    from landed
    left join seed_stages
        on landed.stage_name = seed_stages.stage_name

),

from_seeds as (

    select
        seed_stages.stage_name,
        2 as source_rank,
        seed_stages.seed_position as position,
        seed_stages.seed_source as stage_source,
        seed_stages.seed_source as flags_source,
        seed_stages.is_closed,
        seed_stages.is_won,
        seed_stages.default_probability,
        seed_stages.forecast_category,
        true as is_active
    from seed_stages
    cross join landed_count
    where seed_stages.stage_name not in (select landed.stage_name from landed)
        and (
            (seed_stages.seed_source = 'seed' and landed_count.stage_count = 0)
            or seed_stages.stage_name in (select used_stages.stage_name from used_stages)
        )

),

catalog as (

    select * from from_landed
    union all
    select * from from_seeds

),

final as (

    select
        stage_name,
        cast(row_number() over (
            order by
                case when not is_closed then 0 when is_won then 1 else 2 end,
                source_rank,
                position,
                stage_name
        ) as {{ dbt.type_int() }}) as stage_order,
        default_probability,
        is_closed,
        is_won,
        forecast_category,
        is_active,
        stage_source,
        flags_source
    from catalog

)

select * from final
