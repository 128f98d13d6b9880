"""The jobs users launch: everything for a date range, raw loads then the dbt build."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from orchestration.partitions import daily_partitions

# Group of the Clockify write-back asset (assets/writeback.py): never part of warehouse_job, so a sync
# never writes to Clockify; it runs as its own job (clockify_writeback_job, `warehouse writeback`).
WRITEBACK_GROUP = "writeback"

# Raw assets of both sources, then dbt models and their tests. Unpartitioned dimensions are refreshed
# whole in the same run; partitioned ones load the run's date range.
warehouse_job = define_asset_job(
    name="warehouse_job",
    selection=AssetSelection.all() - AssetSelection.groups(WRITEBACK_GROUP),
    partitions_def=daily_partitions,
    description="Load Clockify and Linear for a date range into DuckDB, then build the dbt marts.",
)
