"""The daily schedule: yesterday plus a trailing window of days people may still have edited."""

from __future__ import annotations

import datetime as dt
import os

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from orchestration import settings
from orchestration.jobs import warehouse_job


def resync_days() -> int:
    """How many days before yesterday the daily run loads again (people edit and delete past entries)."""
    raw = os.environ.get("WAREHOUSE_RESYNC_DAYS", "7")
    if not raw.isdigit():
        raise settings.ConfigError(f"WAREHOUSE_RESYNC_DAYS={raw!r} must be a whole number of days, e.g. 7.")
    return int(raw)


def daily_window(run_date: dt.date, trailing_days: int, first_day: dt.date) -> tuple[dt.date, dt.date]:
    """Days [start, end] a run on `run_date` loads: yesterday and the `trailing_days` before it."""
    end = run_date - dt.timedelta(days=1)
    start = max(end - dt.timedelta(days=trailing_days), first_day)
    return start, end


def range_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    """Tags that make one run cover a range of daily partitions (single-run backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: start.isoformat(), ASSET_PARTITION_RANGE_END_TAG: end.isoformat()}


@schedule(
    job=warehouse_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Every day at 03:00 UTC: reload yesterday and the trailing WAREHOUSE_RESYNC_DAYS days "
    "(default 7), refresh dimensions and Linear issues updated since, then build the dbt marts.",
)
def daily_warehouse_schedule(context: ScheduleEvaluationContext):
    run_date = context.scheduled_execution_time.astimezone(dt.UTC).date()
    start, end = daily_window(run_date, resync_days(), settings.start_date())
    return RunRequest(run_key=f"daily-{run_date.isoformat()}", tags=range_tags(start, end))
