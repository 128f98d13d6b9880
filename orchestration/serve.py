"""`warehouse serve`: a read-only HTTP JSON API over the published marts file (FastAPI + uvicorn).

For front ends that should not open the DuckDB file themselves. No SQL comes from the client:

    GET /marts                   every mart: row count, comment, columns (name, type, comment), publish time
    GET /marts/{mart}            rows of one mart, as JSON objects
        ?<column>=<value>        filter: equals (repeat the parameter for "any of")
        ?<column>__<op>=<value>  op: ne, lt, lte, gt, gte, contains (text: case-insensitive substring;
                                 list: has the element), null (true / false)
        ?order_by=a,-b           sort (a `-` sorts descending); every other column follows, so pages are stable
        ?columns=a,b             only these columns
        ?limit=100&offset=0      paging (limit 1..10000)
    GET /health                  200 and the publish time once marts are published, 503 before

Column names are checked against the mart's own columns (they are quoted from the file's catalog, never
from the request) and values are bound parameters cast to the column's type: a bad name, operator or
value is a 400 that says what is allowed, never a 500.

Every request reads the file as it is when the request starts: the file is ATTACHed read-only for the
request (a few ms) and detached after, in one DuckDB instance kept for the server's life. A publish
replaces the file by rename, so a request sees the old marts or the new ones, whole, and never errors.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from contextlib import contextmanager
from pathlib import Path

import duckdb
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from orchestration.warehouse.publish import PUBLISHED_SCHEMA, PUBLISHED_TABLE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
RESERVED = {"limit", "offset", "order_by", "columns"}
COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
OPERATORS = sorted([*COMPARISONS, "contains", "null"])


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _json(payload, status: int = 200) -> Response:
    # orjson: dates and timestamps as ISO 8601, NaN as null.
    return Response(
        orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS), status_code=status, media_type="application/json"
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class PublishedMarts:
    """Opens the published file per request, read-only, inside one long-lived in-memory DuckDB."""

    def __init__(self, marts_path: Path):
        self.path = Path(marts_path)
        # An instance costs ~70 ms: made once, not per request. No replacement scans: a missing table must be
        # an error, never a Python object of the same name.
        self._db = duckdb.connect(":memory:", config={"python_enable_replacements": False})
        self._aliases = itertools.count()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def snapshot(self):
        """A cursor whose catalog `alias` is the published file as it is now; detached afterwards."""
        if not self.path.exists():
            raise BadRequest(f"No marts are published at {self.path} yet: run a sync (or `make demo`).", 503)
        with self._lock:
            alias = f"published_{next(self._aliases)}"
        cursor = self._db.cursor()
        literal = "'" + str(self.path).replace("'", "''") + "'"
        try:
            cursor.execute(f"ATTACH {literal} AS {alias} (READ_ONLY)")
        except duckdb.IOException as error:  # replaced between exists() and ATTACH: gone only if unpublished
            cursor.close()
            raise BadRequest(f"The published marts at {self.path} cannot be opened: {error}", 503) from error
        try:
            yield cursor, alias
        finally:
            try:
                cursor.execute(f"DETACH {alias}")
            finally:
                cursor.close()


def _schema(cursor, alias: str) -> dict[str, dict]:
    """mart -> {comment, columns: [{name, type, comment}]} for every table of the file but `_published`."""
    marts: dict[str, dict] = {}
    for table, comment in cursor.execute(
        "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = $db AND schema_name = $schema "
        "ORDER BY table_name",
        {"db": alias, "schema": PUBLISHED_SCHEMA},
    ).fetchall():
        if table != PUBLISHED_TABLE:
            marts[table] = {"comment": comment or None, "columns": []}
    for table, column, data_type, comment in cursor.execute(
        "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = $db AND schema_name = $schema ORDER BY table_name, column_index",
        {"db": alias, "schema": PUBLISHED_SCHEMA},
    ).fetchall():
        if table in marts:
            marts[table]["columns"].append({"name": column, "type": data_type, "comment": comment or None})
    return marts


def _published(cursor, alias: str) -> tuple[str | None, dict[str, int]]:
    try:
        rows = cursor.execute(
            f"SELECT table_name, row_count, published_at FROM {alias}.{PUBLISHED_SCHEMA}.{PUBLISHED_TABLE}"
        ).fetchall()
    except duckdb.CatalogException:  # a DuckDB file publish did not write: served, without the bookkeeping
        return None, {}
    published_at = max((r[2] for r in rows), default=None)
    stamp = published_at.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z") if published_at else None
    return stamp, {r[0]: int(r[1]) for r in rows}


def _int_param(params, name: str, default: int, low: int, high: int | None) -> int:
    values = params.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise BadRequest(f"{name} is given {len(values)} times: give it once.")
    try:
        value = int(values[0])
    except ValueError:
        raise BadRequest(f"{name}={values[0]!r} is not an integer.") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"{name}={value} is out of range: it must be {bound}.")
    return value


def _list_param(params, name: str) -> list[str]:
    return [item.strip() for value in params.getlist(name) for item in value.split(",") if item.strip()]


def _check_column(name: str, columns: dict[str, str], mart: str, what: str) -> None:
    if name not in columns:
        raise BadRequest(f"{what} {name!r} is not a column of {mart}: use one of {', '.join(columns)}.")


def _where(params, columns: dict[str, str], mart: str, cursor) -> tuple[list[str], list]:
    """SQL conditions (identifiers from the catalog, values as $n parameters) for the filter parameters."""
    conditions, values = [], []
    by_target: dict[tuple[str, str], list[str]] = {}
    for key, value in params.multi_items():
        if key in RESERVED:
            continue
        column, _, op = key.partition("__")
        op = op or "eq"
        _check_column(column, columns, mart, "Filter")
        if op not in OPERATORS:
            raise BadRequest(f"{key}: unknown operator {op!r}: use one of {', '.join(OPERATORS)}.")
        by_target.setdefault((column, op), []).append(value)
    for (column, op), given in by_target.items():
        data_type = columns[column]
        is_list = data_type.endswith("[]")
        target = _quote(column)
        if op == "null":
            flags = {v.strip().lower() for v in given}
            if not flags <= {"true", "false"} or len(flags) != 1:
                raise BadRequest(f"{column}__null must be true or false, once.")
            conditions.append(f"{target} IS {'' if flags == {'true'} else 'NOT '}NULL")
            continue
        if op == "contains":
            for value in given:
                if is_list:
                    element = data_type[:-2]
                    values.append(_cast(cursor, value, element, f"{column}__contains"))
                    conditions.append(f"list_contains({target}, CAST(${len(values)} AS {element}))")
                elif data_type == "VARCHAR":
                    values.append(value)
                    conditions.append(f"contains(lower({target}), lower(${len(values)}))")
                else:
                    raise BadRequest(f"{column}__contains: {column} is {data_type}; contains works on text and lists.")
            continue
        if is_list:
            raise BadRequest(f"{column} is a list ({data_type}): filter it with {column}__contains or __null.")
        if op == "eq" and len(given) > 1:
            placeholders = []
            for value in given:
                values.append(_cast(cursor, value, data_type, column))
                placeholders.append(f"CAST(${len(values)} AS {data_type})")
            conditions.append(f"{target} IN ({', '.join(placeholders)})")
            continue
        for value in given:
            values.append(_cast(cursor, value, data_type, f"{column}__{op}" if op != "eq" else column))
            conditions.append(f"{target} {COMPARISONS[op]} CAST(${len(values)} AS {data_type})")
    return conditions, values


def _cast(cursor, value: str, data_type: str, name: str) -> str:
    """`value` unchanged if it casts to `data_type` (checked by DuckDB itself), else a 400."""
    (ok,) = cursor.execute(f"SELECT TRY_CAST($1 AS {data_type}) IS NOT NULL", [value]).fetchone()
    if not ok:
        raise BadRequest(f"{name}={value!r} is not a valid {data_type}.")
    return value


def create_app(marts_path: Path) -> FastAPI:
    """The API over the published marts file at `marts_path` (opened per request)."""
    marts_file = PublishedMarts(marts_path)
    app = FastAPI(
        title="Hours warehouse marts",
        description="Read-only JSON over the published marts (see the README, 'Reading the marts from BI tools').",
        docs_url=None,  # the Swagger page loads its scripts from a CDN: offline it would not render
        redoc_url=None,
    )
    app.state.marts = marts_file

    @app.exception_handler(BadRequest)
    async def bad_request(_request, error: BadRequest):
        return _json({"error": str(error)}, error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _json({"error": f"{where}: {first.get('msg', 'invalid request')}"}, 400)

    @app.get("/health")
    def health():
        with marts_file.snapshot() as (cursor, alias):
            published_at, _ = _published(cursor, alias)
        return _json({"status": "ok", "published_at": published_at})

    @app.get("/marts")
    def list_marts():
        with marts_file.snapshot() as (cursor, alias):
            published_at, counts = _published(cursor, alias)
            schema = _schema(cursor, alias)
        return _json(
            {
                "published_at": published_at,
                "marts": [{"name": name, "rows": counts.get(name), **info} for name, info in schema.items()],
            }
        )

    @app.get("/marts/{mart}")
    def read_mart(mart: str, request: Request):
        params = request.query_params
        limit = _int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(params, "offset", 0, 0, None)
        with marts_file.snapshot() as (cursor, alias):
            schema = _schema(cursor, alias)
            if mart not in schema:
                raise BadRequest(f"No mart {mart!r}: GET /marts lists them ({', '.join(schema)}).", 404)
            columns = {c["name"]: c["type"] for c in schema[mart]["columns"]}
            selected = _list_param(params, "columns") or list(columns)
            for name in selected:
                _check_column(name, columns, mart, "Column")
            order = []
            for item in _list_param(params, "order_by"):
                name, descending = (item[1:], True) if item.startswith("-") else (item, False)
                _check_column(name, columns, mart, "order_by")
                order.append(f"{_quote(name)} {'DESC' if descending else 'ASC'} NULLS LAST")
            named = {item.lstrip("-") for item in _list_param(params, "order_by")}
            order += [f"{_quote(c)} ASC NULLS LAST" for c in columns if c not in named]  # stable pages
            conditions, values = _where(params, columns, mart, cursor)
            relation = f"{alias}.{PUBLISHED_SCHEMA}.{_quote(mart)}"
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            (total,) = cursor.execute(f"SELECT count(*) FROM {relation}{where}", values).fetchone()
            result = cursor.execute(
                f"SELECT {', '.join(_quote(c) for c in selected)} FROM {relation}{where} "
                f"ORDER BY {', '.join(order)} LIMIT {limit} OFFSET {offset}",
                values,
            )
            rows = [dict(zip(selected, row, strict=True)) for row in result.fetchall()]
            published_at, _ = _published(cursor, alias)
        return _json(
            {
                "mart": mart,
                "published_at": published_at,
                "columns": selected,
                "total": int(total),
                "limit": limit,
                "offset": offset,
                "rows": rows,
            }
        )

    return app


def serve(marts_path: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run the API with uvicorn until interrupted."""
    uvicorn.run(create_app(marts_path), host=host, port=port, log_level="info")
