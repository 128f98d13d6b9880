"""The daily schedule: yesterday plus a trailing window of days people may still have edited."""

from __future__ import annotations

import datetime as dt

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

from orchestration.partitions import range_tags

DAILY_SCHEDULE = "daily_warehouse_schedule"


def daily_window(run_date: dt.date, trailing_days: int, first_day: dt.date) -> tuple[dt.date, dt.date]:
    """Days [start, end] a run on `run_date` loads: yesterday and the `trailing_days` before it."""
    end = run_date - dt.timedelta(days=1)
    start = max(end - dt.timedelta(days=trailing_days), first_day)
    return start, end


def build_daily_schedule(job, resync_days: int, first_day: dt.date) -> ScheduleDefinition:
    """The schedule of `job` with the Settings' WAREHOUSE_RESYNC_DAYS and WAREHOUSE_START_DATE."""

    @schedule(
        name=DAILY_SCHEDULE,
        job=job,
        cron_schedule="0 3 * * *",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Every day at 03:00 UTC: reload yesterday and the trailing WAREHOUSE_RESYNC_DAYS days "
        "(default 7), refresh dimensions and Linear issues updated since, then build the dbt marts.",
    )
    def daily_warehouse_schedule(context: ScheduleEvaluationContext):
        run_date = context.scheduled_execution_time.astimezone(dt.UTC).date()
        start, end = daily_window(run_date, resync_days, first_day)
        return RunRequest(run_key=f"daily-{run_date.isoformat()}", tags=range_tags(start, end))

    return daily_warehouse_schedule
