-- Facts keep every live staged record: nothing is dropped by joins (e.g. an unknown stage or activity type).
with counts as (

    select
        'fct_opportunities' as model_name,
        (select count(*) from {{ ref('stg_salesforce__opportunities') }}) as staged,
        (select count(*) from {{ ref('fct_opportunities') }}) as core
    union all
    select
        'fct_activities' as model_name,
        (select count(*) from {{ ref('stg_salesforce__tasks') }})
        + (select count(*) from {{ ref('stg_salesforce__events') }}) as staged,
        (select count(*) from {{ ref('fct_activities') }}) as core
    union all
    select
        'fct_leads' as model_name,
        (select count(*) from {{ ref('stg_salesforce__leads') }}) as staged,
        (select count(*) from {{ ref('fct_leads') }}) as core

)

select * from counts
where staged <> core
