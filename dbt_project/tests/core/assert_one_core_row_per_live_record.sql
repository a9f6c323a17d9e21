-- Facts keep every live staged record: nothing is dropped by joins (e.g. an unknown stage or activity type).
select 'fct_opportunities' as model_name, staged, core
from (
    select
        (select count(*) from {{ ref('stg_salesforce__opportunities') }}) as staged,
        (select count(*) from {{ ref('fct_opportunities') }}) as core
) as counts
where staged <> core
union all
select 'fct_activities', staged, core
from (
    select
        (select count(*) from {{ ref('stg_salesforce__tasks') }})
        + (select count(*) from {{ ref('stg_salesforce__events') }}) as staged,
        (select count(*) from {{ ref('fct_activities') }}) as core
) as counts
where staged <> core
union all
select 'fct_leads', staged, core
from (
    select
        (select count(*) from {{ ref('stg_salesforce__leads') }}) as staged,
        (select count(*) from {{ ref('fct_leads') }}) as core
) as counts
where staged <> core
