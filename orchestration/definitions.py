"""The code location: every asset, resource, job, schedule and sensor of the warehouse.

`build_definitions(settings)` is what the CLI's headless runs and the tests call; `defs` is what Dagster
loads (`dagster dev`, `dagster asset materialize -m orchestration.definitions`, workspace.yaml): the
settings are read from the environment and `.env` when Dagster asks, never at import. With
WAREHOUSE_SANDBOX=1 (`warehouse ui` sets it when it starts a sandbox) the code location reads the sandbox
and writes the demo's own files only (`Settings.demo()`), and says so in the job, its runs' tags and the
code location's metadata.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import dagster as dg

from assets.checks import raw_checks
from assets.clockify import build_clockify_assets
from assets.dbt import build_dbt_assets
from assets.linear import build_linear_assets
from assets.publish import build_published_marts
from assets.writeback import writeback_assets
from orchestration.dbt_project import dbt_project, prepare
from orchestration.executor import threads_executor
from orchestration.jobs import build_warehouse_job, writeback_job
from orchestration.partitions import daily_partitions
from orchestration.resources import build_resources
from orchestration.schedules import build_daily_schedule
from orchestration.sensors import build_writeback_sensor
from orchestration.settings import ConfigError, Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """The definitions for `settings` (the dbt manifest is prepared first when missing or stale)."""
    project = prepare(dbt_project(settings))
    partitions = daily_partitions(settings.start_date)
    dbt_assets = build_dbt_assets(project)
    warehouse_job = build_warehouse_job(
        partitions, settings.sandbox, str(settings.warehouse_path), step_threads=settings.step_threads
    )
    source = (
        "built-in sandbox (made-up data)"
        if settings.sandbox
        else f"Clockify workspace {settings.clockify.workspace_id}"
    )
    return dg.Definitions(
        metadata={"data source": source, "warehouse": str(settings.warehouse_path)},
        assets=[
            *build_clockify_assets(partitions),
            *build_linear_assets(partitions),
            dbt_assets,
            build_published_marts(dbt_assets),
            *writeback_assets,
        ],
        asset_checks=raw_checks,
        resources=build_resources(settings, project),
        jobs=[warehouse_job, writeback_job],
        schedules=[build_daily_schedule(warehouse_job, settings.resync_days, settings.start_date)],
        sensors=[build_writeback_sensor(warehouse_job, writeback_job, settings.writeback)],
        # Assets materialised from the UI's graph or `dagster asset materialize` run like the job: in threads.
        executor=threads_executor(settings.step_threads),
    )


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def location_settings(settings: Settings) -> Settings:
    """The code location's settings: in sandbox mode, the demo's files, and only local URLs."""
    if not settings.sandbox:
        return settings
    for name, url in (("CLOCKIFY_API_URL", settings.clockify.api_url), ("LINEAR_API_URL", settings.linear.api_url)):
        if urlsplit(url).hostname not in LOOPBACK:
            raise ConfigError(
                f"WAREHOUSE_SANDBOX=1 but {name}={url} is not the sandbox: unset WAREHOUSE_SANDBOX to read that "
                "API, or start the UI with `warehouse ui --sandbox`."
            )
    return settings.demo()


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(location_settings(Settings.load()))
