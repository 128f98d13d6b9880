"""End to end: a sync is the same whatever time zone the Clockify key owner is in (issue 11).

The real APIs read bounds as wall-clock time in a zone: the detailed report in its body's `timeZone` (by
default the key owner's profile zone), GET /user/{id}/time-entries in the account's zone with no opt-out
(api-notes.md). The sandbox does both (`owner_timezone`); only the owner's `settings.timeZone` changes with
it, never the data, so a sync under an owner at UTC-7 or UTC+5:30 must equal the sync under an owner at UTC,
raw table for raw table and mart for mart, for both time-entry strategies. The team spreads over six zones
(people work 9-to-5 local time), so entries start in the first and last UTC hours of every day.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from orchestration.runs import run_sync
from orchestration.schedules import daily_window
from orchestration.settings import Settings
from orchestration.warehouse.raw_tables import ALL_TABLES
from sandbox import Sandbox, SandboxConfig
from tests import reliability as r
from tests.conftest import ANCHOR, SMALL

UTC = dt.timezone.utc
OWNER_ZONES = {"owner-utc-7": "Etc/GMT+7", "owner-utc+5:30": "Asia/Kolkata"}
# Nine days before the anchor day (no running timers), Tuesday 2024-06-18 to Wednesday 2024-06-26: entries
# start in the first 7 UTC hours of the first day and the last 5.5 of the last (the tests check it).
RANGE = (ANCHOR - dt.timedelta(days=10), ANCHOR - dt.timedelta(days=2))


def _settings() -> Settings:
    return Settings.from_env(os.environ)  # CLOCKIFY_TIME_ENTRIES_STRATEGY picks the strategy


def _start(entry) -> dt.datetime:
    return dt.datetime.fromisoformat(entry["timeInterval"]["start"].replace("Z", "+00:00"))


def _finished(ws, first_day: dt.date, last_day: dt.date) -> set[str]:
    """The sandbox's finished entries started on the UTC days [first_day, last_day]."""
    return {
        e["id"]
        for e in ws.clockify_time_entries
        if e["timeInterval"]["end"] and first_day <= _start(e).date() <= last_day
    }


def _raw_entries(path: Path) -> dict[str, dt.date]:
    """id -> partition date of every raw time entry."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return dict(con.execute("SELECT id, _partition_date FROM raw.clockify_time_entries").fetchall())


def _comparable_raw(path: Path) -> dict[str, list]:
    """Every API raw table but the key owner's own profile zone (`time_zone` and `settings` in `_raw`): the
    one thing the sandbox's owner_timezone changes."""
    names = {table.name for table in ALL_TABLES}
    tables = {name: rows for name, rows in r.raw(path).items() if name in names}
    users = r.schema_snapshot(path, "raw", exclude=("_loaded_at", "_raw", "time_zone"))["clockify_users"]
    tables["clockify_users"] = users
    assert sorted(tables) == sorted(names)
    return tables


# The syncs that go on through dbt (each costs a dbt build): the report under an owner at UTC and at UTC-7
# (compared mart for mart), per-user under an owner at UTC+5:30 (compared with the Python oracle). The others
# load the raw layer only.
MARTS_SYNCS = {("UTC", "report"), ("Etc/GMT+7", "report"), ("Asia/Kolkata", "per_user")}


class Syncs:
    """One sync per (owner zone, strategy), run once per module and kept for the tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: dict[tuple[str, str], tuple[Path, object]] = {}

    def get(self, zone: str, strategy: str) -> tuple[Path, object]:
        key = (zone, strategy)
        marts = key in MARTS_SYNCS
        if key not in self.done:
            path = self.root / f"{strategy}-{zone.replace('/', '_')}.duckdb"
            with Sandbox(SandboxConfig(**SMALL, owner_timezone=zone)) as sb:
                with r.environment(**r.sync_env(sb, path, CLOCKIFY_TIME_ENTRIES_STRATEGY=strategy)):
                    run_sync(
                        _settings(),
                        *RANGE,
                        asset_selection=None if marts else r.RAW_KEYS,
                        instance=DagsterInstance.ephemeral(),
                    )
                self.done[key] = (path, sb.workspace)
        return self.done[key]


@pytest.fixture(scope="module")
def syncs(tmp_path_factory) -> Syncs:
    return Syncs(tmp_path_factory.mktemp("timezones"))


# The tests of one strategy share its syncs and never read the other's: two groups for pytest-xdist
# (tests/conftest.py), each one worker's, so the module's syncs run on two workers at once, none twice.
REPORT_SYNCS = pytest.mark.xdist_group("test_timezones.py::report")
PER_USER_SYNCS = pytest.mark.xdist_group("test_timezones.py::per_user")
STRATEGIES = [pytest.param("report", marks=REPORT_SYNCS), pytest.param("per_user", marks=PER_USER_SYNCS)]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("zone", list(OWNER_ZONES.values()), ids=list(OWNER_ZONES))
def test_raw_tables_equal_the_sync_with_the_owner_at_utc(syncs, zone, strategy):
    """Every raw row (time entries, users with the LIMITED member, tasks, Linear) as under an owner at UTC,
    and the time entries are exactly the sandbox's entries of the range's UTC days."""
    utc_path, ws = syncs.get("UTC", strategy)
    zoned_path, zoned_ws = syncs.get(zone, strategy)
    owner = ws.clockify_users[0]["id"]  # clockify_users[0] owns the key
    assert r.raw(zoned_path)["clockify_time_entries"] and r.raw(zoned_path) != r.raw(utc_path)  # the owner's zone
    assert _comparable_raw(zoned_path) == _comparable_raw(utc_path)
    got = _raw_entries(zoned_path)
    assert set(got) == _finished(zoned_ws, *RANGE)
    assert all(day == _start(e).date() for e in zoned_ws.clockify_time_entries if (day := got.get(e["id"])))
    limited = {u["id"] for u in zoned_ws.clockify_users if u["status"] == "LIMITED"}
    import duckdb

    with duckdb.connect(str(zoned_path), read_only=True) as con:
        users = dict(con.execute("SELECT id, time_zone FROM raw.clockify_users").fetchall())
    assert limited and limited <= set(users) and users[owner] == zone


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_first_and_last_day_of_a_range_keep_every_entry(syncs, strategy):
    """The hours an owner's-zone reading of the bounds would cut: the first 7 UTC hours of the first day
    (owner at UTC-7) and the last 5.5 of the last day (owner at UTC+5:30). Both hold entries here."""
    first, last = RANGE
    for zone in OWNER_ZONES.values():
        path, ws = syncs.get(zone, strategy)
        got = set(_raw_entries(path))
        first_day, last_day = _finished(ws, first, first), _finished(ws, last, last)
        start_of_range = dt.datetime.combine(first, dt.time(), UTC)
        end_of_range = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), UTC)
        early = {
            e["id"]
            for e in ws.clockify_time_entries
            if start_of_range <= _start(e) < start_of_range + dt.timedelta(hours=7)
        }
        late = {
            e["id"]
            for e in ws.clockify_time_entries
            if end_of_range - dt.timedelta(hours=5, minutes=30) <= _start(e) < end_of_range
        }
        assert early & first_day and late & last_day, "the range's edges hold no entries: the test proves nothing"
        assert first_day <= got and last_day <= got, (zone, strategy)


@REPORT_SYNCS
def test_marts_equal_the_sync_with_the_owner_at_utc(syncs):
    """Raw through dbt, owner at UTC-7: every mart row as under an owner at UTC (hours to 1e-9), and equal to
    the Python oracle over the sandbox's records."""
    utc_path, _ = syncs.get("UTC", "report")
    zoned_path, ws = syncs.get("Etc/GMT+7", "report")
    # The key owner's own profile zone is the report's default zone: moving it also moves the owner's own
    # local days (issue 17), rightly. Those columns are checked against the oracle below; everything the
    # report's reading zone could shift (which entries, their instants, issues, teams, cycles) is compared.
    r.assert_same(_without_local_days(zoned_path), _without_local_days(utc_path), "marts, owner at UTC-7")
    r.assert_marts_match_oracle(zoned_path, ws, *RANGE)


LOCAL_DAY_COLUMNS = ("time_zone", "local_started_at", "local_date", "local_week_start", "local_week")
LOCAL_DAY_MARTS = ("hours_per_person_week", "hours_summary")  # keyed by, or summarising, local days


def _without_local_days(path) -> dict[str, list]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
            ).fetchall()
            if t not in LOCAL_DAY_MARTS
        ]
        out = {}
        for name in tables:
            cols = [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE marts.{name})").fetchall()]
            skip = [c for c in cols if c in LOCAL_DAY_COLUMNS]
            star = f"* EXCLUDE ({', '.join(skip)})" if skip else "*"
            out[name] = r._rows(con, f"SELECT {star} FROM marts.{name} ORDER BY ALL")
    return out


@PER_USER_SYNCS
def test_per_user_marts_with_the_owner_at_utc_plus_5_30_equal_the_oracle(syncs):
    """Per-user reads under an owner at UTC+5:30, through dbt: every mart equals the Python oracle over the
    sandbox's records (their raw layer equals the UTC owner's, test above)."""
    path, ws = syncs.get("Asia/Kolkata", "per_user")
    r.assert_marts_match_oracle(path, ws, *RANGE)


@pytest.mark.parametrize("zone", list(OWNER_ZONES.values()), ids=list(OWNER_ZONES))
def test_a_daily_run_after_a_backfill_loses_nothing_on_the_day_leaving_the_window(tmp_path, zone):
    """A backfill, then the daily schedule's run: it rewrites the oldest day of its window for the last time
    (the next run no longer loads it). That day, and every other, keeps every entry."""
    resync_days = 6  # the window is Thursday 2024-06-20 .. 2024-06-26: its oldest day has early UTC hours
    run_date = RANGE[1] + dt.timedelta(days=1)
    window = daily_window(run_date, resync_days, RANGE[0])
    leaving = window[0]
    path = tmp_path / "warehouse.duckdb"
    with Sandbox(SandboxConfig(**SMALL, owner_timezone=zone)) as sb:
        with r.environment(**r.sync_env(sb, path, WAREHOUSE_RESYNC_DAYS=str(resync_days))):
            instance = DagsterInstance.ephemeral()
            run_sync(_settings(), *RANGE, asset_selection=r.RAW_KEYS, instance=instance)
            run_sync(_settings(), *window, asset_selection=r.RAW_KEYS, instance=instance)
        ws = sb.workspace
    got = _raw_entries(path)
    leaving_start = dt.datetime.combine(leaving, dt.time(), UTC)
    early = {
        e["id"] for e in ws.clockify_time_entries if leaving_start <= _start(e) < leaving_start + dt.timedelta(hours=7)
    }
    assert early, "the day leaving the window has no early UTC hours: the test proves nothing"
    assert _finished(ws, leaving, leaving) <= set(got)
    assert set(got) == _finished(ws, *RANGE)
    assert daily_window(run_date + dt.timedelta(days=1), resync_days, RANGE[0])[0] > leaving  # it has left
