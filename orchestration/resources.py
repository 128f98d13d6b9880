"""The resources of a run, built from its `Settings`.

The API clients are created inside resource functions from the Settings the definitions were built with,
so their keys never become resource config: Dagster stores and shows no config for them (nothing to leak
into run config, the run storage or the UI), and the keys themselves are `SecretStr` until the client is
made. The warehouse and dbt resources carry their (non-secret) config as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from importlib.metadata import version as package_version

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject

from orchestration.clients.clockify.client import ClockifyClient
from orchestration.clients.linear.client import LinearClient
from orchestration.dbt_project import dbt_executable
from orchestration.partitions import ReconcileOptions
from orchestration.settings import Settings
from orchestration.warehouse import source
from orchestration.warehouse.duckdb import Warehouse
from orchestration.writeback.apply import WritebackOptions


def budget_store_path(settings: Settings) -> str:
    """Where the API budgets' state outlives a run (clients/budget.py): beside the warehouse, like its lock."""
    return f"{settings.warehouse_path}.budgets.json"


def _api(settings: Settings, persist_budget: bool = True) -> dict:
    api = settings.api
    return dict(
        max_attempts=api.max_attempts,
        max_retry_seconds=api.max_retry_seconds,
        connect_timeout=api.connect_timeout,
        read_timeout=api.read_timeout,
        backoff_base=api.backoff_base,
        budget_wait_seconds=api.budget_wait_seconds,
        budget_store_path=budget_store_path(settings) if persist_budget else "",  # "": kept in memory
    )


def _secret(value) -> str:
    return value.get_secret_value() if value is not None else ""


def clockify_client(settings: Settings, persist_budget: bool = True) -> ClockifyClient:
    """A Clockify client for `settings` (for the resource below, and for checks outside a run, which keep
    the budget's state in memory: `warehouse check` writes nothing)."""
    c = settings.clockify
    sizes = {k: v for k, v in (("page_size", c.page_size), ("report_page_size", c.report_page_size)) if v}
    client = ClockifyClient(
        api_key=_secret(c.api_key),
        workspace_id=c.workspace_id or "",
        api_url=c.api_url,
        reports_url=c.reports_url,
        time_entries_strategy=c.time_entries_strategy,
        plan=c.plan,
        refresh_days=c.refresh_days,
        record_refresh_days=c.record_refresh_days,
        **sizes,
        **_api(settings, persist_budget),
    )
    client.use_clock(settings.clock)
    return client


def linear_client(settings: Settings, persist_budget: bool = True) -> LinearClient:
    sizes = {"page_size": settings.linear.page_size} if settings.linear.page_size else {}
    client = LinearClient(
        api_key=_secret(settings.linear.api_key),
        api_url=settings.linear.api_url,
        **sizes,
        **_api(settings, persist_budget),
    )
    client.use_clock(settings.clock)
    return client


def _tag_sandbox_run(context) -> None:
    run = context.dagster_run
    if context.instance is not None and run is not None and run.tags.get(source.RUN_TAG) != source.SANDBOX:
        context.instance.add_run_tags(run.run_id, {source.RUN_TAG: source.SANDBOX})


def _client_resource(make, settings: Settings, description: str) -> dg.ResourceDefinition:
    @dg.resource(description=description)
    def client(context) -> Iterator:
        if settings.sandbox:  # e.g. `dagster asset materialize` runs: the run list says SANDBOX too
            _tag_sandbox_run(context)
        instance = make(settings)
        try:
            yield instance  # one instance per run: its request counter serves every asset's metadata
        finally:
            instance.close()

    return client


def warehouse_resource(settings: Settings) -> Warehouse:
    """The warehouse, checking every load against the sources these settings read (source.py)."""
    clockify, linear = source.expected(settings)
    return Warehouse(
        path=str(settings.warehouse_path),
        marts_path=str(settings.marts_path),
        marts_storage_version=settings.marts_storage_version or "",
        marts_parquet_dir=str(settings.marts_parquet_dir or ""),
        timezone=settings.timezone,
        workday_hours=settings.workday_hours,
        clockify_source=clockify.source_id,
        clockify_host=clockify.host,
        linear_source=linear.source_id,
        linear_host=linear.host,
        check_sources=True,
    )


class HoursDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource without two start-up costs of every `dbt build` that this project never uses:

    - `dbt --version` in a subprocess (a whole dbt process start, ~2 s, 8-14 s on a busy machine) to learn
      the version: the dbt run is this environment's dbt-core (pinned <1.12), so its package metadata says it;
    - a dbt adapter built in the Dagster process (profile, project and macros loaded, ~1 s): dagster-dbt only
      uses it for column metadata and row counts, which hours_dbt_assets never asks for.
    tests/test_dbt_project.py fails if a dagster-dbt upgrade renames either.
    """

    @cached_property
    def _cli_version(self):
        from packaging.version import Version  # noqa: PLC0415 - dagster-dbt's own dependency

        return Version(package_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def build_resources(settings: Settings, project: DbtProject | None = None) -> dict:
    """`clockify`, `linear`, `warehouse`, `writeback`, `reconcile` and (given the dbt project) `dbt`."""
    resources: dict = {
        "clockify": _client_resource(
            clockify_client, settings, "Clockify API client (key from CLOCKIFY_API_KEY, never in config)."
        ),
        "linear": _client_resource(
            linear_client, settings, "Linear API client (key from LINEAR_API_KEY, never in config)."
        ),
        "warehouse": warehouse_resource(settings),
        "writeback": WritebackOptions.from_settings(settings.writeback),
        "reconcile": ReconcileOptions(
            resync_days=settings.resync_days,
            deep_resync_months=settings.clockify.deep_resync_months,
            deep_resync_days=settings.clockify.deep_resync_days,
            reconcile_days=settings.linear.reconcile_days,
        ),
    }
    if project is not None:
        resources["dbt"] = HoursDbtCliResource(
            project_dir=project, dbt_executable=settings.dbt_executable or dbt_executable()
        )
    return resources
