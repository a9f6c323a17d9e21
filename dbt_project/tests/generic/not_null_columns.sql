{#- `not_null` for several columns of a model in one query and one dbt node (dbt_utils-free). dbt spends
    ~0.05 s of its own time per node whatever the query costs: one node per model instead of one per
    column (155 of them) is ~4 s less of every `dbt build` (docs/BENCHMARKS.md). Returns one row per
    column holding NULLs, with its count; the test's failures are the NULLs in all of them. -#}
{% test not_null_columns(model, columns) %}
{%- if columns | length == 0 %}
    {{ exceptions.raise_compiler_error("not_null_columns on " ~ model ~ ": no columns listed") }}
{%- endif %}
{{ config(fail_calc = "coalesce(sum(null_rows), 0)") }}
with null_counts as (
    select
        {%- for column in columns %}
        sum(case when {{ column }} is null then 1 else 0 end) as nulls_{{ loop.index }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
)

{% for column in columns -%}
select
    '{{ column }}' as column_name,
    nulls_{{ loop.index }} as null_rows
from null_counts
where nulls_{{ loop.index }} > 0
{% if not loop.last %}union all{% endif %}
{% endfor %}
{% endtest %}
