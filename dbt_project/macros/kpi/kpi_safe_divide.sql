{#- Ratios in the KPI marts: double precision (macros/type_double.sql), NULL when the
    denominator is NULL or zero (never 0, never an error), so "no data" stays distinguishable from 0. -#}
{% macro kpi_safe_divide(numerator, denominator) -%}
    case
        when ({{ denominator }}) is null or ({{ denominator }}) = 0 then null
        else cast({{ numerator }} as {{ type_double() }}) / cast({{ denominator }} as {{ type_double() }})
    end
{%- endmacro %}
