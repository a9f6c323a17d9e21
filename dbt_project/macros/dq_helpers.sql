{#- Helpers of core.dq_unmapped_values: a value as one CSV field (RFC 4180 quoting when it holds a comma
    or a quote), and a boolean as the seeds write it. -#}
{% macro csv_field(expr) -%}
    case
        when {{ expr }} like '%,%' or {{ expr }} like '%"%'
            then {{ dbt.concat(["'\"'", "replace(" ~ expr ~ ", '\"', '\"\"')", "'\"'"]) }}
        else {{ expr }}
    end
{%- endmacro -%}
{%- macro bool_text(expr) -%}
    case when {{ expr }} then 'true' else 'false' end
{%- endmacro -%}
