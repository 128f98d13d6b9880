-- MetricFlow's time spine: one row per day. A mart (schema marts, dbt_project.yml), so it is published
-- with the others and the semantic layer runs on the published file; it doubles as a calendar for BI
-- joins. A fixed range, far wider than any data (WAREHOUSE_START_DATE defaults to 2024), keeps it stable.

select cast(day as date) as date_day
from generate_series(date '2015-01-01', date '2040-12-31', interval 1 day) as days(day)
