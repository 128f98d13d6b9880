{#- WAREHOUSE_WORKDAY_HOURS: the hours of a working day for people whose Clockify profile has no work
    capacity (default 8). The var `warehouse_workday_hours` first, then the environment. -#}
{% macro warehouse_workday_hours() -%}
    {%- set hours = var('warehouse_workday_hours', none) or env_var('WAREHOUSE_WORKDAY_HOURS', '') or '8' -%}
    cast({{ hours | float }} as double)
{%- endmacro %}

{#- Hours of an ISO-8601 duration such as PT8H, PT7H30M or PT27000S (null when it is not one). -#}
{% macro iso_duration_hours(column) -%}
    case when regexp_full_match({{ column }}, 'PT(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?') and {{ column }} <> 'PT' then
        coalesce(try_cast(nullif(regexp_extract({{ column }}, '(\d+(\.\d+)?)H', 1), '') as double), 0)
        + coalesce(try_cast(nullif(regexp_extract({{ column }}, '(\d+(\.\d+)?)M', 1), '') as double), 0) / 60.0
        + coalesce(try_cast(nullif(regexp_extract({{ column }}, '(\d+(\.\d+)?)S', 1), '') as double), 0) / 3600.0
    end
{%- endmacro %}
