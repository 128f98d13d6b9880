"""The jobs users launch: everything for a date range (raw loads then the dbt build), and write-back."""

from __future__ import annotations

from dagster import AssetSelection, DailyPartitionsDefinition, define_asset_job

from assets.common import WRITEBACK_GROUP
from orchestration.executor import DEFAULT_MAX_CONCURRENT, threads_executor
from orchestration.warehouse.source import RUN_TAG

WAREHOUSE_JOB = "warehouse_job"
WRITEBACK_JOB = "clockify_writeback_job"
# Every run of the job carries it, so the UI's run list says where the data came from.
SOURCE_TAG = RUN_TAG
SANDBOX_NOTE = "SANDBOX: these runs read the built-in sandbox (made-up data), not a real workspace"


def build_warehouse_job(
    partitions: DailyPartitionsDefinition,
    sandbox: bool = False,
    warehouse: str = "",
    step_threads: int = DEFAULT_MAX_CONCURRENT,
):
    """Raw assets of both sources, then dbt models and their tests, and the published marts. Unpartitioned
    dimensions are refreshed whole in the same run; partitioned ones load the run's date range. Its steps run
    in threads of the run's process, Clockify's and Linear's fetches side by side (orchestration/executor.py),
    from the UI and the schedule as from `warehouse sync`, `step_threads` at once. Write-back
    is never part of it, so a sync never writes to Clockify. `sandbox`: the job's description and every
    run's tags say so (what the UI shows)."""
    description = "Load Clockify and Linear for a date range into DuckDB, then build the dbt marts."
    if sandbox:
        description = f"{SANDBOX_NOTE}; warehouse {warehouse}. {description}"
    return define_asset_job(
        name=WAREHOUSE_JOB,
        selection=AssetSelection.all() - AssetSelection.groups(WRITEBACK_GROUP),
        partitions_def=partitions,
        description=description,
        tags={SOURCE_TAG: "sandbox" if sandbox else "api"},
        executor_def=threads_executor(step_threads),
    )


writeback_job = define_asset_job(
    name=WRITEBACK_JOB,
    selection=AssetSelection.groups(WRITEBACK_GROUP),
    description="Mirror Linear issues into Clockify as tasks (needs CLOCKIFY_WRITEBACK=1 to write; "
    "dry_run lists the changes). Run it after warehouse_job has loaded Linear.",
)
