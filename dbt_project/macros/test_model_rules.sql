{#- Generic data test: a model's column rules in one test, one query (issue 15).

    Each data test is a node of its own to dbt (compile, write, run, a query over the whole table): with one
    per column rule, 350 of them took most of a build's thread time. This one checks all of a model's
    rules at once and returns one row per failure: `rule` names the rule that failed (`not_null(user_id)`,
    `relationships(issue_id -> stg_linear__issues.issue_id)`), `failing_key` the offending row's `key`
    columns (for `unique`, the duplicated value), `failing_value` the value at fault (for `unique`, how
    many rows hold it). A failed rule therefore still says what is wrong, in the build's failures and in
    Dagster's asset check (`failed_rules`, assets/checks.py).

    Arguments (all optional but `model`):
      key             column or list of columns naming a row in the failures (none: null)
      not_null        columns that must not be null
      unique          columns, or lists of columns (a combination), without duplicates; a single column
                      ignores nulls (dbt's `unique`), a combination does not (dbt_utils'
                      `unique_combination_of_columns`)
      non_negative    columns that must not be negative (nulls pass)
      accepted_values {column: [values]}: the column is one of them (nulls pass)
      expressions     SQL conditions true on every row (a null result fails)
      relationships   {column: "model.column"}: every non-null value exists there
    The rules keep the semantics of the single tests they replace (dbt's not_null, unique, accepted_values,
    relationships; macros/test_non_negative.sql, test_expression_is_true.sql,
    test_unique_combination_of_columns.sql). Severity is the test's: warn-level rules go in a second
    model_rules test with `severity: warn`.
-#}
{% test model_rules(model, key=none, not_null=[], unique=[], non_negative=[], accepted_values={}, expressions=[], relationships={}) %}
{%- set keys = [] if key is none else ([key] if key is string else key) -%}
{%- if keys -%}
  {%- set key_parts = [] -%}
  {%- for column in keys -%}
    {%- do key_parts.append("coalesce(cast(" ~ column ~ " as varchar), 'null')") -%}
  {%- endfor -%}
  {%- set key_sql = key_parts | join(" || ', ' || ") -%}
{%- else -%}
  {%- set key_sql = "cast(null as varchar)" -%}
{%- endif -%}
{#- row rules: (rule, condition true on a failing row, the value at fault) -#}
{%- set row_rules = [] -%}
{%- for column in not_null -%}
  {%- do row_rules.append(("not_null(" ~ column ~ ")", column ~ " is null", "cast(null as varchar)")) -%}
{%- endfor -%}
{%- for column in non_negative -%}
  {%- do row_rules.append(("non_negative(" ~ column ~ ")", column ~ " < 0", "cast(" ~ column ~ " as varchar)")) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
  {%- set quoted = [] -%}
  {%- for value in values -%}{%- do quoted.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}{%- endfor -%}
  {%- do row_rules.append((
        "accepted_values(" ~ column ~ ")",
        "cast(" ~ column ~ " as varchar) not in (" ~ (quoted | join(", ")) ~ ")",
        "cast(" ~ column ~ " as varchar)")) -%}
{%- endfor -%}
{%- for expression in expressions -%}
  {%- do row_rules.append(("expression(" ~ expression ~ ")", "not coalesce((" ~ expression ~ "), false)", "cast(null as varchar)")) -%}
{%- endfor -%}
{%- set branches = [] -%}
{%- if row_rules -%}
  {%- set cases = [] -%}
  {%- set conditions = [] -%}
  {%- for rule, condition, value in row_rules -%}
    {%- do cases.append("case when " ~ condition ~ " then {'rule': '" ~ (rule | replace("'", "''")) ~ "', 'failing_value': " ~ value ~ "} end") -%}
    {%- do conditions.append("(" ~ condition ~ ")") -%}
  {%- endfor -%}
  {#- One pass over the table: the rows failing any rule, then one row per rule they fail. -#}
  {%- do branches.append(
"select failure.rule as rule, failing_key, failure.failing_value as failing_value
from (
    select " ~ key_sql ~ " as failing_key,
        unnest([
            " ~ (cases | join(",\n            ")) ~ "
        ]) as failure
    from " ~ model ~ "
    where " ~ (conditions | join("\n        or ")) ~ "
) as failing_rows
where failure is not null") -%}
{%- endif -%}
{%- for columns in unique -%}
  {%- set combination = [columns] if columns is string else columns -%}
  {%- set parts = [] -%}
  {%- for column in combination -%}{%- do parts.append("coalesce(cast(" ~ column ~ " as varchar), 'null')") -%}{%- endfor -%}
  {%- do branches.append(
"select 'unique(" ~ (combination | join(", ")) ~ ")' as rule, " ~ (parts | join(" || ', ' || ")) ~ " as failing_key,
    cast(count(*) as varchar) as failing_value
from " ~ model ~ "
" ~ ("where " ~ columns ~ " is not null\n" if columns is string else "") ~ "group by " ~ (combination | join(", ")) ~ "
having count(*) > 1") -%}
{%- endfor -%}
{%- for column, target in relationships.items() -%}
  {%- set parent, field = target.split(".") -%}
  {%- do branches.append(
"select 'relationships(" ~ column ~ " -> " ~ target ~ ")' as rule, " ~ key_sql ~ " as failing_key,
    cast(" ~ column ~ " as varchar) as failing_value
from " ~ model ~ " as child
where " ~ column ~ " is not null
  and not exists (select 1 from " ~ ref(parent) ~ " as parent where parent." ~ field ~ " = child." ~ column ~ ")") -%}
{%- endfor -%}
{{ branches | join("\nunion all\n") if branches else "select cast(null as varchar) as rule, cast(null as varchar) as failing_key, cast(null as varchar) as failing_value where false" }}
{% endtest %}
