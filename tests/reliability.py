"""Shared helpers of the reliability suites (fault matrix, crash recovery, bad input, secrets).

The reference: one clean sync of `RANGE` against a sandbox whose data was changed up front (`mutate`), built
once per test run for all of pytest-xdist's workers (`clean_reference()`). Every faulty, crashed or incremental
scenario must end with marts (and raw rows) identical to it: no row lost, none doubled. And the reference itself, like the
final state of those scenarios, must equal the Python oracle of tests/test_marts_vs_python.py recomputed from
the sandbox's own records (`assert_marts_match_oracle`): "faulty = clean" and "clean = correct".
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tests.conftest import ANCHOR, SHARED_DIR, SMALL

RANGE = (ANCHOR - dt.timedelta(days=13), ANCHOR)
# "Now" for the sandbox's mutations: after every update the generated data holds (it ends at ANCHOR's last
# second), as on Linear, whose clock never goes back behind an updatedAt it served: the incremental issue load
# starts at the newest updatedAt it read (assets/resume.py). A reload of RANGE's last days sees them.
FROZEN_NOW = dt.datetime(2024, 6, 29, 9, 0, tzinfo=dt.timezone.utc)
MUTATED_DAYS_FROM = ANCHOR - dt.timedelta(days=3)  # every mutation touches days >= this one


def sandbox_config():
    from sandbox import SandboxConfig

    return SandboxConfig(**SMALL)


def _day(entry) -> dt.date:
    return dt.date.fromisoformat(entry["timeInterval"]["start"][:10])


def mutate(ws) -> dict:
    """The "data changed between loads" cases, deterministic: returns what was changed."""
    newest = max(i["updatedAt"] for i in ws.linear_issues)
    assert newest < FROZEN_NOW.strftime("%Y-%m-%dT%H:%M:%S"), f"mutations would be stamped before {newest}"
    ws.clock = lambda: FROZEN_NOW
    entries = sorted(ws.clockify_time_entries, key=lambda e: (e["timeInterval"]["start"], e["id"]))
    done = [e for e in entries if e["timeInterval"]["end"] and MUTATED_DAYS_FROM <= _day(e) < ANCHOR]
    running = [e for e in entries if e["timeInterval"]["end"] is None]
    known = {i["identifier"]: i for i in ws.linear_issues if not i.get("archivedAt")}
    mentioned = []
    for e in entries:
        for ident in re.findall(r"\b[A-Z]+-\d+\b", e.get("description") or ""):
            if ident in known and known[ident]["id"] not in [m["id"] for m in mentioned]:
                mentioned.append(known[ident])
    moved, archived = mentioned[0], mentioned[1]
    old_identifier = moved["identifier"]
    edited, deleted, stopped = done[0], done[-1], running[0]
    start = dt.datetime.fromisoformat(edited["timeInterval"]["start"].replace("Z", "+00:00"))
    ws.edit_time_entry(edited["id"], description=f"{archived['identifier']} rework", end=start + dt.timedelta(hours=3))
    ws.delete_time_entry(deleted["id"])
    stopped_start = dt.datetime.fromisoformat(stopped["timeInterval"]["start"].replace("Z", "+00:00"))
    ws.stop_timer(stopped["id"], end=stopped_start + dt.timedelta(minutes=50))
    other_team = next(t["key"] for t in ws.linear_teams if t is not moved["team"])
    ws.move_issue(moved["id"], other_team)
    ws.archive_issue(archived["id"])
    odd = add_odd_records(ws)
    return {
        "odd": odd,
        "edited": edited["id"],
        "deleted": deleted["id"],
        "stopped": stopped["id"],
        "moved": moved["id"],
        "old_identifier": old_identifier,
        "new_identifier": moved["identifier"],
        "archived": archived["id"],
    }


@contextmanager
def environment(**values):
    """Set (or, with None, remove) environment variables for the duration."""
    previous = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = str(v)
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sync_env(sb, warehouse: Path, **extra) -> dict:
    return {
        **sb.env(),
        "WAREHOUSE_PATH": str(warehouse),
        "DAGSTER_HOME": None,
        "API_MAX_RETRY_SECONDS": "60",
        "API_MAX_ATTEMPTS": "10",
        # Walk every issue id on each sync (not once a day): two runs of one data then end with one listing.
        "LINEAR_RECONCILE_DAYS": "0",
        **extra,
    }


def dagster_home(tmp_path: Path) -> Path:
    """A persistent Dagster instance configured like the project's (`dagster.yaml`: pool `duckdb`)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((Path(__file__).resolve().parents[1] / "dagster.yaml").read_text())
    return home


def subprocess_env(sb, warehouse: Path, home: Path, **extra) -> dict:
    """The environment of a pipeline subprocess: this one, pointed at the sandbox, warehouse and home."""
    settings = {k: v for k, v in sync_env(sb, warehouse).items() if v is not None}
    return {**os.environ, **settings, "DAGSTER_HOME": str(home), **extra}


def _rows(con, sql):
    rounded = []
    for row in con.execute(sql).fetchall():
        rounded.append(tuple(round(v, 9) if isinstance(v, float) else v for v in row))
    return rounded


# Columns that say when a row was read, not what it holds: they differ between two clean runs. The reconcile
# listing's `listed_at` (when its walk began) is also inside its `_raw`.
VOLATILE = {"linear_issue_ids": ("listed_at", "_raw")}


def schema_snapshot(path: Path, schema: str, exclude: tuple[str, ...] = ()) -> dict[str, list]:
    """Every table of `schema`, ORDER BY ALL, floats rounded to 1e-9."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $s AND table_type = 'BASE TABLE' "
                "ORDER BY 1",
                {"s": schema},
            ).fetchall()
        ]
        out = {}
        for name in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = $s AND table_name = $t",
                    {"s": schema, "t": name},
                ).fetchall()
            ]
            skip = [c for c in cols if c in exclude or (exclude and c in VOLATILE.get(name, ()))]
            star = f"* EXCLUDE ({', '.join(skip)})" if skip else "*"
            out[name] = _rows(con, f'SELECT {star} FROM "{schema}"."{name}" ORDER BY ALL')
        return out


def marts(path: Path) -> dict[str, list]:
    return schema_snapshot(path, "marts")


def raw(path: Path) -> dict[str, list]:
    return schema_snapshot(path, "raw", exclude=("_loaded_at",))


def assert_same(actual: dict[str, list], expected: dict[str, list], what: str) -> None:
    assert sorted(actual) == sorted(expected), f"{what}: tables differ"
    for name, rows in expected.items():
        got = actual[name]
        assert len(got) == len(rows), f"{what}.{name}: {len(got)} rows, clean run has {len(rows)}"
        assert got == rows, f"{what}.{name}: rows differ from the clean run"
    assert any(expected.values()), f"{what}: the clean run is empty"


@functools.lru_cache(maxsize=None)
def clean_reference() -> Path:
    """The clean run's warehouse (built once per test run): the mutated sandbox data, no faults. Read-only
    for the tests (they copy it to change it), so pytest-xdist's workers share one: the first to ask builds
    it in the run's shared directory under a file lock; the others wait for it."""
    path = SHARED_DIR / "reliability-clean" / "clean.duckdb"
    done = path.with_name("built")  # written once the build and its oracle check passed
    path.parent.mkdir(exist_ok=True)
    with open(path.with_name("lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            path.unlink(missing_ok=True)  # a build that failed in another worker
            _build_clean_reference(path)
            done.touch()
    return path


def _build_clean_reference(path: Path) -> None:
    from dagster import DagsterInstance

    from orchestration.runs import run_sync
    from orchestration.settings import Settings
    from sandbox import Sandbox

    with Sandbox(sandbox_config()) as sb:
        mutate(sb.workspace)
        with environment(**sync_env(sb, path)):
            run_sync(Settings.from_env(os.environ), *RANGE, instance=DagsterInstance.ephemeral())
        # The reference every scenario is compared with is itself right: equal to the oracle.
        assert_marts_match_oracle(path, sb.workspace, *RANGE)


def oracle_tables(ws, first_day: dt.date, last_day: dt.date) -> dict[str, list[dict]]:
    """The sandbox's records as a sync of [first_day, last_day] reads them: the time entries started on those
    (UTC) days as the report serves them, and every dimension and issue (the first Linear load is the full
    history)."""
    from tests.test_dbt_harness import workspace_tables

    tables = workspace_tables(ws)
    tables["clockify_time_entries"] = [
        served_entry(ws, e) for e in tables["clockify_time_entries"] if first_day <= _day(e) <= last_day
    ]
    return tables


def assert_marts_match_oracle(path: Path, ws, first_day: dt.date, last_day: dt.date) -> None:
    """Every mart of the warehouse at `path` equals the Python oracle over the sandbox's records."""
    from tests.test_marts_vs_python import Reference, check_all_marts

    def query(sql: str) -> list[dict]:
        with duckdb.connect(str(path), read_only=True) as con:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    reference = Reference(oracle_tables(ws, first_day, last_day))
    assert reference.entries and reference.matched, "the oracle saw no entries: the comparison would be vacuous"
    check_all_marts(query, reference)


def copy_warehouse(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


def _raw_keys():
    from assets.common import API_RAW_KEYS

    return list(API_RAW_KEYS)


RAW_KEYS = _raw_keys()


ODD_DAY = ANCHOR - dt.timedelta(days=2)


# Every field of an official detailed-report row but its id, user and interval: what an answer may leave out.
# (The official row has `tags` and `locked`, no `tagIds`/`type`/`isLocked`: api-notes.md.)
OPTIONAL_REPORT_FIELDS = (
    "description", "userName", "userEmail", "billable", "projectId", "projectName", "projectColor", "clientId",
    "clientName", "taskId", "taskName", "tags", "locked", "approvalRequestId", "amount", "rate", "customFields",
)  # fmt: skip
_OMITTED = "_tests_fields_omitted_from_report"  # on the workspace: entry id -> fields


def omit_from_report(ws, entry_id: str, fields) -> None:
    """Serve entry `entry_id` in the detailed report without `fields`.

    The sandbox always sends every field of a report row, so a record that misses fields cannot come out of
    it otherwise; this wraps its row serializer (`sandbox.clockify._report_entry`) once per process and
    drops the fields for the entries registered here, on this workspace only.
    """
    from sandbox import clockify as sandbox_clockify

    real = sandbox_clockify._report_entry
    if not getattr(real, "omits_registered_fields", False):

        def report_entry(workspace, entry, *args, **kwargs):  # the sandbox's own arguments (e.g. the zone)
            row = real(workspace, entry, *args, **kwargs)
            for name in workspace.__dict__.get(_OMITTED, {}).get(entry["id"], ()):
                row.pop(name, None)
            return row

        report_entry.omits_registered_fields = True
        sandbox_clockify._report_entry = report_entry
    ws.__dict__.setdefault(_OMITTED, {})[entry_id] = tuple(fields)


def served_entry(ws, entry: dict) -> dict:
    """The entry as the report serves it (without the fields `omit_from_report` registered for it)."""
    omitted = ws.__dict__.get(_OMITTED, {}).get(entry["id"], ())
    return {k: v for k, v in entry.items() if k not in omitted}


def add_odd_records(ws) -> dict:
    """Records that break assumptions: missing optional fields, extra fields, null project/task, zero and
    negative duration, an unknown enum value. They must load, be flagged, never crash a partition."""
    user = sorted(u["id"] for u in ws.clockify_users)[0]
    at = dt.datetime.combine(ODD_DAY, dt.time(22, 0), tzinfo=dt.timezone.utc)
    hour = dt.timedelta(hours=1)
    # Served without any optional field (see omit_from_report): only its id, user and interval.
    missing = ws.add_time_entry(user, at, at + hour, description="ENG-1 sent without optional fields")
    omit_from_report(ws, missing["id"], OPTIONAL_REPORT_FIELDS)
    extra = ws.add_time_entry(user, at + dt.timedelta(minutes=5), at + hour, description="ENG-1 extra fields")
    extra["someNewField"] = {"nested": [1, 2, 3]}
    extra["anotherNewField"] = "surprise"
    nulls = ws.add_time_entry(
        user, at + dt.timedelta(minutes=10), at + hour, description=None, project_id=None, task_id=None
    )
    zero = ws.add_time_entry(user, at + dt.timedelta(minutes=15), at + dt.timedelta(minutes=15), description="zero")
    negative = ws.add_time_entry(user, at + dt.timedelta(minutes=20), at + hour, description="negative")
    negative["timeInterval"] = {
        **negative["timeInterval"],
        "end": (at - hour).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": "PT-1H20M",
    }
    enum = ws.add_time_entry(user, at + dt.timedelta(minutes=25), at + hour, description="odd type")
    enum["type"] = "SOME_FUTURE_TYPE"
    return {
        "missing": missing["id"],
        "extra": extra["id"],
        "nulls": nulls["id"],
        "zero": zero["id"],
        "negative": negative["id"],
        "enum": enum["id"],
    }
