"""Read the published marts through SQLAlchemy's duckdb-engine with whatever DuckDB this interpreter has.

Run by tests/test_bi_readers.py with the DuckDB 1.x environments that `make readers` builds
(.venv-duckdb1: DuckDB 1.4, .venv-duckdb10: DuckDB 1.0); imported there too (stdlib only at import), so
DuckDB 2.0's reading is summarised by the very same `digest`.

    python read_marts.py dump PATH         JSON: DuckDB version; per table its comment, columns (name,
                                           DuckDB type, comment as SQLAlchemy's inspector reports it),
                                           row count and digest
    python read_marts.py watch PATH STOP   reads every table on a new connection, again and again, until
                                           the file STOP exists; prints "ready" after the first read, then
                                           JSON: the distinct snapshots seen (table -> digest) and errors
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
import sys
import time

TABLES_SQL = (
    "SELECT table_name FROM information_schema.tables "
    "WHERE table_catalog = current_database() AND table_schema = 'main' ORDER BY table_name"
)
TYPES_SQL = (
    "SELECT table_name, column_name, data_type FROM duckdb_columns() "
    "WHERE database_name = current_database() AND schema_name = 'main' ORDER BY table_name, column_index"
)


def normalise(value):
    """A JSON value that is equal exactly when the DuckDB values are (floats by their exact repr)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return {type(value).__name__: value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value)}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    return {type(value).__name__: str(value)}


def digest(columns: list[str], rows) -> str:
    """Order-independent digest of a table's column names and rows."""
    lines = sorted(json.dumps([normalise(v) for v in row], sort_keys=True) for row in rows)
    h = hashlib.sha256(json.dumps(columns).encode())
    for line in lines:
        h.update(line.encode() + b"\n")
    return f"{len(lines)}:{h.hexdigest()}"


def _engine(path: str):
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    # NullPool: every connect() opens the file anew, so a reader sees each new publish (a pooled
    # connection would keep reading the file it opened, which is fine for a dashboard but not here).
    # One DuckDB thread: the watcher runs beside a sync on a small machine and must not slow it down.
    return create_engine(
        f"duckdb:///{path}", connect_args={"read_only": True, "config": {"threads": 1}}, poolclass=NullPool
    )


def snapshot(run) -> dict[str, str]:
    """table -> digest of every table of the file's main schema; `run(sql)` returns (column names, rows)."""
    out = {}
    for (table,) in run(TABLES_SQL)[1]:
        columns, rows = run(f'SELECT * FROM "{table}"')
        out[table] = digest(list(columns), rows)
    return out


def _sqlalchemy_runner(connection):
    from sqlalchemy import text

    def run(sql: str):
        result = connection.execute(text(sql))
        return list(result.keys()), result.fetchall()

    return run


def duckdb_runner(con):
    """`run` for a DuckDB connection (the DuckDB 2.0 side of the comparison)."""

    def run(sql: str):
        cursor = con.execute(sql)
        return [d[0] for d in cursor.description], cursor.fetchall()

    return run


def dump(path: str) -> dict:
    import duckdb
    import sqlalchemy
    from sqlalchemy import inspect, text

    engine = _engine(path)
    inspector = inspect(engine)
    with engine.connect() as connection:
        types: dict[str, list] = {}
        for table, column, data_type in connection.execute(text(TYPES_SQL)).fetchall():
            types.setdefault(table, []).append([column, data_type])
        digests = snapshot(_sqlalchemy_runner(connection))
    # What a BI tool's schema browser asks SQLAlchemy for (batched: one catalog query for all tables).
    column_info = inspector.get_multi_columns()
    table_comments = inspector.get_multi_table_comment()
    tables = {}
    for table in inspector.get_table_names():
        comments = {c["name"]: c.get("comment") for c in column_info[(None, table)]}
        tables[table] = {
            "comment": (table_comments.get((None, table)) or {}).get("text"),
            "columns": [[name, data_type, comments.get(name)] for name, data_type in types[table]],
            "digest": digests[table],
        }
    engine.dispose()
    return {"duckdb": duckdb.__version__, "sqlalchemy": sqlalchemy.__version__, "tables": tables}


def watch(path: str, stop: str) -> dict:
    engine = _engine(path)
    seen, errors, reads, first = [], [], 0, True
    while True:
        try:
            with engine.connect() as connection:
                current = snapshot(_sqlalchemy_runner(connection))
            reads += 1
            if not seen or seen[-1] != current:
                seen.append(current)
        except Exception as error:  # reported, never fatal: the test asserts there are none
            errors.append(repr(error)[:500])
        if first:
            print("ready", flush=True)
            first = False
        if os.path.exists(stop):
            break
        time.sleep(1.5)  # a read costs ~0.25 s of CPU: leave the machine to the sync it watches
    return {"seen": seen, "errors": errors[:5], "reads": reads}


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")  # duckdb-engine: "Did not recognize type 'list'" etc.
    command, path = sys.argv[1], sys.argv[2]
    result = dump(path) if command == "dump" else watch(path, sys.argv[3])
    print(json.dumps(result), flush=True)
