"""The code location: every asset, resource, job, schedule and sensor of the warehouse.

`build_definitions(settings)` is what the CLI's headless runs and the tests call; `defs` is what Dagster
loads (`dagster dev`, `dagster asset materialize -m orchestration.definitions`, workspace.yaml): the
settings are read from the environment and `.env` when Dagster asks, never at import.
"""

from __future__ import annotations

import dagster as dg

from assets.checks import raw_checks
from assets.clockify import build_clockify_assets
from assets.dbt import build_dbt_assets
from assets.linear import build_linear_assets
from assets.publish import build_published_marts
from assets.writeback import writeback_assets
from orchestration.dbt_project import dbt_project, prepare
from orchestration.jobs import build_warehouse_job, writeback_job
from orchestration.partitions import daily_partitions
from orchestration.resources import build_resources
from orchestration.schedules import build_daily_schedule
from orchestration.sensors import build_writeback_sensor
from orchestration.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """The definitions for `settings` (the dbt manifest is prepared first when missing or stale)."""
    project = prepare(dbt_project(settings))
    partitions = daily_partitions(settings.start_date)
    dbt_assets = build_dbt_assets(project)
    warehouse_job = build_warehouse_job(partitions)
    return dg.Definitions(
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
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.load())
