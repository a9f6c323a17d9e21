{#- `unique` and `not_null` of a key column in one query and one dbt node (dbt_utils-free): dbt spends
    ~0.05-0.1 s of its own time per node whatever the query costs, and 28 keys had both (docs/CHECKS.md).
    Returns one row per key value that breaks the key: a value found more than once, or NULL (all NULL
    rows are one group); `occurrences` is its number of rows. The test's failures are those values. -#}
{% test primary_key(model, column_name) %}
select
    {{ column_name }} as key_value,
    count(*) as occurrences
from {{ model }}
group by {{ column_name }}
having count(*) > 1 or {{ column_name }} is null
{% endtest %}
