"""The DuckDB warehouse: connections that wait for the single-writer lock, and the three ways raw data lands.

- `replace_snapshot`: a dimension (users, projects, teams, ...) is replaced whole.
- `replace_partitions`: time entries of a date range are replaced exactly, so re-loading a day is idempotent
  and entries edited or deleted in Clockify are corrected when their day is loaded again.
- `upsert_by_id`: Linear issues are never deleted upstream (archived/trashed are flags), so each fetched
  issue replaces its previous version, wherever that version's partition was.

Each write is one transaction: a failed load leaves the warehouse as it was. Records are bulk-loaded as
one JSON column and typed by DuckDB (see `assets.raw_tables`), never row by row.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from collections.abc import Iterator, Sequence
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

from assets.raw_tables import RawTable
from orchestration.locking import LockedConnection
from orchestration.locking import acquire as acquire_lock

log = logging.getLogger(__name__)


def _is_lock_conflict(error: BaseException) -> bool:
    text = str(error).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def connect_with_lock_wait(path: str | Path, timeout_seconds: float = 600.0, read_only: bool = False):
    """Open the DuckDB file, waiting while another process holds its write lock.

    DuckDB allows one writing process per file; runs, steps and dbt take turns instead of failing. The
    connection holds the cross-process warehouse lock (`orchestration.locking`: exclusive for writers,
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


def _connect_waiting(path: str | Path, read_only: bool, deadline: float, timeout_seconds: float):
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
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
    selects = [f"{e} AS {c.name}" for e, c in zip(exprs, table.columns)]
    if table.partitioned:
        selects.append(f"CAST({exprs[-1]} AS DATE) AS _partition_date")
    path_list = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
    return selects, path_list


def _stage(con, table: RawTable, records: Sequence[dict], loaded_at: dt.datetime) -> None:
    """Create temp table `incoming` with the table's exact column layout."""
    frame = records_frame(records)  # noqa: F841 - read by DuckDB's replacement scan below
    con.register("incoming_json", frame)
    selects, paths = _typed_selects(table, "j._raw", "j._v")
    selects += ["CAST(j._raw AS JSON) AS _raw", "CAST($loaded_at AS TIMESTAMP) AS _loaded_at"]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE incoming AS SELECT {', '.join(selects)} "
        f"FROM (SELECT _raw, json_extract_string(_raw, {paths}) AS _v FROM incoming_json) AS j",
        {"loaded_at": loaded_at},
    )
    con.unregister("incoming_json")


@dataclass(frozen=True)
class LoadResult:
    rows: int  # rows the load left in the replaced scope
    unplaceable: int = 0  # records whose partition timestamp is missing or malformed (kept out, reported)


def _count_unplaceable(con, table: RawTable) -> int:
    if not table.partitioned:
        return 0
    (count,) = con.execute("SELECT count(*) FROM incoming WHERE _partition_date IS NULL").fetchone()
    if count:
        log.warning(
            "%s: %d record(s) without a valid %s were not loaded (their JSON is malformed upstream)",
            table.qualified_name, count, table.partition_column,
        )
    return int(count)


class Warehouse(ConfigurableResource):
    """The DuckDB file the raw assets write and dbt builds on (same `WAREHOUSE_PATH`)."""

    path: str
    lock_timeout_seconds: float = 600.0

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect_with_lock_wait(self.path, self.lock_timeout_seconds, read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _load(self, table: RawTable, records: Sequence[dict]) -> Iterator[duckdb.DuckDBPyConnection]:
        """Stage records then run the caller's statements in one transaction."""
        loaded_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        with self.connect() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS raw")
            con.execute(table.create_sql())
            _stage(con, table, records, loaded_at)
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def replace_snapshot(self, table: RawTable, records: Sequence[dict]) -> LoadResult:
        with self._load(table, records) as con:
            con.execute(f"DELETE FROM {table.qualified_name}")
            con.execute(f"INSERT INTO {table.qualified_name} SELECT * FROM incoming")
        return LoadResult(rows=len(records))

    def replace_partitions(
        self, table: RawTable, records: Sequence[dict], first_day: dt.date, last_day: dt.date
    ) -> LoadResult:
        """Replace every row of days [first_day, last_day] with `records` (outside rows are ignored)."""
        if not table.partitioned:
            raise ValueError(f"{table.qualified_name} is not partitioned")
        window = {"first": first_day, "last": last_day}
        with self._load(table, records) as con:
            unplaceable = _count_unplaceable(con, table)
            con.execute(
                f"DELETE FROM {table.qualified_name} WHERE _partition_date BETWEEN $first AND $last", window
            )
            con.execute(
                f"INSERT INTO {table.qualified_name} SELECT * FROM incoming "
                "WHERE _partition_date BETWEEN $first AND $last",
                window,
            )
            (inserted,) = con.execute(
                f"SELECT count(*) FROM {table.qualified_name} WHERE _partition_date BETWEEN $first AND $last",
                window,
            ).fetchone()
        return LoadResult(rows=int(inserted), unplaceable=unplaceable)

    def upsert_by_id(self, table: RawTable, records: Sequence[dict]) -> LoadResult:
        placeable = "WHERE _partition_date IS NOT NULL" if table.partitioned else ""
        with self._load(table, records) as con:
            unplaceable = _count_unplaceable(con, table)
            con.execute(
                f"DELETE FROM {table.qualified_name} WHERE id IN (SELECT id FROM incoming {placeable})"
            )
            con.execute(f"INSERT INTO {table.qualified_name} SELECT * FROM incoming {placeable}")
        return LoadResult(rows=len(records) - unplaceable, unplaceable=unplaceable)

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
