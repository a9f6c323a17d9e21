{% call stage_latest_records(source('salesforce', 'dated_conversion_rate'), ['iso_code', 'start_date']) %}
    {{ dbt.concat([
        "upper(" ~ clean_string('iso_code') ~ ")",
        "'|'",
        "cast(cast(start_date as date) as " ~ dbt.type_string() ~ ")",
    ]) }} as dated_conversion_rate_id,
    upper({{ clean_string('iso_code') }}) as currency_code,
    cast(conversion_rate as {{ type_double() }}) as conversion_rate,
    cast(start_date as date) as start_date,
    cast(next_start_date as date) as next_start_date
{% endcall %}
