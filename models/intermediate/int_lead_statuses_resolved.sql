{#-
    The lead-status catalog fct_leads and int_lead_status_changes_mapped read (instead of the seed): one
    row per status with its lifecycle stage and order (lead 1, mql 2, sql 3, converted 4, disqualified 0).

    Precedence (DESIGN "Reference data"): the landed LeadStatus object first - a status with IsConverted
    is `converted`; any other landed status takes the seed's lifecycle stage for the same name, else
    `lead` (the org has the status, the seed cannot say whether it is MQL or SQL: add it to
    seeds/lead_statuses.csv to refine it) - then seeds/lead_statuses.csv for statuses the object does not
    list. A status in neither is not here: the lead is kept with a NULL lifecycle stage and the status is
    reported in dq_unmapped_values.
-#}
with landed as (

    select * from {{ ref('stg_salesforce__lead_statuses') }}

),

seed as (

    select * from {{ ref('lead_statuses') }}

),

from_landed as (

    select
        landed.status,
        case
            when landed.is_converted then 'converted'
            else coalesce(seed.lifecycle_stage, 'lead')
        end as lifecycle_stage,
        case
            when landed.is_converted then 4
            else coalesce(seed.lifecycle_order, 1)
        end as lifecycle_order,
        'landed' as status_source
    from landed
    left join seed
        on landed.status = seed.status

),

from_seed as (

    select
        seed.status,
        seed.lifecycle_stage,
        seed.lifecycle_order,
        'seed' as status_source
    from seed
    where seed.status not in (select landed.status from landed)

),

final as (

    select
        status,
        cast(lifecycle_stage as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(lifecycle_order as {{ dbt.type_int() }}) as lifecycle_order,
        status_source
    from from_landed
    union all
    select
        status,
        cast(lifecycle_stage as {{ dbt.type_string() }}),
        cast(lifecycle_order as {{ dbt.type_int() }}),
        status_source
    from from_seed

)

select * from final
