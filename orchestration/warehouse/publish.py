"""Publish the dbt marts to a separate, read-only DuckDB file for BI tools and the report.

DuckDB allows one writing process per file, and while a process writes the warehouse no other process
can open it, not even to read. So BI tools never open the warehouse: after each successful dbt build the
tables of schema `marts` are copied into a new file which then replaces the published one atomically:

1. stale temp files left by a crashed publish (`<target>.tmp-<pid>-<token>`, and their `.wal`) are removed;
2. the warehouse is opened read-only (waiting while a sync or dbt holds its write lock), the new file
   `<target>.tmp-<pid>-<token>` in the same directory is attached read-write, and in one transaction every
   table (and view, materialised as a table) of schema `marts` is copied into the default schema `main`
   of the new file under the same name, plus `_published` (one row per copied table: published_at in UTC,
   the source path, table_name, row_count);
3. the new file is checkpointed, detached, fsynced, and `os.replace`d over the target (then the directory
   is fsynced).

A reader that has the old file open keeps reading the old file (on Linux and macOS the replaced inode
stays valid until its last reader closes it); a reader that opens the path gets the new file. Each
published file is complete, so a reader sees old or new marts, never a mix, and no reader ever blocks
publishing (there is no lock between them). Note that DuckDB caches open databases per process: a reader
sees the new file once it has closed all its connections to the path and opens it again.

The target is the caller's (`Settings.marts_path`: `MARTS_PATH` when set), else `marts.duckdb` beside the
warehouse file. It is written in DuckDB storage version v1.0.0 by default (`Settings.marts_storage_version`:
`MARTS_STORAGE_VERSION`), so DuckDB 1.x readers open it too, with the tables' and columns' comments (dbt's
descriptions); with a Parquet directory (`Settings.marts_parquet_dir`: `MARTS_PARQUET_DIR`) the same marts
are also exported as Parquet. See orchestration.warehouse.formats.

For BI tools: open the file read-only (DuckDB `read_only=True`, DBeaver "read-only connection", ...).
The marts sit in the file's default schema, so `SELECT * FROM hours_per_team` works as it is, and so does
`marts.hours_per_team` (DuckDB names the catalog after the file): the same SQL runs on the warehouse.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.settings import marts_path
from orchestration.warehouse import formats
from orchestration.warehouse.duckdb import connect_with_lock_wait

log = logging.getLogger(__name__)

MARTS_SCHEMA = "marts"  # where dbt builds them in the warehouse
PUBLISHED_SCHEMA = "main"  # where BI tools find them: the published file's default schema
PUBLISHED_TABLE = "_published"
# A temp file whose writer is gone is stale at once; one whose pid is (re)used is stale after this age.
STALE_TEMP_AGE_SECONDS = 6 * 3600


@dataclass(frozen=True)
class PublishResult:
    path: Path
    tables: dict[str, int] = field(default_factory=dict)  # table name -> row count
    published_at: dt.datetime | None = None  # UTC, naive (as stored in _published)
    seconds: float = 0.0
    parquet_dir: Path | None = None  # the MARTS_PARQUET_DIR link, when Parquet was written


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_temp_files(target: Path) -> list[Path]:
    """Remove `<target>.tmp-*` siblings whose publishing process is gone (or that are very old)."""
    removed = []
    now = time.time()
    for path in target.parent.glob(f"{target.name}.tmp-*"):
        pid_text = path.name[len(target.name) + len(".tmp-") :].split("-", 1)[0]
        try:
            pid = int(pid_text)
        except ValueError:
            pid = -1
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        owner_running = pid > 0 and _pid_alive(pid)
        if owner_running and age < STALE_TEMP_AGE_SECONDS:
            continue  # another publish is building it right now
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    if removed:
        log.info("Removed %d stale temp file(s) of %s: %s", len(removed), target, ", ".join(p.name for p in removed))
    return removed


def _explain_storage_error(error: duckdb.Error, storage_version: str | None) -> None:
    """Raise the one-line PublishFormatError for DuckDB's storage-version errors; return for any other."""
    explained = formats.explain_storage_error(error, storage_version)
    if explained is not None:
        raise explained from error


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def publish_marts(
    warehouse_path: str | Path,
    target_path: str | Path | None = None,
    *,
    lock_timeout_seconds: float = 600.0,
    storage_version: str | None = None,
    parquet_dir: str | Path | None = None,
) -> PublishResult:
    """Copy every table of schema `marts` of the warehouse into a new file and swap it in atomically
    (`target_path`, default marts.duckdb beside the warehouse).

    `storage_version`: DuckDB storage version of the new file (default v1.0.0, readable by DuckDB 1.0+);
    `parquet_dir`: also export the marts as Parquet there (relative: from the warehouse's directory).
    See orchestration.warehouse.formats.
    """
    started = time.monotonic()
    warehouse = Path(warehouse_path).expanduser().resolve()
    if not warehouse.exists():
        raise FileNotFoundError(f"Warehouse file {warehouse} does not exist: run a sync (and dbt build) first.")
    target = Path(target_path).expanduser().resolve() if target_path else marts_path(warehouse, None)
    if target == warehouse:
        raise ValueError(f"The marts must be published to another file than the warehouse ({warehouse}).")
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temp_files(target)
    storage_option = formats.storage_version_option(storage_version)
    if parquet_dir is not None:
        # abspath, not resolve(): the directory is a symlink publish replaces, never to be followed here.
        parquet_dir = Path(os.path.abspath(warehouse.parent / Path(parquet_dir).expanduser()))
        formats.check_parquet_dir(parquet_dir)

    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    tmp_wal = tmp.with_name(tmp.name + ".wal")
    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    counts: dict[str, int] = {}
    try:
        con = connect_with_lock_wait(warehouse, lock_timeout_seconds, read_only=True)
        try:
            # The read-only connection holds the warehouse's shared lock: no writer can change the marts
            # while they are copied, and the transaction below reads them all at one snapshot.
            try:
                con.execute(
                    f"ATTACH '{str(tmp).replace(chr(39), chr(39) * 2)}' AS publish_out (READ_WRITE, {storage_option})"
                )
            except duckdb.Error as error:
                _explain_storage_error(error, storage_version)
                raise
            try:
                con.execute("BEGIN TRANSACTION")
                # Fully qualified: a file named marts.duckdb has a catalog `marts` besides its schema `marts`.
                (catalog,) = con.execute("SELECT current_database()").fetchone()
                source = f"{_quote(catalog)}.{MARTS_SCHEMA}"
                names = [
                    row[0]
                    for row in con.execute(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_catalog = current_database() AND table_schema = $schema "
                        "ORDER BY table_name",
                        {"schema": MARTS_SCHEMA},
                    ).fetchall()
                ]
                names = [n for n in names if n != PUBLISHED_TABLE]
                if not names:
                    raise RuntimeError(
                        f"Warehouse {warehouse} has no tables in schema {MARTS_SCHEMA!r}: run `dbt build` first."
                    )
                for name in names:
                    q = _quote(name)
                    try:
                        con.execute(f"CREATE TABLE publish_out.{PUBLISHED_SCHEMA}.{q} AS SELECT * FROM {source}.{q}")
                    except duckdb.Error as error:
                        _explain_storage_error(error, storage_version)
                        raise
                    (count,) = con.execute(f"SELECT count(*) FROM publish_out.{PUBLISHED_SCHEMA}.{q}").fetchone()
                    counts[name] = int(count)
                # dbt's descriptions (persist_docs), so a BI tool's schema browser explains each column.
                formats.copy_comments(con, catalog, MARTS_SCHEMA, f"publish_out.{PUBLISHED_SCHEMA}", names)
                con.execute(
                    f"CREATE TABLE publish_out.{PUBLISHED_SCHEMA}.{PUBLISHED_TABLE} ("
                    "published_at TIMESTAMP NOT NULL, source_path VARCHAR NOT NULL, "
                    "table_name VARCHAR NOT NULL, row_count BIGINT NOT NULL)"
                )
                con.executemany(
                    f"INSERT INTO publish_out.{PUBLISHED_SCHEMA}.{PUBLISHED_TABLE} VALUES (?, ?, ?, ?)",
                    [(published_at, str(warehouse), name, count) for name, count in counts.items()],
                )
                formats.comment_published_table(con, f"publish_out.{PUBLISHED_SCHEMA}.{PUBLISHED_TABLE}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                try:
                    con.execute("CHECKPOINT publish_out")
                finally:
                    con.execute("DETACH publish_out")
        finally:
            con.close()

        if tmp_wal.exists():  # everything was checkpointed: a WAL here would mean an unfinished file
            raise RuntimeError(f"Publishing left a write-ahead log {tmp_wal}; the marts were not published.")
        formats.fsync(tmp)
        parquet_version = None
        if parquet_dir is not None:  # written from the new file, before anything is swapped in
            parquet_version = formats.write_parquet(
                tmp, PUBLISHED_SCHEMA, sorted(counts), parquet_dir, published_at, warehouse, target
            )
        # A WAL beside the target belongs to the old file (someone opened it read-write): it must not be
        # replayed onto the new one.
        _remove(target.with_name(target.name + ".wal"))
        os.replace(tmp, target)
        formats.fsync(target.parent)
        if parquet_version is not None:
            formats.install_parquet(parquet_version, parquet_dir)
    finally:
        _remove(tmp)
        _remove(tmp_wal)

    seconds = time.monotonic() - started
    log.info(
        "Published %d mart table(s), %d rows, to %s in %.2f s",
        len(counts),
        sum(counts.values()),
        target,
        seconds,
    )
    return PublishResult(
        path=target,
        tables=counts,
        published_at=published_at,
        seconds=seconds,
        parquet_dir=parquet_dir if parquet_version is not None else None,
    )
