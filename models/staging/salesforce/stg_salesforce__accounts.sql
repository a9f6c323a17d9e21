with source as (

    select * from {{ source('salesforce', 'account') }}

),

ranked as (

    select
        source.*,
        {{ version_rank(['id'], 'system_modstamp') }} as version_rank
    from source

),

latest as (

    -- Deletion is decided on the latest version only, so a later undelete brings the record back.
    select * from ranked
    where version_rank = 1
        and not coalesce(is_deleted, false)

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as account_id,
        cast(name as {{ dbt.type_string() }}) as account_name,
        cast(owner_id as {{ dbt.type_string() }}) as owner_rep_id,
        cast(industry as {{ dbt.type_string() }}) as industry,
        cast(type as {{ dbt.type_string() }}) as account_type,
        cast(billing_country as {{ dbt.type_string() }}) as billing_country,
        cast(number_of_employees as {{ dbt.type_bigint() }}) as number_of_employees,
        cast(annual_revenue as {{ dbt.type_numeric() }}) as annual_revenue,
        {{ clean_string('segment__c') }} as segment,
        cast(created_date as {{ dbt.type_timestamp() }}) as created_at,
        cast(system_modstamp as {{ dbt.type_timestamp() }}) as modified_at,
        _extract_date,
        _loaded_at
    from latest

)

select * from renamed
