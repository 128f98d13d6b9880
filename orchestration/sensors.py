"""Write-back after every successful warehouse run, so new and renamed Linear issues reach Clockify daily.

Off until switched on in the UI (like the daily schedule), and even then it writes nothing unless
CLOCKIFY_WRITEBACK=1: with the flag off each evaluation is skipped with the reason.
"""

from __future__ import annotations

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SensorDefinition,
    SkipReason,
    run_status_sensor,
)

from orchestration.settings import WritebackSettings

WRITEBACK_SENSOR = "writeback_after_warehouse_run"


def writeback_request(warehouse_run_id: str, conf: WritebackSettings) -> RunRequest | SkipReason:
    """What the sensor does for one successful warehouse run (pure: tested without a daemon)."""
    if not conf.enabled:
        return SkipReason("write-back disabled: set CLOCKIFY_WRITEBACK=1 to mirror Linear issues into Clockify")
    # One write-back per warehouse run, however often the sensor sees that run.
    return RunRequest(run_key=f"writeback-after-{warehouse_run_id}", tags={"warehouse_run_id": warehouse_run_id})


def build_writeback_sensor(warehouse_job, writeback_job, conf: WritebackSettings) -> SensorDefinition:
    @run_status_sensor(
        name=WRITEBACK_SENSOR,
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=[warehouse_job],
        request_job=writeback_job,
        default_status=DefaultSensorStatus.STOPPED,
        description="After each successful warehouse_job run (the daily schedule, a backfill, a UI run): run "
        "clockify_writeback_job, when CLOCKIFY_WRITEBACK=1.",
    )
    def writeback_after_warehouse_run(context: RunStatusSensorContext):
        return writeback_request(context.dagster_run.run_id, conf)

    return writeback_after_warehouse_run
