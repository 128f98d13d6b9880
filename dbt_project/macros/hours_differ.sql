{#- True when two sums of hours differ by more than floating-point noise. Sums of millions of doubles
    depend on the order DuckDB adds them in (parallel aggregation), so an absolute 1e-6 fails on large
    workspaces (seen at 2.1 million hours) although nothing is counted twice: allow 1e-9 relative on top.
    A real double count or loss is at least one entry, minutes, far above either. -#}
{% macro hours_differ(a, b) -%}
    (abs(({{ a }}) - ({{ b }})) > 1e-6 + 1e-9 * greatest(abs({{ a }}), abs({{ b }})))
{%- endmacro %}
