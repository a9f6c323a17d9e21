with source as (

    select * from {{ source('salesforce', 'currency_type') }}

),

latest as (

    {{ latest_records('source', ['iso_code']) }}

),

renamed as (

    select
        upper({{ clean_string('iso_code') }}) as currency_code,
        cast(conversion_rate as {{ type_double() }}) as conversion_rate,
        cast(coalesce(is_corporate, false) as {{ dbt.type_boolean() }}) as is_corporate,
        _extract_date,
        _loaded_at
    from latest

)

select * from renamed
