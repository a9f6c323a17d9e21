{#-
    Fractional days from timestamp `start_ts` to `end_ts` (end - start), e.g. 1.5 for 36 hours.
    dbt.datediff counts whole unit boundaries, so the difference is taken in seconds and divided.
-#}
{% macro days_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('days_between', 'sales_wh')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__days_between(start_ts, end_ts) -%}
    ({{ dbt.datediff(start_ts, end_ts, 'second') }} / 86400.0)
{%- endmacro %}

{#- DuckDB: epoch_ms keeps sub-second precision. -#}
{% macro duckdb__days_between(start_ts, end_ts) -%}
    ((epoch_ms(cast({{ end_ts }} as timestamp)) - epoch_ms(cast({{ start_ts }} as timestamp))) / 86400000.0)
{%- endmacro %}

{#- PostgreSQL: extract(epoch) of an interval is fractional seconds. -#}
{% macro postgres__days_between(start_ts, end_ts) -%}
    (extract(epoch from (cast({{ end_ts }} as timestamp) - cast({{ start_ts }} as timestamp))) / 86400.0)
{%- endmacro %}

{#- Spark: unix_micros keeps sub-second precision. -#}
{% macro spark__days_between(start_ts, end_ts) -%}
    ((unix_micros(cast({{ end_ts }} as timestamp)) - unix_micros(cast({{ start_ts }} as timestamp))) / 86400000000.0)
{%- endmacro %}
