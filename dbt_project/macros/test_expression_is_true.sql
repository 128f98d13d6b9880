{#- Generic data test (like dbt_utils.expression_is_true): fails on rows where the expression is false
    (a NULL result fails too). Usable at model or column level (the column is ignored). -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}
