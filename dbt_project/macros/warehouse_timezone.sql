{#- WAREHOUSE_TIMEZONE (an IANA name): the zone whose calendar days and ISO weeks count the time of a user
    without a (known) Clockify profile zone. The orchestration passes it as the var `warehouse_timezone`
    (orchestration/dbt_project.py: dbt_vars); dbt run by hand reads the environment; default UTC. -#}
{% macro warehouse_timezone() -%}
    {%- set zone = var('warehouse_timezone', none) or env_var('WAREHOUSE_TIMEZONE', '') or 'UTC' -%}
    '{{ zone | replace("'", "''") }}'
{%- endmacro %}
