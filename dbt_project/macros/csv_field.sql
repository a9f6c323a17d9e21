{#- A value as one CSV field (RFC 4180 quoting when it holds a comma or a quote); core.dq_unmapped_values
    writes unmapped values this way, ready to paste into a seed. -#}
{% macro csv_field(expr) -%}
    case
        when {{ expr }} like '%,%' or {{ expr }} like '%"%'
            then {{ dbt.concat(["'\"'", "replace(" ~ expr ~ ", '\"', '\"\"')", "'\"'"]) }}
        else {{ expr }}
    end
{%- endmacro %}
