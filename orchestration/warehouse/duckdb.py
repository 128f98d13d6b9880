"""The DuckDB warehouse: connections that wait for the single-writer lock, and the three ways raw data lands.

- `replace_snapshot`: a dimension (users, projects, teams, ...) is replaced whole.
- `replace_partitions`: time entries of a date range are replaced exactly, so re-loading a day is idempotent
  and entries edited or deleted in Clockify are corrected when their day is loaded again.
- `upsert_by_id`: Linear issues are never deleted upstream (archived/trashed are flags), so each fetched
  issue replaces its previous version, wherever that version's partition was.

Each write is one transaction: a failed load leaves the warehouse as it was. Records are bulk-loaded as
one JSON column and typed by DuckDB (see `orchestration.warehouse.raw_tables`), never row by row.

Records may be any iterable, a generator over API pages included: they are staged in chunks into a private
in-memory DuckDB while the fetch goes on, so a year of time entries never sits in Python memory at once, and
the warehouse lock is taken only for the final delete-and-insert (a slow API never blocks other writers).
Within one load a later record with the same id supersedes an earlier one (a page re-read while paging).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import random
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from dagster import ConfigurableResource

try:  # a dependency of dagster-dbt; ~10x faster than the json module (the load's main Python cost)
    import orjson
except ImportError:  # pragma: no cover
    orjson = None

from orchestration.warehouse.locking import LockedConnection
from orchestration.warehouse.locking import acquire as acquire_lock
from orchestration.warehouse.raw_tables import RawTable

log = logging.getLogger(__name__)


def _is_lock_conflict(error: BaseException) -> bool:
    text = str(error).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def connect_with_lock_wait(path: str | Path, timeout_seconds: float = 600.0, read_only: bool = False):
    """Open the DuckDB file, waiting while another process holds its write lock.

    DuckDB allows one writing process per file; runs, steps and dbt take turns instead of failing. The
    connection holds the cross-process warehouse lock (`orchestration.warehouse.locking`: exclusive for writers,
    shared for readers) until it is closed, so dbt, which cannot wait for DuckDB's own lock, never meets it.
    """
    deadline = time.monotonic() + timeout_seconds
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    release = acquire_lock(path, shared=read_only, timeout_seconds=timeout_seconds)
    try:
        return LockedConnection(_connect_waiting(path, read_only, deadline, timeout_seconds), release)
    except BaseException:
        release()
        raise


def _connect_waiting(path: str | Path, read_only: bool, deadline: float, timeout_seconds: float, open_file=None):
    """`open_file()` (default: a connection to `path`), retried while another process holds DuckDB's lock."""
    open_file = open_file or (lambda: duckdb.connect(str(path), read_only=read_only))
    delay = 0.05
    while True:
        try:
            return open_file()
        except duckdb.IOException as error:
            if not _is_lock_conflict(error) or time.monotonic() >= deadline:
                if _is_lock_conflict(error):
                    raise RuntimeError(
                        f"DuckDB file {path} stayed locked by another process for {timeout_seconds:.0f} s: "
                        "wait for the running sync or close the program holding it (BI tools should read "
                        "the published marts file instead)."
                    ) from None
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)


def _json_texts(records: Sequence[dict]) -> list[str]:
    if orjson is not None:
        try:
            return [orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS).decode() for r in records]
        except TypeError:  # orjson.JSONEncodeError (e.g. an int beyond 64 bits): the json module copes
            pass
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    return [dumps(r) for r in records]


def records_frame(records: Sequence[dict]) -> pd.DataFrame:
    """One row per record, its JSON as text: DuckDB does the typing in bulk."""
    return pd.DataFrame({"_raw": pd.Series(_json_texts(records), dtype="object")})


def _typed_selects(table: RawTable, source: str, values: str) -> tuple[list[str], str]:
    """The table's column expressions, reading scalar paths from `values`, the list that one
    `json_extract_string(source, [paths])` call returns (the JSON is parsed once per row, not once per
    column). The typing is exactly `Column.extract_sql`'s; array paths (`[*]`) keep their own call."""
    columns = list(table.columns)
    if table.partitioned:
        by = next(c for c in table.columns if c.name == table.partition_column)
        columns.append(by)
    paths: list[str] = []
    exprs: list[str] = []
    for column in columns:
        expr = column.extract_sql(source)
        text = f"json_extract_string({source}, '{column.json_path}')"
        if text in expr:
            if column.json_path not in paths:
                paths.append(column.json_path)
            expr = expr.replace(text, f"{values}[{paths.index(column.json_path) + 1}]")
        exprs.append(expr)
    selects = [f"{e} AS {c.name}" for e, c in zip(exprs[: len(table.columns)], table.columns, strict=True)]
    if table.partitioned:
        selects.append(f"CAST({exprs[-1]} AS DATE) AS _partition_date")
    path_list = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
    return selects, path_list


# Records typed per staging statement: bounds Python memory to one chunk (~5 KiB per time entry as dicts)
# while keeping DuckDB's per-statement overhead negligible.
STAGE_CHUNK_RECORDS = 20_000
# DuckDB memory of one load; beyond it the staged rows spill to a temporary directory, so a backfill of
# millions of entries runs in bounded memory (a year of the team-of-200 workload stays below it).
STAGE_MEMORY_LIMIT = "1GB"


def _chunks(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class _Staging:
    """The records of one load, typed into temp table `incoming` of a private in-memory DuckDB.

    Staging needs no warehouse lock, so it runs while the records are still being fetched (a generator
    over API pages); only then is the warehouse attached, under its lock, for the load's transaction.
    The connection is the load's: `incoming` stays visible to the statements run on the warehouse.
    """

    def __init__(self, table: RawTable, loaded_at: dt.datetime) -> None:
        self.table = table
        self.loaded_at = loaded_at
        self._spill = tempfile.TemporaryDirectory(prefix="warehouse-stage-")
        self.con = duckdb.connect(  # in memory
            config={"memory_limit": STAGE_MEMORY_LIMIT, "temp_directory": self._spill.name}
        )
        self.seconds = 0.0  # time spent staging, not waiting for the records' source
        self.records = 0

    def stage(self, records: Iterable[dict]) -> None:
        table = self.table
        selects, paths = _typed_selects(table, "j._raw", "j._v")
        selects += ["CAST(j._raw AS JSON) AS _raw", "CAST($loaded_at AS TIMESTAMP) AS _loaded_at", "j._seq"]
        insert = (
            f"INSERT INTO staged SELECT {', '.join(selects)} FROM "
            f"(SELECT _raw, _seq, json_extract_string(_raw, {paths}) AS _v FROM incoming_json) AS j"
        )
        self.con.execute(f"CREATE TEMP TABLE staged ({', '.join(table.column_defs(staging=True))}, _seq BIGINT)")
        for chunk in _chunks(records, STAGE_CHUNK_RECORDS):
            started = time.perf_counter()
            frame = records_frame(chunk)
            frame["_seq"] = range(self.records, self.records + len(chunk))
            self.con.register("incoming_json", frame)
            self.con.execute(insert, {"loaded_at": self.loaded_at})
            self.con.unregister("incoming_json")
            del frame  # not held while the next chunk is fetched
            self.records += len(chunk)
            self.seconds += time.perf_counter() - started
        started = time.perf_counter()
        # One row per id, the last one read; records without an id are all kept (dbt flags them).
        columns = ", ".join(c.name for c in table.columns)
        partition = ", _partition_date" if table.partitioned else ""
        self.con.execute(
            f"CREATE TEMP TABLE incoming AS SELECT {columns}{partition}, _raw, _loaded_at FROM staged "
            "QUALIFY id IS NULL OR row_number() OVER (PARTITION BY id ORDER BY _seq DESC) = 1"
        )
        self.con.execute("DROP TABLE staged")
        self.seconds += time.perf_counter() - started

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._spill.cleanup()


@dataclass(frozen=True)
class LoadResult:
    rows: int  # rows the load left in the replaced scope
    unplaceable: int = 0  # records whose partition timestamp is missing or malformed (kept out, reported)
    records: int = 0  # records received (before de-duplication by id)
    stage_seconds: float = 0.0  # typing the records into the staging DuckDB (overlaps the fetch)
    commit_seconds: float = 0.0  # the transaction on the warehouse (lock held)


def _count_unplaceable(con, table: RawTable) -> int:
    if not table.partitioned:
        return 0
    (count,) = con.execute("SELECT count(*) FROM incoming WHERE _partition_date IS NULL").fetchone()
    if count:
        log.warning(
            "%s: %d record(s) without a valid %s were not loaded (their JSON is malformed upstream)",
            table.qualified_name,
            count,
            table.partition_column,
        )
    return int(count)


@dataclass
class _LoadContext:
    """What a load's statements run on, and what it measured."""

    con: duckdb.DuckDBPyConnection
    records: int
    stage_seconds: float
    commit_seconds: float = 0.0
    unplaceable: int = 0

    def result(self, rows: int) -> LoadResult:
        return LoadResult(
            rows=int(rows),
            unplaceable=self.unplaceable,
            records=self.records,
            stage_seconds=self.stage_seconds,
            commit_seconds=self.commit_seconds,
        )


class Warehouse(ConfigurableResource):
    """The DuckDB file the raw assets write and dbt builds on (WAREHOUSE_PATH), and where its marts are
    published for BI tools (MARTS_PATH; empty: marts.duckdb beside it)."""

    path: str
    marts_path: str = ""
    lock_timeout_seconds: float = 600.0

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect_with_lock_wait(self.path, self.lock_timeout_seconds, read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _load(self, table: RawTable, records: Iterable[dict]) -> Iterator[_LoadContext]:
        """Stage records (no lock held), then run the caller's statements in one transaction on the
        warehouse, attached to the staging connection as its default database (`incoming` is a temp table)."""
        loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        staging = _Staging(table, loaded_at)
        try:
            staging.stage(records)
            load = _LoadContext(con=staging.con, records=staging.records, stage_seconds=staging.seconds)
            con = staging.con
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            release = acquire_lock(self.path, timeout_seconds=self.lock_timeout_seconds)
            try:
                started = time.perf_counter()
                deadline = started + self.lock_timeout_seconds
                _connect_waiting(
                    self.path,
                    False,
                    deadline,
                    self.lock_timeout_seconds,
                    open_file=lambda: con.execute("ATTACH $path AS warehouse", {"path": str(self.path)}),
                )
                try:
                    con.execute("USE warehouse")
                    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
                    con.execute(table.create_sql())
                    con.execute("BEGIN TRANSACTION")
                    try:
                        yield load
                        con.execute("COMMIT")
                    except BaseException:
                        con.execute("ROLLBACK")
                        raise
                finally:
                    con.execute("USE memory")
                    con.execute("DETACH warehouse")
                load.commit_seconds = time.perf_counter() - started
            finally:
                release()
        finally:
            staging.close()

    def replace_snapshot(self, table: RawTable, records: Iterable[dict]) -> LoadResult:
        with self._load(table, records) as load:
            load.con.execute(f"DELETE FROM {table.qualified_name}")
            load.con.execute(f"INSERT INTO {table.qualified_name} SELECT * FROM incoming")
            (rows,) = load.con.execute("SELECT count(*) FROM incoming").fetchone()
        return load.result(rows)

    def replace_partitions(
        self, table: RawTable, records: Iterable[dict], first_day: dt.date, last_day: dt.date
    ) -> LoadResult:
        """Replace every row of days [first_day, last_day] with `records` (outside rows are ignored)."""
        if not table.partitioned:
            raise ValueError(f"{table.qualified_name} is not partitioned")
        window = {"first": first_day, "last": last_day}
        with self._load(table, records) as load:
            con = load.con
            load.unplaceable = _count_unplaceable(con, table)
            con.execute(f"DELETE FROM {table.qualified_name} WHERE _partition_date BETWEEN $first AND $last", window)
            con.execute(
                f"INSERT INTO {table.qualified_name} SELECT * FROM incoming "
                "WHERE _partition_date BETWEEN $first AND $last",
                window,
            )
            (inserted,) = con.execute(
                f"SELECT count(*) FROM {table.qualified_name} WHERE _partition_date BETWEEN $first AND $last",
                window,
            ).fetchone()
        return load.result(inserted)

    def upsert_by_id(self, table: RawTable, records: Iterable[dict]) -> LoadResult:
        placeable = "WHERE _partition_date IS NOT NULL" if table.partitioned else ""
        with self._load(table, records) as load:
            con = load.con
            load.unplaceable = _count_unplaceable(con, table)
            con.execute(f"DELETE FROM {table.qualified_name} WHERE id IN (SELECT id FROM incoming {placeable})")
            con.execute(f"INSERT INTO {table.qualified_name} SELECT * FROM incoming {placeable}")
            (rows,) = con.execute(f"SELECT count(*) FROM incoming {placeable}").fetchone()
        return load.result(rows)

    def row_count(self, table: RawTable) -> int:
        """Rows in a raw table, 0 when it does not exist yet."""
        with self.connect() as con:
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = $name",
                {"name": table.name},
            ).fetchone()[0]
            if not exists:
                return 0
            return int(con.execute(f"SELECT count(*) FROM {table.qualified_name}").fetchone()[0])
