{#- Amount columns of the marts have one explicit type on every engine (decimal(18, 2), `money`), instead
    of whatever sum() of the fact's type yields there (unconstrained numeric on PostgreSQL, decimal(38, 2)
    on DuckDB), so BI tools, unit tests and the enforced contracts see the same column everywhere. A sum of
    the facts' cents is exact; an average, median or per-rep amount is rounded to the cent here. -#}
{% macro kpi_amount(expression) -%}
    {{ money(expression) }}
{%- endmacro %}
