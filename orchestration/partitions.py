"""Daily partitions, the date windows they stand for, and the run tags that name a range of them.

This is the only module that imports Dagster's private API (`dagster._core`): the tag names a single-run
backfill carries, and the error a context raises when it has no run. tests/test_architecture.py fails
loudly when an upgrade moves them (and that nothing else imports `dagster._`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from dagster import ConfigurableResource, DailyPartitionsDefinition
from dagster._core.errors import DagsterInvalidPropertyError
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from pydantic import Field

PRIVATE_NAMES = {  # what this module takes from dagster._core, checked against each Dagster version
    "ASSET_PARTITION_RANGE_START_TAG": ASSET_PARTITION_RANGE_START_TAG,
    "ASSET_PARTITION_RANGE_END_TAG": ASSET_PARTITION_RANGE_END_TAG,
    "PARTITION_NAME_TAG": PARTITION_NAME_TAG,
}


def daily_partitions(start_date: dt.date) -> DailyPartitionsDefinition:
    """One partition per UTC day, from `start_date` (WAREHOUSE_START_DATE) up to today: today's partition
    is partial and is re-loaded by the next daily run's trailing window."""
    return DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC", end_offset=1)


def window_dates(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of a half-open partition time window [start, end)."""
    return start.date(), (end - dt.timedelta(days=1)).date()


def range_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    """Tags that make one run cover a range of daily partitions (single-run backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: start.isoformat(), ASSET_PARTITION_RANGE_END_TAG: end.isoformat()}


def run_window(tags: Mapping[str, str]) -> tuple[dt.date, dt.date] | None:
    """The days a run loaded, from its partition tags (None when it was not partitioned)."""
    if ASSET_PARTITION_RANGE_START_TAG in tags and ASSET_PARTITION_RANGE_END_TAG in tags:
        return (
            dt.date.fromisoformat(tags[ASSET_PARTITION_RANGE_START_TAG]),
            dt.date.fromisoformat(tags[ASSET_PARTITION_RANGE_END_TAG]),
        )
    if PARTITION_NAME_TAG in tags:
        day = dt.date.fromisoformat(tags[PARTITION_NAME_TAG])
        return day, day
    return None


def run_tags(context) -> dict[str, str]:
    """The tags of the context's run; none when the function was invoked directly (tests), without a run."""
    try:
        return dict(context.run.tags)
    except DagsterInvalidPropertyError:
        return {}


class ReconcileOptions(ConfigurableResource):
    """How the raw assets reconcile what the daily window cannot see (the `reconcile` resource, built from
    the Settings): old Clockify edits and deletions, and Linear issues deleted for good."""

    resync_days: int = Field(default=7, ge=0, description="WAREHOUSE_RESYNC_DAYS: the daily run's trailing days.")
    deep_resync_months: int = Field(
        default=3,
        ge=1,
        description="CLOCKIFY_DEEP_RESYNC_MONTHS: months re-read where the changes feed is unavailable.",
    )
    deep_resync_days: int = Field(
        default=7, ge=1, description="CLOCKIFY_DEEP_RESYNC_DAYS: days between two deep re-syncs."
    )
    reconcile_days: int = Field(
        default=1, ge=0, description="LINEAR_RECONCILE_DAYS: days between two walks of every Linear issue id."
    )
