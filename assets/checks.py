"""Asset checks on the raw layer: a working day without time entries is flagged.

A weekday (Monday to Friday) in the loaded range with no Clockify time entry at all usually means a
failed or partial load, a wrong workspace or an expired key, not a team that did not work. The check
warns (severity WARN: holidays exist) and lists the days; it never blocks the dbt build.

The range checked is the run's: its partition range (a backfill or the daily run) or its single
partition; a check run on its own checks every day from the first to the last loaded one. Today (UTC) is
never checked: its entries are still being typed.

Days are the people's own (issue 17): an entry counts on its local date, its start in its user's Clockify
profile zone (raw.clockify_users.time_zone), else WAREHOUSE_TIMEZONE. A Sydney team's Monday starts on
Sunday UTC, so the UTC partitions either side of the range are read too.

The dbt data tests become asset checks through dagster-dbt (assets/dbt.py). A model's column rules are one
`model_rules` test (dbt_project/macros/test_model_rules.sql: one query per model instead of one per rule);
`with_failed_rules` names the rules a failed one found (`failed_rules`), so its check still says what is
wrong.
"""

import datetime as dt
from collections.abc import Iterator, Mapping

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)
from dagster_dbt import DbtCliInvocation
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from assets.common import raw_key
from orchestration.partitions import run_tags, run_window
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse

TIME_ENTRIES = t.CLOCKIFY_TIME_ENTRIES
USERS = t.CLOCKIFY_USERS
RULES_TEST = "model_rules"  # the generic test of dbt_project/macros/test_model_rules.sql


def working_days(first: dt.date, last: dt.date) -> list[dt.date]:
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [d for d in days if d.isoweekday() <= 5]


def working_days_without_entries(
    con, first: dt.date, last: dt.date, today: dt.date | None = None, timezone: str = "UTC"
) -> list[dt.date]:
    """Weekdays in [first, last], before `today`, on which no raw time entry starts (local dates, see above)."""
    today = today or dt.datetime.now(dt.UTC).date()
    last = min(last, today - dt.timedelta(days=1))
    if last < first:
        return []
    # a local day lies within one UTC day either side of itself (offsets are under +-14 h)
    params = {"first": first, "last": last, "zone": timezone}
    params |= {"utc_first": first - dt.timedelta(days=1), "utc_last": last + dt.timedelta(days=1)}
    present = {
        row[0]
        for row in con.execute(
            f"""
            with zones as (
                select id as user_id, arg_max(time_zone, _loaded_at) as zone from {USERS.qualified_name} group by id
            ),
            entries as (
                select e.started_at, coalesce(tz.name, $zone) as zone
                from {TIME_ENTRIES.qualified_name} e
                left join zones on e.user_id = zones.user_id
                left join pg_timezone_names() tz on zones.zone = tz.name
                where e._partition_date between $utc_first and $utc_last and e.started_at is not null
            )
            select distinct cast(timezone(zone, timezone('UTC', started_at)) as date) as local_date
            from entries
            where local_date between $first and $last
            """
            if _table_exists(con, USERS)
            else f"""
            select distinct cast(timezone($zone, timezone('UTC', started_at)) as date) as local_date
            from {TIME_ENTRIES.qualified_name}
            where _partition_date between $utc_first and $utc_last and started_at is not null
              and local_date between $first and $last
            """,
            params,
        ).fetchall()
    }
    return [d for d in working_days(first, last) if d not in present]


def _table_exists(con, table: t.RawTable = TIME_ENTRIES) -> bool:
    (count,) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = $name",
        {"name": table.name},
    ).fetchone()
    return bool(count)


@asset_check(
    asset=raw_key(TIME_ENTRIES),
    name="working_days_have_entries",
    description="Warns when a working day (Mon-Fri, the people's local days, before today UTC) in the loaded "
    "range has no time entries at all: usually a failed or partial load rather than a day nobody worked.",
    blocking=False,
)
def working_days_have_entries(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        if not _table_exists(con):
            return AssetCheckResult(
                passed=False,
                severity=AssetCheckSeverity.WARN,
                metadata={"reason": MetadataValue.text("raw.clockify_time_entries has not been loaded yet")},
            )
        window = run_window(run_tags(context))
        if window is None:
            first, last = con.execute(
                f"SELECT min(_partition_date), max(_partition_date) FROM {TIME_ENTRIES.qualified_name}"
            ).fetchone()
            if first is None:
                return AssetCheckResult(
                    passed=False,
                    severity=AssetCheckSeverity.WARN,
                    metadata={"reason": MetadataValue.text("raw.clockify_time_entries is empty")},
                )
            window = (first, last)
        missing = working_days_without_entries(con, *window, timezone=warehouse.timezone)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    checked = len(working_days(window[0], min(window[1], yesterday)))
    return AssetCheckResult(
        passed=not missing,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "date_range": MetadataValue.text(f"{window[0]} .. {window[1]}"),
            "working_days_checked": checked,
            "working_days_without_entries": len(missing),
            "days": MetadataValue.text(", ".join(d.isoformat() for d in missing[:60]) or "none"),
        },
        description=(
            f"{len(missing)} working day(s) without time entries: " + ", ".join(d.isoformat() for d in missing[:10])
        )
        if missing
        else None,
    )


raw_checks = [working_days_have_entries]


def failed_rules(con, test_sql: str) -> dict[str, int]:
    """The rules a model_rules test's compiled SQL finds broken, each with its number of failing rows."""
    rows = con.execute(f"select rule, count(*) from ({test_sql}) as failures group by rule order by rule").fetchall()
    return dict(rows)


def _rules_description(rules: Mapping[str, int]) -> str:
    return "failed rules: " + ", ".join(f"{rule} ({count} rows)" for rule, count in rules.items())


def with_failed_rules(invocation: DbtCliInvocation, warehouse: Warehouse) -> Iterator:
    """The events of a dbt build as they come, except a failed model_rules check: it is held until dbt has
    ended (it holds the DuckDB file until then), then yielded with `failed_rules` (each rule, its failing
    rows) and a description naming them, its test's query run again on the warehouse. A failed build still
    raises, after them. The caller holds the warehouse lock (re-entrant within its thread)."""
    manifest = invocation.manifest
    held: list[AssetCheckResult] = []
    failure: DagsterDbtCliRuntimeError | None = None
    try:
        for event in invocation.stream():
            if isinstance(event, AssetCheckResult) and not event.passed and _is_rules_check(event, manifest):
                held.append(event)
            else:
                yield event
    except DagsterDbtCliRuntimeError as error:  # an error-level test failed: its rules are named first
        failure = error
    if held:
        results = {r["unique_id"]: r for r in invocation.get_artifact("run_results.json")["results"]}
        with warehouse.connect(read_only=True) as con:
            for event in held:
                yield _named(event, results.get(_unique_id(event)), con)
    if failure is not None:
        raise failure


def _unique_id(event: AssetCheckResult) -> str | None:
    value = event.metadata.get("unique_id")
    return getattr(value, "value", value)


def _is_rules_check(event: AssetCheckResult, manifest: Mapping) -> bool:
    node = manifest["nodes"].get(_unique_id(event) or "", {})
    return (node.get("test_metadata") or {}).get("name") == RULES_TEST


def _named(event: AssetCheckResult, result: Mapping | None, con) -> AssetCheckResult:
    sql = (result or {}).get("compiled_code")
    if not sql or (result or {}).get("status") not in ("fail", "warn"):
        return event  # the test did not run its query (an error, or skipped): dbt's message says why
    try:
        rules = failed_rules(con, sql)
    except duckdb.Error as error:
        rules, note = {}, f"failed rules unknown: {str(error).splitlines()[0]}"
    else:
        note = _rules_description(rules)
    return AssetCheckResult(
        passed=event.passed,
        asset_key=event.asset_key,
        check_name=event.check_name,
        severity=event.severity,
        metadata={**event.metadata, "failed_rules": MetadataValue.json(rules)},
        description=note,
    )
