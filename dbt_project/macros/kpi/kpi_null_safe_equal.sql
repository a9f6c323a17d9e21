{#- Join condition that matches NULL to NULL (a NULL lead source is a group of its own, not a lost row).
    Spelled out (`is not distinct from` would do the same). Either form is a join filter PostgreSQL can
    neither hash nor merge on: joins of large tables use a coalesced key instead (pipeline_regroup). -#}
{% macro kpi_null_safe_equal(left, right) -%}
    ({{ left }} = {{ right }} or ({{ left }} is null and {{ right }} is null))
{%- endmacro %}
