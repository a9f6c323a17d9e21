{#-
    Every extracted version of every Opportunity (the raw table as landed, deleted versions included):
    the day-by-day history of the record, from which int_opportunity_states_ranged rebuilds the state of
    each past day (the latest version extracted on or before it). A view: only that model reads it, once
    per build, and a table would copy every version of the raw table again. `version_date`: the day the
    version took effect (SystemModstamp's day, at the latest the extract date).
-#}
{{ config(materialized='view') }}
{% call stage_all_versions(source('salesforce', 'opportunity')) %}
    cast(id as {{ dbt.type_string() }}) as opportunity_id,
    cast(account_id as {{ dbt.type_string() }}) as account_id,
    cast(owner_id as {{ dbt.type_string() }}) as rep_id,
    cast(stage_name as {{ dbt.type_string() }}) as stage_name,
    cast(amount as {{ dbt.type_numeric() }}) as amount,
    -- A missing currency means the corporate currency (landing contract), as in stg_salesforce__opportunities.
    coalesce(
        upper({{ clean_string('currency_iso_code') }}),
        '{{ var("corporate_currency") }}'
    ) as currency_code,
    -- Salesforce stores percent (0-100); the warehouse keeps fractions 0..1.
    cast(probability as {{ type_double() }}) / 100.0 as probability,
    cast(is_closed as {{ dbt.type_boolean() }}) as is_closed_in_source,
    cast(is_won as {{ dbt.type_boolean() }}) as is_won_in_source,
    cast(forecast_category_name as {{ dbt.type_string() }}) as forecast_category_name,
    cast(close_date as date) as close_date,
    cast(created_date as {{ dbt.type_timestamp() }}) as created_at,
    coalesce(cast(is_deleted as {{ dbt.type_boolean() }}), false) as is_deleted,
    cast(system_modstamp as {{ dbt.type_timestamp() }}) as modified_at,
    -- The day from which the version describes the record: its SystemModstamp's day (the record did not
    -- change after it), so an extract that arrives late does not date it late; never after the extract.
    case
        when cast(system_modstamp as date) < _extract_date then cast(system_modstamp as date)
        else _extract_date
    end as version_date
{% endcall %}
