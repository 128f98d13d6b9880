"""Publishing the marts to a read-only file: content, atomic swaps under concurrent reader processes,
lock waiting, stale temp files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import Settings
from orchestration.warehouse.publish import publish_marts

REPO = Path(__file__).resolve().parent.parent


def write_warehouse(path: Path, version: int) -> None:
    """Marts whose two tables must agree: `entries` has 100+v rows of v hours, `totals` their sum.

    Any mix of two versions (rows of one, totals of the other) breaks the agreement.
    """
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute("CREATE OR REPLACE TABLE raw.not_published AS SELECT 1 AS x")
        con.execute(
            "CREATE OR REPLACE TABLE marts.entries AS "
            "SELECT i AS entry_id, $v AS version, CAST($v AS DOUBLE) AS hours FROM range(100 + $v) t(i)",
            {"v": version},
        )
        con.execute(
            "CREATE OR REPLACE TABLE marts.totals AS "
            "SELECT $v AS version, 100 + $v AS entry_count, CAST((100 + $v) * $v AS DOUBLE) AS total_hours",
            {"v": version},
        )
        # Read by the holding reader only at the end: its blocks come from the file it opened, long replaced.
        con.execute(
            "CREATE OR REPLACE TABLE marts.late AS SELECT hash(i, $v) % 1000003 AS n, $v AS version FROM range(20000 + $v) t(i)",
            {"v": version},
        )
        con.execute("CREATE OR REPLACE VIEW marts.big_entries AS SELECT * FROM marts.entries WHERE entry_id >= 50")
    finally:
        con.close()


def read_published(path: Path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        (catalog,) = con.execute("SELECT current_database()").fetchone()
        m = f'"{catalog}".main'
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
                " AND table_schema = 'main'"
            ).fetchall()
        }
        other_schemas = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_catalog = current_database()"
            ).fetchall()
        }
        version, count, total = con.execute(f"SELECT version, entry_count, total_hours FROM {m}.totals").fetchone()
        entries = con.execute(f'SELECT count(*), sum("hours"), min(version), max(version) FROM {m}.entries').fetchone()
        published = con.execute(
            f"SELECT table_name, row_count, source_path, published_at FROM {m}._published ORDER BY table_name"
        ).fetchall()
        return dict(
            tables=tables,
            schemas=other_schemas,
            version=version,
            count=count,
            total=total,
            entries=entries,
            published=published,
        )
    finally:
        con.close()


def temp_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if ".tmp-" in p.name)


def test_publish_copies_every_mart_table_and_records_counts(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 1)

    result = publish_marts(warehouse)

    assert result.path == tmp_path / "marts.duckdb"
    assert result.tables == {"big_entries": 51, "entries": 101, "late": 20001, "totals": 1}
    got = read_published(result.path)
    assert got["tables"] == {"big_entries", "entries", "late", "totals", "_published"}
    assert got["schemas"] == {"main"}  # raw and other schemas stay in the warehouse
    assert (got["version"], got["count"], got["total"]) == (1, 101, 101.0)
    assert got["entries"] == (101, 101.0, 1, 1)
    assert [(name, rows, src) for name, rows, src, _ in got["published"]] == [
        ("big_entries", 51, str(warehouse)),
        ("entries", 101, str(warehouse)),
        ("late", 20001, str(warehouse)),
        ("totals", 1, str(warehouse)),
    ]
    assert got["published"][0][3] == result.published_at
    assert temp_files(tmp_path) == []

    write_warehouse(warehouse, 2)
    result = publish_marts(warehouse)
    got = read_published(result.path)
    assert (got["version"], got["count"], got["total"]) == (2, 102, 204.0)
    assert result.tables["entries"] == 102
    assert temp_files(tmp_path) == []
    assert not (tmp_path / "marts.duckdb.wal").exists()


def test_target_path_defaults_and_override(tmp_path, monkeypatch):
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    write_warehouse(warehouse, 3)
    assert Settings.from_env({"WAREHOUSE_PATH": str(warehouse)}).marts_path == warehouse.parent / "marts.duckdb"
    assert publish_marts(warehouse).path == warehouse.parent / "marts.duckdb"

    configured = {"WAREHOUSE_PATH": str(warehouse), "MARTS_PATH": str(tmp_path / "bi" / "published.duckdb")}
    result = publish_marts(warehouse, Settings.from_env(configured).marts_path)
    assert result.path == tmp_path / "bi" / "published.duckdb"
    assert read_published(result.path)["version"] == 3

    explicit = publish_marts(warehouse, tmp_path / "explicit.duckdb")
    assert explicit.path == tmp_path / "explicit.duckdb" and explicit.path.exists()

    with pytest.raises(ValueError, match="another file"):
        publish_marts(warehouse, warehouse)


def test_no_marts_fails_cleanly(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    with pytest.raises(RuntimeError, match="dbt build"):
        publish_marts(warehouse)
    assert not (tmp_path / "marts.duckdb").exists()
    assert temp_files(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        publish_marts(tmp_path / "missing.duckdb")


def test_stale_temp_files_are_removed_live_ones_kept(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited
    stale = [
        tmp_path / f"marts.duckdb.tmp-{dead_pid}-aaaa",
        tmp_path / f"marts.duckdb.tmp-{dead_pid}-aaaa.wal",
        tmp_path / "marts.duckdb.tmp-garbage",
    ]
    live = tmp_path / f"marts.duckdb.tmp-{os.getppid()}-bbbb"  # a running process: maybe publishing now
    old_live = tmp_path / f"marts.duckdb.tmp-{os.getppid()}-cccc"
    unrelated = tmp_path / "other.duckdb.tmp-1-x"
    for path in [*stale, live, old_live, unrelated]:
        path.write_bytes(b"partial")
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(old_live, (week_ago, week_ago))

    publish_marts(warehouse)

    assert [p.exists() for p in stale] == [False, False, False]
    assert not old_live.exists()  # far older than any publish takes
    assert live.exists() and unrelated.exists()


HOLD_LOCK = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("CREATE TABLE IF NOT EXISTS raw.lock_probe AS SELECT 1 AS x")
    print("locked", flush=True)
    sys.stdin.readline()  # held until the test says so: no timing decides the outcome
    print("releasing", flush=True)
    con.close()
    """
)


def test_publish_waits_for_the_warehouse_write_lock(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 1)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RuntimeError, match="stayed locked"):
            publish_marts(warehouse, lock_timeout_seconds=0.2)
        assert not (tmp_path / "marts.duckdb").exists()
        done: dict = {}
        publisher = threading.Thread(
            target=lambda: done.update(result=publish_marts(warehouse, lock_timeout_seconds=120)), daemon=True
        )
        publisher.start()
        publisher.join(0.5)
        assert publisher.is_alive() and not done  # it waits for the writer ...
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "releasing"
        publisher.join(120)
        assert read_published(done["result"].path)["version"] == 1  # ... and publishes once it is gone
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert temp_files(tmp_path) == []


def reader_saw(stop: Path, mode: str, version: int, timeout: float = 120.0) -> None:
    """Wait until the reader `mode` has read `version` (it writes each new version to `<stop>.<mode>`)."""
    progress = Path(f"{stop}.{mode}")
    deadline = time.monotonic() + timeout
    while not (progress.exists() and progress.read_text().strip() == str(version)):
        assert time.monotonic() < deadline, f"the {mode} reader never read version {version}"
        time.sleep(0.02)


# A reader process. "reopen": opens the path for every check (sees each new file; DuckDB caches an open
# database per process, so a reader sees a new file only once all its connections are closed). "hold": keeps one
# connection for its whole life (keeps reading the file it opened, whatever replaces it). Each check reads
# both tables, in one statement and again in two statements on the same connection: they must agree.
READER = textwrap.dedent(
    """
    import json, os, sys, time, duckdb
    path, mode, stop = sys.argv[1], sys.argv[2], sys.argv[3]

    def check(con):
        (catalog,) = con.execute("SELECT current_database()").fetchone()
        m = f'"{catalog}".main'
        row = con.execute(
            f'SELECT (SELECT count(*) FROM {m}.entries), (SELECT sum("hours") FROM {m}.entries),'
            f' (SELECT min(version) FROM {m}.entries), (SELECT max(version) FROM {m}.entries),'
            f' t.entry_count, t.total_hours, t.version FROM {m}.totals t'
        ).fetchone()
        count, total, vmin, vmax, t_count, t_total, version = row
        ok = count == t_count and total == t_total and vmin == vmax == version
        t2 = con.execute(f"SELECT version, total_hours FROM {m}.totals").fetchone()
        e2 = con.execute(f'SELECT sum("hours"), max(version) FROM {m}.entries').fetchone()
        ok = ok and t2 == (version, t_total) and e2 == (t_total, version)
        return version, ok, row

    seen, bad, errors, checks = set(), [], [], 0
    held = duckdb.connect(path, read_only=True) if mode == "hold" else None
    print("ready", flush=True)
    while not os.path.exists(stop):
        try:
            con = held or duckdb.connect(path, read_only=True)
            try:
                version, ok, row = check(con)
            finally:
                if held is None:
                    con.close()
            checks += 1
            if version not in seen:  # progress for the test, which waits for it instead of guessing a delay
                with open(f"{stop}.{mode}.tmp", "w") as f:
                    f.write(str(version))
                os.replace(f"{stop}.{mode}.tmp", f"{stop}.{mode}")
            seen.add(version)
            if not ok:
                bad.append(list(row))
            if held is not None:
                time.sleep(0.01)  # leave CPU to the publisher and the other reader
        except Exception as error:
            errors.append(repr(error))
    late = None
    if held is not None:
        try:
            (catalog,) = held.execute("SELECT current_database()").fetchone()
            late = list(held.execute(f'SELECT count(*), sum(version), sum(n) FROM "{catalog}".main.late').fetchone())
        except Exception as error:
            errors.append(repr(error))
    print(json.dumps({"seen": sorted(seen), "bad": bad[:5], "errors": errors[:5], "checks": checks, "late": late}),
          flush=True)
    """
)


def test_readers_in_other_processes_see_whole_snapshots_and_never_block_publishing(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    target = tmp_path / "marts.duckdb"
    stop = tmp_path / "stop"
    write_warehouse(warehouse, 1)
    publish_marts(warehouse)

    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-c", READER, str(target), mode, str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("reopen", "hold")
    }
    try:
        for proc in readers.values():
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        durations = []
        for version in range(2, 8):
            write_warehouse(warehouse, version)
            started = time.monotonic()
            result = publish_marts(warehouse, lock_timeout_seconds=60)
            durations.append(time.monotonic() - started)
            assert result.tables["entries"] == 100 + version
            reader_saw(stop, "reopen", version)  # the reopening reader read this version before the next
    finally:
        stop.write_text("stop")
        outputs = {mode: proc.communicate(timeout=30) for mode, proc in readers.items()}

    reports = {}
    for mode, (out, err) in outputs.items():
        assert readers[mode].returncode == 0, err
        reports[mode] = json.loads(out.strip().splitlines()[-1])
    for mode, report in reports.items():
        assert report["errors"] == [], (mode, report)
        assert report["bad"] == [], (mode, report)  # never a mix of two publishes
        assert report["checks"] > 10, (mode, report)
    # The holder kept reading the file it opened, replaced six times meanwhile.
    assert reports["hold"]["seen"] == [1]
    # ... even blocks it had never read before: they come from the replaced inode, not the new file.
    con = duckdb.connect(":memory:")
    expected = con.execute("SELECT count(*), sum(1), sum(hash(i, 1) % 1000003) FROM range(20001) t(i)").fetchone()
    con.close()
    assert reports["hold"]["late"] == [int(x) for x in expected]
    # Readers that reopen saw several publishes come and go.
    assert len(reports["reopen"]["seen"]) >= 3, reports
    # Readers never block publishing: a blocked publish would wait for them until the end (the readers run
    # until told to stop), so any bound that cannot be mistaken for that wait proves it; 60 s is safe on
    # a loaded machine.
    assert max(durations) < 60, durations
    assert read_published(target)["version"] == 7
    assert temp_files(tmp_path) == []
