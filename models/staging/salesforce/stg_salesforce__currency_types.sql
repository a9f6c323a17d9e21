{% call stage_latest_records(source('salesforce', 'currency_type'), ['iso_code']) %}
    upper({{ clean_string('iso_code') }}) as currency_code,
    cast(conversion_rate as {{ type_double() }}) as conversion_rate,
    cast(coalesce(is_corporate, false) as {{ dbt.type_boolean() }}) as is_corporate
{% endcall %}
