"""The jobs users launch: everything for a date range (raw loads then the dbt build), and write-back."""

from __future__ import annotations

from dagster import AssetSelection, DailyPartitionsDefinition, define_asset_job

from assets.common import WRITEBACK_GROUP

WAREHOUSE_JOB = "warehouse_job"
WRITEBACK_JOB = "clockify_writeback_job"


def build_warehouse_job(partitions: DailyPartitionsDefinition):
    """Raw assets of both sources, then dbt models and their tests, and the published marts. Unpartitioned
    dimensions are refreshed whole in the same run; partitioned ones load the run's date range. Write-back
    is never part of it, so a sync never writes to Clockify."""
    return define_asset_job(
        name=WAREHOUSE_JOB,
        selection=AssetSelection.all() - AssetSelection.groups(WRITEBACK_GROUP),
        partitions_def=partitions,
        description="Load Clockify and Linear for a date range into DuckDB, then build the dbt marts.",
    )


writeback_job = define_asset_job(
    name=WRITEBACK_JOB,
    selection=AssetSelection.groups(WRITEBACK_GROUP),
    description="Mirror Linear issues into Clockify as tasks (needs CLOCKIFY_WRITEBACK=1 to write; "
    "dry_run lists the changes). Run it after warehouse_job has loaded Linear.",
)
