"""The raw time entries check: a working day (Mon-Fri) in the loaded range without entries is flagged."""

from __future__ import annotations

import datetime as dt
import warnings

import duckdb
import pytest
from dagster import AssetCheckSeverity, build_asset_check_context

from assets.checks import working_days, working_days_have_entries, working_days_without_entries
from orchestration.partitions import run_window
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse

MON = dt.date(2024, 6, 3)  # a Monday
TODAY = dt.date(2024, 6, 20)


def day(offset: int) -> dt.date:
    return MON + dt.timedelta(days=offset)


def warehouse_with_entries_on(path, days: list[dt.date]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(t.CLOCKIFY_TIME_ENTRIES.create_sql())
        for i, d in enumerate(days):
            con.execute(
                "INSERT INTO raw.clockify_time_entries (id, started_at, _partition_date, _loaded_at) "
                "VALUES ($id, $start, $day, now())",
                {"id": f"e{i}", "start": dt.datetime.combine(d, dt.time(9)), "day": d},
            )
    finally:
        con.close()


def test_working_days_are_monday_to_friday():
    assert working_days(day(0), day(13)) == [day(i) for i in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)]
    assert working_days(day(5), day(6)) == []  # a weekend


def test_missing_weekdays_are_found_weekends_and_today_are_not(tmp_path):
    path = tmp_path / "w.duckdb"
    # Entries on every weekday of two weeks except Wednesday day(9); none on the weekends.
    warehouse_with_entries_on(path, [d for d in working_days(day(0), day(13)) if d != day(9)])
    with duckdb.connect(str(path), read_only=True) as con:
        assert working_days_without_entries(con, day(0), day(13), today=TODAY) == [day(9)]
        assert working_days_without_entries(con, day(0), day(4), today=TODAY) == []
        # Days from today on are still being typed: never flagged.
        assert working_days_without_entries(con, day(7), day(16), today=day(9)) == []
        assert working_days_without_entries(con, day(7), day(16), today=day(10)) == [day(9)]


def test_window_comes_from_the_runs_partition_tags():
    assert run_window(
        {"dagster/asset_partition_range_start": "2024-06-03", "dagster/asset_partition_range_end": "2024-06-09"}
    ) == (day(0), day(6))
    assert run_window({"dagster/partition": "2024-06-04"}) == (day(1), day(1))
    assert run_window({}) is None


@pytest.mark.parametrize(
    ("days", "passed", "missing"),
    [
        ([d for d in working_days(day(0), day(13)) if d not in (day(2), day(8))], False, 2),
        (working_days(day(0), day(13)), True, 0),
    ],
)
def test_the_check_warns_with_the_missing_days(tmp_path, days, passed, missing):
    path = tmp_path / "w.duckdb"
    warehouse_with_entries_on(path, days)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = build_asset_check_context(resources={"warehouse": Warehouse(path=str(path))})
        result = working_days_have_entries(context)
    assert result.passed is passed
    assert result.severity == AssetCheckSeverity.WARN
    assert result.metadata["working_days_without_entries"].value == missing
    assert result.metadata["date_range"].value == f"{day(0)} .. {day(11)}"  # first .. last loaded day
    if missing:
        assert result.metadata["days"].value == f"{day(2)}, {day(8)}"
        assert "2 working day(s) without time entries" in result.description


def test_the_check_warns_before_the_first_load(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    context = build_asset_check_context(resources={"warehouse": Warehouse(path=str(path))})
    result = working_days_have_entries(context)
    assert result.passed is False and "not been loaded" in result.metadata["reason"].value


def warehouse_with_local_workdays(path, zone: str | None, local_hour: float, offset_hours: float) -> None:
    """One user in `zone` (None: no profile zone) starting every weekday of two weeks at `local_hour` local
    time, `offset_hours` east of UTC (no DST in June for the zones used)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(t.CLOCKIFY_TIME_ENTRIES.create_sql())
        con.execute(t.CLOCKIFY_USERS.create_sql())
        con.execute(
            "INSERT INTO raw.clockify_users (id, time_zone, _loaded_at) VALUES ('u1', $zone, now())", {"zone": zone}
        )
        for i, d in enumerate(working_days(day(0), day(13))):
            start = dt.datetime.combine(d, dt.time()) + dt.timedelta(hours=local_hour - offset_hours)
            con.execute(
                "INSERT INTO raw.clockify_time_entries (id, user_id, started_at, _partition_date, _loaded_at) "
                "VALUES ($id, 'u1', $start, $day, now())",
                {"id": f"e{i}", "start": start, "day": start.date()},
            )
    finally:
        con.close()


@pytest.mark.parametrize(
    ("zone", "local_hour", "offset", "warehouse_zone"),
    [
        ("Australia/Brisbane", 8, 10, "UTC"),  # Monday 08:00 local is Sunday 22:00 UTC
        ("America/Los_Angeles", 17.5, -7, "UTC"),  # 17:30 PDT is 00:30 UTC the next day, Friday's on Saturday
        ("Asia/Kolkata", 2, 5.5, "UTC"),  # 02:00 IST is 20:30 UTC the day before
        (None, 8, 10, "Australia/Brisbane"),  # no profile zone: WAREHOUSE_TIMEZONE's days
    ],
)
def test_working_days_are_the_peoples_local_days(tmp_path, zone, local_hour, offset, warehouse_zone):
    """Issue 17: a team working every local weekday has no missing day, though by UTC dates it would have
    one (Monday or Friday of each week missing, a Saturday or Sunday present)."""
    path = tmp_path / "w.duckdb"
    warehouse_with_local_workdays(path, zone, local_hour, offset)
    with duckdb.connect(str(path), read_only=True) as con:
        assert working_days_without_entries(con, day(0), day(11), today=TODAY, timezone=warehouse_zone) == []
        utc_days = {
            r[0] for r in con.execute("select distinct _partition_date from raw.clockify_time_entries").fetchall()
        }
    assert set(working_days(day(0), day(11))) - utc_days  # by UTC days, some weekday would be flagged
    # and a gap in local days is still found: drop the local Wednesday day(2)
    with duckdb.connect(str(path)) as con:
        start = dt.datetime.combine(day(2), dt.time()) + dt.timedelta(hours=local_hour - offset)
        con.execute("delete from raw.clockify_time_entries where started_at = $s", {"s": start})
    with duckdb.connect(str(path), read_only=True) as con:
        assert working_days_without_entries(con, day(0), day(11), today=TODAY, timezone=warehouse_zone) == [day(2)]
