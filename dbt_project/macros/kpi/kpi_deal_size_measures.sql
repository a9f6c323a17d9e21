{#- The measures of deal size (doc "kpi_deal_size"), the same in kpi_deal_size and kpi_deal_size_quarterly:
    aggregates over won deals with an amount (`amount_column`), grouped by the calling mart's grain.
    The average is sum / count of those deals; the median cannot be re-aggregated to another grain. Both
    are money, rounded to the cent (the median interpolates in double precision on every engine). -#}
{% macro kpi_deal_size_measures(amount_column) -%}
    cast(count(*) as bigint) as won_deal_count,
    {{ kpi_amount('sum(' ~ amount_column ~ ')') }} as won_amount_corporate,
    {{ kpi_amount(kpi_safe_divide('sum(' ~ amount_column ~ ')', 'count(*)')) }} as avg_deal_size_corporate,
    {{ kpi_amount(kpi_percentile_cont(0.5, 'cast(' ~ amount_column ~ ' as ' ~ type_double() ~ ')')) }}
        as median_deal_size_corporate
{%- endmacro %}
