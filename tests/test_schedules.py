"""Pure helpers behind the daily schedule and the CLI's date checks."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration.partitions import range_tags
from orchestration.runs import SyncError, parse_day, validate_range
from orchestration.schedules import daily_window

FIRST = dt.date(2024, 1, 1)


def test_daily_window_is_yesterday_and_the_trailing_days():
    assert daily_window(dt.date(2024, 6, 10), 7, FIRST) == (dt.date(2024, 6, 2), dt.date(2024, 6, 9))


def test_daily_window_never_starts_before_the_first_partition():
    assert daily_window(dt.date(2024, 1, 3), 7, FIRST) == (FIRST, dt.date(2024, 1, 2))


def test_range_tags_name_a_single_run_backfill():
    tags = range_tags(dt.date(2024, 6, 2), dt.date(2024, 6, 9))
    assert tags == {
        "dagster/asset_partition_range_start": "2024-06-02",
        "dagster/asset_partition_range_end": "2024-06-09",
    }


@pytest.mark.parametrize(
    ("start", "end", "needle"),
    [
        (dt.date(2024, 5, 2), dt.date(2024, 5, 1), "after --end"),
        (dt.date(2023, 12, 31), dt.date(2024, 1, 5), "WAREHOUSE_START_DATE"),
        (dt.date(2024, 5, 1), dt.date(2024, 5, 11), "in the future"),
    ],
)
def test_bad_ranges_are_refused_with_the_fix(start, end, needle):
    with pytest.raises(SyncError, match=needle):
        validate_range(start, end, FIRST, today=dt.date(2024, 5, 10))


def test_a_good_range_passes():
    validate_range(dt.date(2024, 5, 1), dt.date(2024, 5, 10), FIRST, today=dt.date(2024, 5, 10))


def test_malformed_dates_name_the_flag_and_format():
    with pytest.raises(SyncError, match=r"--start '2024-13-01' is not a date: write it as YYYY-MM-DD"):
        parse_day("2024-13-01", "--start")
