{#- Hours between two naive-UTC timestamps: (epoch seconds of end - epoch seconds of start) / 3600.0,
    computed on the exact integer microsecond difference. -#}
{% macro hours_between(start_col, end_col) -%}
    ((epoch_us({{ end_col }}) - epoch_us({{ start_col }})) / 3600000000.0)
{%- endmacro %}
