"""Staging a load: records typed into a private in-memory DuckDB, outside the warehouse lock.

Records are bulk-loaded as one JSON column and typed by DuckDB with the raw contract's expressions
(`raw_tables.Column.extract_sql`), never row by row, in chunks of `STAGE_CHUNK_RECORDS` while the fetch
goes on. Memory is bounded by `STAGE_MEMORY_LIMIT`; beyond it DuckDB spills to a private temporary
directory. duckdb.py then attaches the warehouse, under its lock, for the load's one transaction.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import duckdb

try:  # a dependency of dagster-dbt; ~10x faster than the json module (the load's main Python cost)
    import orjson
except ImportError:  # pragma: no cover
    orjson = None

from orchestration.warehouse.raw_tables import RawTable

if TYPE_CHECKING:
    import pandas as pd


_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json_text(record: dict) -> str:
    if orjson is not None:
        try:
            return orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # orjson.JSONEncodeError (e.g. an int beyond 64 bits): the json module copes
            pass
    return _DUMPS(record)


def _json_texts(records: Iterable[dict]) -> list[str]:
    return [_json_text(r) for r in records]


def texts_frame(texts: Sequence[str]) -> pd.DataFrame:
    """One row per record, its JSON as text: DuckDB does the typing in bulk."""
    import pandas as pd  # noqa: PLC0415 - lazy: ~0.4 s of every start-up (sync, check, code location) otherwise

    return pd.DataFrame({"_raw": pd.Series(texts, dtype="object")})


def records_frame(records: Sequence[dict]) -> pd.DataFrame:
    """One row per record, its JSON as text."""
    return texts_frame(_json_texts(records))


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


# Records typed per staging statement: bounds Python memory to one chunk (~0.6 KiB per time entry as JSON
# text) while keeping DuckDB's per-statement overhead negligible.
STAGE_CHUNK_RECORDS = 20_000
# DuckDB memory of one load; beyond it the staged rows spill to a temporary directory, so a backfill of
# millions of entries runs in bounded memory (a year of the team-of-200 workload stays below it).
STAGE_MEMORY_LIMIT = "1GB"


# Python's youngest-generation threshold while records are staged (default 700). A load allocates millions of
# short-lived containers (each API page's rows, their normalised copies) that reference counting frees at once;
# the default threshold still ran a collection every 700 net allocations and promoted the pages waiting in the
# fetch threads, triggering full collections of every object of the process (Dagster's, dbt's): 5-14 s of a
# year's load of the team of 200 (busy 2-core machine), 0.2 s with it. Cycles are still collected, later.
STAGE_GC_THRESHOLD = 20_000
_gc_lock = threading.Lock()
_gc_loads = 0  # loads staging now (threads of one run): the threshold is restored when the last one ends
_gc_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """While records are staged: the garbage collector's first threshold raised to STAGE_GC_THRESHOLD."""
    global _gc_loads, _gc_saved
    with _gc_lock:
        if _gc_loads == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], STAGE_GC_THRESHOLD), *_gc_saved[1:])
        _gc_loads += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_loads -= 1
            if _gc_loads == 0:
                gc.set_threshold(*_gc_saved)


class _TextChunks:
    """The records as chunks of JSON text, each record turned into text as it arrives.

    Only text is held while a chunk fills: ~8x less memory than the records' dicts, and strings are not
    tracked by Python's garbage collector. A chunk of 20,000 time entries held as dicts (100,000 containers)
    outlived two young collections and triggered full ones, each traversing every object of the process
    (with the dicts: 14 s of a year's 58 s load on a busy machine). `seconds`: turning records into text.
    """

    def __init__(self, records: Iterable[dict], size: int) -> None:
        self.records, self.size, self.seconds = records, size, 0.0

    def __iter__(self) -> Iterator[list[str]]:
        clock, text, size = time.perf_counter, _json_text, self.size
        chunk: list[str] = []
        for record in self.records:
            started = clock()
            chunk.append(text(record))
            self.seconds += clock() - started
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


class Staging:
    """The records of one load, typed into temp view `incoming` of a private in-memory DuckDB.

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
        with fewer_collections():
            self._stage_chunks(_TextChunks(records, STAGE_CHUNK_RECORDS), insert)
        started = time.perf_counter()
        # One row per id, the last one read; records without an id are all kept (dbt flags them). Rows read
        # again are rare (an entry edited while the report was paged): they are deleted in place, and
        # `incoming` is a view without the read order, not a copy (a year's rows staged once, not twice).
        self.con.execute(
            "DELETE FROM staged USING (SELECT id, max(_seq) AS last FROM staged WHERE id IS NOT NULL GROUP BY id "
            "HAVING count(*) > 1) AS again WHERE staged.id = again.id AND staged._seq < again.last"
        )
        columns = ", ".join(c.name for c in table.columns)
        partition = ", _partition_date" if table.partitioned else ""
        self.con.execute(f"CREATE TEMP VIEW incoming AS SELECT {columns}{partition}, _raw, _loaded_at FROM staged")
        self.seconds += time.perf_counter() - started

    def _stage_chunks(self, chunks: _TextChunks, insert: str) -> None:
        for chunk in chunks:
            started = time.perf_counter()
            frame = texts_frame(chunk)
            frame["_seq"] = range(self.records, self.records + len(chunk))
            self.con.register("incoming_json", frame)
            self.con.execute(insert, {"loaded_at": self.loaded_at})
            self.con.unregister("incoming_json")
            self.records += len(chunk)
            del frame, chunk  # not held while the next chunk is fetched
            self.seconds += time.perf_counter() - started
        self.seconds += chunks.seconds

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._spill.cleanup()
