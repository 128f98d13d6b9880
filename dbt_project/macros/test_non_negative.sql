{#- Generic data test: fails on rows where the column is negative (NULLs pass; use not_null for those). -#}
{% test non_negative(model, column_name) %}
select {{ column_name }} as value
from {{ model }}
where {{ column_name }} < 0
{% endtest %}
