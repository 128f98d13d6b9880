"""DuckDB has one writer: concurrent syncs take turns, and readers of the published marts never interfere.

Real processes against one sandbox (served by this test process):
- a clean `warehouse sync` while reader processes hold / reopen the published file `marts.duckdb`: the sync
  neither fails nor waits for them, and each reader sees the old marts or the new ones, never a mix;
- two `warehouse sync` commands started at once on one warehouse (overlapping ranges, one persistent
  DAGSTER_HOME, as `make demo` sets up): both succeed and the marts equal the clean sync's.
Plus the warehouse lock itself: shared/exclusive between processes, re-entrant, released when its holder dies.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.warehouse.locking import WarehouseLockTimeout, lock_file, warehouse_lock
from orchestration.warehouse.publish import publish_marts
from sandbox import Sandbox, SandboxConfig
from tests.conftest import ANCHOR, SMALL, Budget
from tests.readers.read_marts import duckdb_runner, snapshot
from tests.test_bi_readers import READ_MARTS, ensure_reader_envs

REPO = Path(__file__).resolve().parent.parent
START = ANCHOR - dt.timedelta(days=13)


def _mart_tables() -> list[str]:
    """Every dbt model of schema marts (what the published_marts asset depends on and publishes), without
    parsing the project: the .sql files of each models/ directory dbt_project.yml puts in schema marts
    (marts/, and semantic/ for the time spine)."""
    project = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())
    folders = project["models"]["hours_warehouse"]
    marts = [name for name, config in folders.items() if isinstance(config, dict) and config.get("+schema") == "marts"]
    return sorted(p.stem for name in marts for p in (REPO / "dbt_project" / "models" / name).glob("*.sql"))


MART_TABLES = _mart_tables()
# What the clean sync's fixture leaves of its test's pytest timeout for its own start-up, readers and checks.
CLEAN_SYNC_MARGIN = 60

# Fingerprint of every mart table (row count and an order-independent hash of the rows), read in one
# transaction. `prefix` is the schema: "marts" in the warehouse, "main" in the published file.
FINGERPRINT = textwrap.dedent(
    """
    def fingerprint(con, prefix, tables):
        con.execute("BEGIN TRANSACTION")
        try:
            out = {}
            for table in tables:
                relation = f'{prefix}."{table}"'
                columns = con.execute(f"SELECT * FROM {relation} LIMIT 0").description
                # Sums of doubles depend on the order DuckDB's threads add them up: compare at 1e-6.
                values = ", ".join(
                    f'round("{c[0]}", 6)' if str(c[1]) in ("DOUBLE", "FLOAT") else f'"{c[0]}"' for c in columns
                )
                count, digest = con.execute(
                    f"SELECT count(*), coalesce(sum(hash({values})), 0) FROM {relation}"
                ).fetchone()
                out[table] = f"{count}:{digest}"
            return out
        finally:
            con.execute("COMMIT")
    """
)
exec(FINGERPRINT)  # defines fingerprint() here too

# A BI-tool-like reader. "hold": one connection kept open for the whole test; "reopen": a new connection
# for every read. Reads until the stop file appears, then prints what it saw.
READER = FINGERPRINT + textwrap.dedent(
    """
    import json, os, sys, time, duckdb
    path, mode, stop, tables = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    seen, errors = [], []
    def read(con):
        (catalog,) = con.execute("SELECT current_database()").fetchone()
        return fingerprint(con, f'"{catalog}".main', tables)
    held = duckdb.connect(path, read_only=True) if mode == "hold" else None
    first = True
    while True:
        try:
            if held is not None:
                snapshot = read(held)
            else:
                con = duckdb.connect(path, read_only=True)
                try:
                    snapshot = read(con)
                finally:
                    con.close()
            if not seen or seen[-1][1] != snapshot:
                seen.append([time.time(), snapshot])
        except Exception as error:
            errors.append(repr(error))
        if first:
            print("ready", flush=True)
            first = False
        if os.path.exists(stop):
            break
        time.sleep(0.2)
    print(json.dumps({"seen": seen, "errors": errors}), flush=True)
    """
)


@pytest.fixture(scope="module")
def module_sandbox():
    with Sandbox(SandboxConfig(**SMALL)) as sb:
        yield sb


@pytest.fixture(scope="module")
def sandbox_env(module_sandbox):
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "MARTS_PATH", "WAREHOUSE_PATH")}
    env.update(module_sandbox.env())
    env.update(
        API_MAX_RETRY_SECONDS="60",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    return env


def start_sync(env: dict, warehouse: Path, start: dt.date, end: dt.date, dagster_home: Path | None = None):
    env = {**env, "WAREHOUSE_PATH": str(warehouse)}
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "sync", "--start", start.isoformat(), "--end", end.isoformat()],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float) -> str:
    """The sync's output once it ends, within `timeout` s (what is left of the test's pytest timeout: the
    machine is shared, a sync can take minutes when it is busy; a hang still fails here, with its output)."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"sync did not finish in {timeout:.0f} s:\n{output[-3000:]}")
    assert process.returncode == 0, output[-3000:]
    return output


def warehouse_fingerprint(path: Path) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        return fingerprint(con, "marts", MART_TABLES)  # noqa: F821 - defined by exec above


def published_fingerprint(path: Path) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        (catalog,) = con.execute("SELECT current_database()").fetchone()
        return fingerprint(con, f'"{catalog}".main', MART_TABLES)  # noqa: F821


def publish_fake_old_marts(directory: Path) -> None:
    """A published file from an earlier build: same tables, different contents (one row each)."""
    old = directory / "old-build.duckdb"
    with duckdb.connect(str(old)) as con:
        con.execute("CREATE SCHEMA marts")
        for i, table in enumerate(MART_TABLES):
            con.execute(f'CREATE TABLE marts."{table}" AS SELECT {i} AS old_build')
    publish_marts(old, directory / "marts.duckdb")
    old.unlink()


def published_digests(path: Path) -> dict:
    """Every table of the published file as DuckDB 2.0 reads it, summarised like the 1.x reader does."""
    with duckdb.connect(str(path), read_only=True) as con:
        return snapshot(duckdb_runner(con))


@pytest.fixture(scope="module")
def clean_sync(sandbox_env, tmp_path_factory, request):
    """One sync of [START, ANCHOR] into a fresh warehouse while readers use the published file (set up within
    the pytest timeout of the first test that needs it)."""
    budget = Budget(float(request.config.getini("timeout")) - CLEAN_SYNC_MARGIN)
    directory = tmp_path_factory.mktemp("clean")
    warehouse, published, stop = directory / "warehouse.duckdb", directory / "marts.duckdb", directory / "stop"
    publish_fake_old_marts(directory)
    old = published_fingerprint(published)
    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-c", READER, str(published), mode, str(stop), json.dumps(MART_TABLES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("hold", "reopen")
    }
    # A DuckDB 1.4 client through SQLAlchemy's duckdb-engine (a BI tool), a new connection for every read.
    readers["duckdb1"] = subprocess.Popen(
        [str(ensure_reader_envs()["1.4"]), str(READ_MARTS), "watch", str(published), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    old_digests = published_digests(published)
    try:
        for reader in readers.values():
            assert reader.stdout.readline().strip() == "ready"
        started = time.monotonic()
        output = finish(start_sync(sandbox_env, warehouse, START, ANCHOR), budget.left())
        seconds = time.monotonic() - started
        time.sleep(0.5)  # the reopening reader gets to read the new file
        readers_alive_after_sync = all(r.poll() is None for r in readers.values())
    finally:
        stop.touch()
        seen = {}
        for mode, reader in readers.items():
            out, err = reader.communicate(timeout=30)
            assert reader.returncode == 0, err
            seen[mode] = json.loads(out.strip().splitlines()[-1])
    return dict(
        path=warehouse,
        old=old,
        new=published_fingerprint(published),
        old_digests=old_digests,
        new_digests=published_digests(published),
        warehouse=warehouse_fingerprint(warehouse),
        seen=seen,
        seconds=seconds,
        output=output,
        readers_alive_after_sync=readers_alive_after_sync,
    )


def test_readers_of_the_published_file_neither_fail_nor_block_a_sync_and_never_see_a_mix(clean_sync):
    old, new, seen = clean_sync["old"], clean_sync["new"], clean_sync["seen"]
    assert clean_sync["readers_alive_after_sync"]  # both held the file from before the sync to after it
    assert new == clean_sync["warehouse"]  # the sync published exactly the marts it built
    assert all(old[t] != new[t] for t in MART_TABLES)  # so any mix of the two would be visible
    assert seen["hold"]["errors"] == [] and seen["reopen"]["errors"] == []
    # The reader holding one connection keeps reading the file it opened, whole.
    assert [snapshot for _, snapshot in seen["hold"]["seen"]] == [old]
    # A reader opening the path each time sees the old file, then the new one, and nothing else.
    assert [snapshot for _, snapshot in seen["reopen"]["seen"]] == [old, new]


def test_a_duckdb_1x_reader_sees_the_old_then_the_new_marts_during_a_sync_as_duckdb_2_does(clean_sync):
    watcher = clean_sync["seen"]["duckdb1"]
    assert watcher["errors"] == []
    assert watcher["reads"] >= 2
    # Old marts until the publish, then the new ones, never an error or a mix, equal to DuckDB 2.0's reading.
    assert watcher["seen"] == [clean_sync["old_digests"], clean_sync["new_digests"]]
    assert set(clean_sync["new_digests"]) == set(MART_TABLES) | {"_published"}


def test_the_clean_sync_equals_the_python_oracle(module_sandbox, clean_sync):
    """The sync every concurrent scenario is compared with is right: each mart equals the oracle."""
    from tests.reliability import assert_marts_match_oracle

    assert_marts_match_oracle(clean_sync["path"], module_sandbox.workspace, START, ANCHOR)


def test_two_syncs_started_at_once_both_succeed_and_equal_a_clean_sync(sandbox_env, clean_sync, tmp_path, budget):
    warehouse = tmp_path / "warehouse.duckdb"
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")  # the instance `make demo` uses
    # Overlapping ranges whose union is the clean sync's range.
    first = start_sync(sandbox_env, warehouse, START, START + dt.timedelta(days=8), dagster_home)
    second = start_sync(sandbox_env, warehouse, START + dt.timedelta(days=5), ANCHOR, dagster_home)
    outputs = [finish(first, budget.left()), finish(second, budget.left())]  # one deadline for both
    for output in outputs:
        assert "Loaded" in output and "\nerror:" not in output, output[-2000:]

    assert warehouse_fingerprint(warehouse) == clean_sync["warehouse"]
    assert published_fingerprint(tmp_path / "marts.duckdb") == clean_sync["warehouse"]

    from dagster import DagsterInstance, DagsterRunStatus

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS] * 2  # both recorded in the shared home


# --- the lock itself --------------------------------------------------------------------------------------

HOLD = textwrap.dedent(
    """
    import sys, time
    from orchestration.warehouse.locking import warehouse_lock
    with warehouse_lock(sys.argv[1], shared=sys.argv[2] == "shared"):
        print("held", flush=True)
        time.sleep(float(sys.argv[3]))
    """
)


HOLD_UNTIL_TOLD = textwrap.dedent(
    """
    import sys
    from orchestration.warehouse.locking import warehouse_lock
    with warehouse_lock(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.readline()
        print("releasing", flush=True)
    """
)


def hold_lock(db: Path, mode: str, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), mode, str(seconds)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_writers_exclude_everyone_readers_share(tmp_path):
    db = tmp_path / "w.duckdb"
    reader = hold_lock(db, "shared", 30)
    try:
        with warehouse_lock(db, shared=True, timeout_seconds=1):
            pass  # readers share
        with pytest.raises(WarehouseLockTimeout, match="stayed locked"):
            with warehouse_lock(db, timeout_seconds=0.3):
                pass
    finally:
        reader.kill()
        reader.wait()
    writer = hold_lock(db, "exclusive", 30)
    try:
        with pytest.raises(WarehouseLockTimeout, match=r"held by pid \d+"):
            with warehouse_lock(db, shared=True, timeout_seconds=0.3):
                pass
    finally:
        writer.send_signal(signal.SIGKILL)  # a killed holder leaves nothing behind
        writer.wait()
    with warehouse_lock(db, timeout_seconds=2):
        pass
    assert lock_file(db) == tmp_path / "w.duckdb.lock"


def test_the_lock_is_reentrant_within_a_process_and_waits_across_processes(tmp_path):
    db = tmp_path / "w.duckdb"
    with warehouse_lock(db):
        with warehouse_lock(db, shared=True):
            with warehouse_lock(db):
                pass
    # Another process holds it until told to let go: no timing decides the outcome on a loaded machine.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_UNTIL_TOLD, str(db)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        acquired = threading.Event()

        def take():
            with warehouse_lock(db, timeout_seconds=120):
                acquired.set()

        taker = threading.Thread(target=take, daemon=True)
        taker.start()
        assert not acquired.wait(0.5)  # waiting while the other process holds it
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "releasing"
        taker.join(120)
        assert acquired.is_set()  # and taken once it was let go
    finally:
        holder.kill()
        holder.wait()
