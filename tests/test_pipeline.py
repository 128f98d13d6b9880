"""End to end through Dagster: sandbox APIs -> raw assets -> DuckDB."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter

import duckdb
from dagster import materialize

from assets.clockify import build_clockify_assets
from assets.common import API_RAW_KEYS
from assets.linear import build_linear_assets
from orchestration.partitions import daily_partitions
from orchestration.resources import build_resources
from orchestration.runs import run_sync
from orchestration.settings import Settings
from orchestration.warehouse import raw_tables as t
from sandbox import Sandbox, SandboxConfig
from tests.conftest import ANCHOR
from tests.reliability import VOLATILE

DAY = ANCHOR - dt.timedelta(days=3)


def settings() -> Settings:
    """The settings of the environment as the test has set it now."""
    return Settings.from_env(os.environ)


def raw_assets():
    partitions = daily_partitions(settings().start_date)
    return [*build_clockify_assets(partitions), *build_linear_assets(partitions)]


def warehouse_rows(sql: str, params=None):
    import os

    with duckdb.connect(os.environ["WAREHOUSE_PATH"], read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def entries_on(sandbox, day: dt.date) -> set[str]:
    return {
        e["id"]
        for e in sandbox.workspace.clockify_time_entries
        if dt.datetime.fromisoformat(e["timeInterval"]["start"].replace("Z", "+00:00")).date() == day
        and e["timeInterval"]["end"] is not None
    }


def materialize_day(day: dt.date):
    result = materialize(raw_assets(), partition_key=day.isoformat(), resources=build_resources(settings()))
    assert result.success
    return result


def test_materializing_a_partition_loads_every_raw_table(pipeline_env):
    materialize_day(DAY)
    for table in t.ALL_TABLES:
        (count,) = warehouse_rows(f"SELECT count(*) FROM {table.qualified_name}")[0]
        assert count > 0, table.qualified_name
    loaded = {r[0] for r in warehouse_rows("SELECT id FROM raw.clockify_time_entries WHERE ended_at IS NOT NULL")}
    assert loaded == entries_on(pipeline_env, DAY)
    assert warehouse_rows("SELECT DISTINCT _partition_date FROM raw.clockify_time_entries") == [(DAY,)]


def test_metadata_counts_each_assets_own_requests(pipeline_env):
    result = materialize_day(DAY)
    metadata = {
        m.asset_key.path[-1]: m.metadata for m in (e.materialization for e in result.get_asset_materialization_events())
    }
    assert metadata["clockify_time_entries"]["api_requests"].value == 1  # one report page for one day
    assert metadata["clockify_time_entries"]["date_range"].value == f"{DAY} .. {DAY}"
    total = sum(m["api_requests"].value for m in metadata.values())
    assert total == sum(pipeline_env.request_counts().values())


def test_first_issue_load_brings_the_full_history(pipeline_env):
    materialize_day(DAY)
    (count,) = warehouse_rows("SELECT count(*) FROM raw.linear_issues")[0]
    assert count == len(pipeline_env.workspace.linear_issues)


def test_loading_the_same_partition_twice_leaves_identical_rows(pipeline_env):
    snapshot = "SELECT * EXCLUDE (_loaded_at) FROM raw.clockify_time_entries ORDER BY id"
    materialize_day(DAY)
    first = warehouse_rows(snapshot)
    materialize_day(DAY)
    assert warehouse_rows(snapshot) == first
    assert first


def test_a_deleted_entry_disappears_when_its_day_reloads(pipeline_env):
    materialize_day(DAY)
    victim = sorted(entries_on(pipeline_env, DAY))[0]
    pipeline_env.workspace.delete_time_entry(victim)
    materialize_day(DAY)
    ids = {r[0] for r in warehouse_rows("SELECT id FROM raw.clockify_time_entries")}
    assert victim not in ids
    assert ids >= entries_on(pipeline_env, DAY)


def raw_snapshot() -> dict[str, list]:
    return {
        table.name: warehouse_rows(
            f"SELECT * EXCLUDE ({', '.join(('_loaded_at', *VOLATILE.get(table.name, ())))}) "
            f"FROM {table.qualified_name} ORDER BY ALL"
        )
        for table in t.ALL_TABLES
    }


RAW_KEYS = API_RAW_KEYS


def test_sync_with_faults_leaves_the_same_raw_rows(pipeline_env, tmp_path, monkeypatch):
    start, end = ANCHOR - dt.timedelta(days=9), ANCHOR - dt.timedelta(days=1)
    pipeline_env.reset_counts()
    run_sync(settings(), start, end, asset_selection=RAW_KEYS)
    clean, clean_requests = raw_snapshot(), pipeline_env.request_counts()

    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "faulty.duckdb"))
    faults = pipeline_env.faults
    injected = [  # (api, kind, times, after, params)
        ("clockify", "429", 2, 0, dict(retry_after=0)),
        ("clockify", "503", 2, 3, {}),
        ("clockify_reports", "truncated", 1, 0, {}),
        ("clockify_reports", "502", 1, 0, {}),  # the retry of the truncated page (the range is one page)
        ("linear", "ratelimited_400", 1, 0, {}),
        ("linear", "500", 1, 2, {}),
        ("linear", "reset", 1, 4, {}),
    ]
    for api, kind, times, after, params in injected:
        faults.add(api, kind, times=times, after=after, **params)
    pipeline_env.reset_counts()
    run_sync(settings(), start, end, asset_selection=RAW_KEYS)
    assert raw_snapshot() == clean
    # Every injected failure was answered ...
    expected = Counter()
    for api, kind, times, _after, _params in injected:
        expected[(api, kind)] += times
    assert Counter((api, kind) for api, kind, _path in faults.history) == expected
    assert not faults.pending()
    # ... and cost exactly one retry: the faulty run made the clean run's requests plus one per failure,
    # per API (a client that re-fetched whole ranges or retried twice would make more).
    faulty_requests = pipeline_env.request_counts()
    extra = {api: faulty_requests[api] - clean_requests[api] for api in clean_requests}
    per_api = {api: sum(n for (a, _kind), n in expected.items() if a == api) for api in clean_requests}
    assert extra == per_api == {"clockify": 4, "clockify_reports": 2, "linear": 3}


def test_customers_load_empty_with_the_reason_when_the_plan_lacks_them(tmp_path, monkeypatch):
    """Linear answers FEATURE_NOT_ACCESSIBLE where the plan has no customers: the asset records an empty
    table and says why in its metadata instead of failing every run (issue 11)."""
    from assets.linear import linear_customers
    from tests.conftest import SMALL

    with Sandbox(SandboxConfig(**SMALL, linear_customers_enabled=False)) as off:
        for key, value in off.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        result = materialize([linear_customers], resources=build_resources(settings()))
    assert result.success
    (materialization,) = result.asset_materializations_for_node(linear_customers.op.name)
    metadata = materialization.metadata
    assert metadata["dagster/row_count"].value == 0
    assert "FEATURE_NOT_ACCESSIBLE" in metadata["feature_not_accessible"].value
    assert warehouse_rows(f"select count(*) from {t.LINEAR_CUSTOMERS.qualified_name}") == [(0,)]
