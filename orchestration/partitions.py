"""Daily partitions and the date windows they stand for."""

from __future__ import annotations

import datetime as dt

from dagster import DailyPartitionsDefinition

from orchestration import settings

# One partition per UTC day, from WAREHOUSE_START_DATE up to today: today's partition is partial and is
# re-loaded by the next daily run's trailing window.
daily_partitions = DailyPartitionsDefinition(start_date=settings.start_date().isoformat(), timezone="UTC", end_offset=1)


def window_dates(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of a half-open partition time window [start, end)."""
    return start.date(), (end - dt.timedelta(days=1)).date()


def to_utc_naive(moment: dt.datetime) -> dt.datetime:
    """Dagster windows are tz-aware; the warehouse stores naive UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment
