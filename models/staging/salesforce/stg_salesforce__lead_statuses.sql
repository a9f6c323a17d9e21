{#-
    The org's own lead process (LeadStatus metadata), when landed. One row per status value (ApiName,
    the value Lead.Status carries; the loader fills it from MasterLabel when a file has only that).
    Lifecycle stages resolve in int_lead_statuses_resolved: this object first (IsConverted = converted),
    then the lead_statuses seed.
-#}
with source as (

    select * from {{ source('salesforce', 'lead_status') }}

),

latest as (

    {{ latest_records('source', ['api_name']) }}

),

renamed as (

    select
        {{ clean_string('api_name') }} as status,
        cast(master_label as {{ dbt.type_string() }}) as status_label,
        cast(coalesce(is_converted, false) as {{ dbt.type_boolean() }}) as is_converted,
        cast(coalesce(is_default, false) as {{ dbt.type_boolean() }}) as is_default,
        cast(sort_order as {{ dbt.type_bigint() }}) as sort_order,
        _extract_date,
        _loaded_at
    from latest
    where {{ clean_string('api_name') }} is not null

)

select * from renamed
