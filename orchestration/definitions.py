"""The code location: every asset, resource, job and schedule of the warehouse."""

from __future__ import annotations

from dagster import Definitions

from assets.checks import raw_checks
from assets.clockify import clockify_assets
from assets.dbt import dbt_resource, hours_dbt_assets
from assets.linear import linear_assets
from assets.publish import published_marts
from assets.writeback import writeback_assets, writeback_job
from orchestration.jobs import warehouse_job
from orchestration.resources import build_resources
from orchestration.schedules import daily_warehouse_schedule
from orchestration.sensors import writeback_after_warehouse_run


def build_definitions() -> Definitions:
    """Definitions bound to the current environment (URLs and warehouse path are read now)."""
    return Definitions(
        assets=[*clockify_assets, *linear_assets, hours_dbt_assets, published_marts, *writeback_assets],
        asset_checks=raw_checks,
        resources={**build_resources(), "dbt": dbt_resource()},
        jobs=[warehouse_job, writeback_job],
        schedules=[daily_warehouse_schedule],
        sensors=[writeback_after_warehouse_run],
    )


defs = build_definitions()
