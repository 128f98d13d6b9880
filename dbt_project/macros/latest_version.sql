{#- The latest version of each record: one row per `id_column` from `relation` (a CTE), the newest
    `updated_at` first, then the latest load (`loaded_at`: an old version backfilled later never wins),
    then `then_by` (e.g. ['partition_date desc']). Raw keeps every version it was sent; every Linear
    staging model reads through this. -#}
{% macro latest_version(relation, id_column, then_by=[]) -%}
    select * from {{ relation }}
    qualify row_number() over (
        partition by {{ id_column }}
        order by {{ (['updated_at desc nulls last', 'loaded_at desc'] + then_by) | join(', ') }}
    ) = 1
{%- endmacro %}
