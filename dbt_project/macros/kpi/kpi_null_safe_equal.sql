{#- Join condition that matches NULL to NULL (a NULL lead source is a group of its own, not a lost row).
    "is not distinct from" is not portable to Spark (<=>), so it is spelled out. -#}
{% macro kpi_null_safe_equal(left, right) -%}
    ({{ left }} = {{ right }} or ({{ left }} is null and {{ right }} is null))
{%- endmacro %}
