{#- Generic data test (like dbt_utils.expression_is_true): fails on rows where the expression is false. -#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
