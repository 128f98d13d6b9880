"""The DuckDB warehouse: connections that wait for the single-writer lock, and the four ways raw data lands.

- `replace_snapshot`: a dimension (users, projects, teams, ...) is replaced whole.
- `replace_partitions`: time entries of a date range are replaced exactly, so re-loading a day is idempotent
  and entries edited or deleted in Clockify are corrected when their day is loaded again.
- `upsert_by_id`: Linear issues are never deleted upstream (archived/trashed are flags), so each fetched
  issue replaces its previous version, wherever that version's partition was.
- `replace_for_keys`: the rows of some keys are replaced whole (an issue's history records and state spans,
  whatever their number was before).

Each write is one transaction: a failed load leaves the warehouse as it was. A load first checks, in that
transaction, that the warehouse holds no other source's data and records its source the first time
(`orchestration.warehouse.source`): a load from another workspace, or from the sandbox into a real warehouse,
is refused and changes nothing. Records are bulk-loaded as
one JSON column and typed by DuckDB (see `orchestration.warehouse.raw_tables`), never row by row.

Records may be any iterable, a generator over API pages included: they are staged in chunks into a private
in-memory DuckDB while the fetch goes on (staging.py), so a year of time entries never sits in Python memory
at once, and the warehouse lock is taken only for the final delete-and-insert (a slow API never blocks
other writers). Within one load a later record with the same id supersedes an earlier one (a page re-read
while paging).

Every load takes an `also(con, window, rows_per_day)` hook run inside its transaction: the pipeline's ledger (ledger.py,
schema `ops`) is written with the data it describes. A read a budget stopped midway commits only its whole
days: `replace_partitions(..., through=...)` asks, once every record is staged, for the last whole day.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from orchestration.warehouse import source as source_marker
from orchestration.warehouse.locking import LockedConnection
from orchestration.warehouse.locking import acquire as acquire_lock
from orchestration.warehouse.raw_tables import RawTable
from orchestration.warehouse.staging import Staging

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


@dataclass(frozen=True)
class LoadResult:
    rows: int  # rows the load left in the replaced scope
    unplaceable: int = 0  # records whose partition timestamp is missing or malformed (kept out, reported)
    records: int = 0  # records received (before de-duplication by id)
    stage_seconds: float = 0.0  # typing the records into the staging DuckDB (overlaps the fetch)
    commit_seconds: float = 0.0  # the transaction on the warehouse (lock held)
    window: tuple[dt.date, dt.date] | None = None  # replace_partitions: the days replaced (None: none)
    rows_per_day: dict[dt.date, int] | None = None  # replace_partitions: rows of each replaced day


def upgrade_columns(con: duckdb.DuckDBPyConnection, table: RawTable) -> bool:
    """Bring a raw table made under an older contract to the current one: typed columns added since are
    filled from each row's `_raw` (which holds the whole record), columns the contract dropped go, and the
    order becomes the contract's (loads insert by position). True if the table changed. Runs in the
    caller's transaction, on the connection's current database."""
    have = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND table_schema = 'raw' AND table_name = $name ORDER BY ordinal_position",
            {"name": table.name},
        ).fetchall()
    ]
    if have == [definition.split()[0] for definition in table.column_defs()]:
        return False
    before = f"{table.name}__before_upgrade"
    con.execute(f"ALTER TABLE {table.qualified_name} RENAME TO {before}")
    con.execute(table.create_sql())
    exprs = [c.name if c.name in have else c.extract_sql("_raw") for c in table.columns]
    exprs += ["_partition_date"] if table.partitioned else []
    exprs += ["_raw", "_loaded_at"]
    con.execute(f"INSERT INTO {table.qualified_name} SELECT {', '.join(exprs)} FROM raw.{before}")
    con.execute(f"DROP TABLE raw.{before}")
    log.info(
        "%s: typed columns brought to the current contract (%s)",
        table.qualified_name,
        ", ".join(c.name for c in table.columns if c.name not in have) or "order",
    )
    return True


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

    window: tuple[dt.date, dt.date] | None = None
    rows_per_day: dict[dt.date, int] | None = None

    def result(self, rows: int) -> LoadResult:
        return LoadResult(
            rows=int(rows),
            unplaceable=self.unplaceable,
            records=self.records,
            stage_seconds=self.stage_seconds,
            commit_seconds=self.commit_seconds,
            window=self.window,
            rows_per_day=self.rows_per_day,
        )


# Runs inside a load's transaction, on the warehouse: (connection, the days replaced or None, rows per day).
AlsoHook = Callable[[duckdb.DuckDBPyConnection, "tuple[dt.date, dt.date] | None", "dict[dt.date, int]"], None]


class Warehouse(ConfigurableResource):
    """The DuckDB file the raw assets write and dbt builds on (WAREHOUSE_PATH), and where and how its marts
    are published for BI tools (MARTS_PATH, empty: marts.duckdb beside it; MARTS_STORAGE_VERSION, empty:
    v1.0.0; MARTS_PARQUET_DIR, empty: no Parquet). See orchestration.warehouse.publish."""

    path: str
    marts_path: str = ""
    marts_storage_version: str = ""
    marts_parquet_dir: str = ""
    lock_timeout_seconds: float = 600.0
    # Where the loads come from (build_resources sets them from the Settings); a system left "" here is
    # not checked (tests that build a Warehouse by hand). "sandbox" for the built-in sandbox.
    clockify_source: str = ""
    clockify_host: str = ""
    linear_source: str = ""
    linear_host: str = ""
    check_sources: bool = False

    def source_for(self, table: RawTable) -> source_marker.Source | None:
        """The source a load of `table` comes from (None: not checked)."""
        if not self.check_sources:
            return None
        system = table.name.partition("_")[0]
        if system == "clockify":
            return source_marker.Source(system, self.clockify_source, self.clockify_host)
        if system == "linear":
            return source_marker.Source(system, self.linear_source, self.linear_host)
        return None

    # WAREHOUSE_TIMEZONE: the zone of users without a profile zone (dbt's local days, the raw checks)
    timezone: str = "UTC"
    # WAREHOUSE_WORKDAY_HOURS: a working day's hours where a Clockify profile has none (dbt's capacity)
    workday_hours: float = 8.0

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
        staging = Staging(table, loaded_at)
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
                        upgrade_columns(con, table)
                        if (source := self.source_for(table)) is not None:
                            source_marker.ensure(con, source, self.path)
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

    def replace_snapshot(self, table: RawTable, records: Iterable[dict], also: AlsoHook | None = None) -> LoadResult:
        with self._load(table, records) as load:
            load.con.execute(f"DELETE FROM {table.qualified_name}")
            load.con.execute(f"INSERT INTO {table.qualified_name} SELECT * FROM incoming")
            (rows,) = load.con.execute("SELECT count(*) FROM incoming").fetchone()
            if also is not None:
                also(load.con, None, {})
        return load.result(rows)

    def replace_partitions(
        self,
        table: RawTable,
        records: Iterable[dict],
        first_day: dt.date,
        last_day: dt.date,
        *,
        through: Callable[[], dt.date] | None = None,
        also: AlsoHook | None = None,
    ) -> LoadResult:
        """Replace every row of days [first_day, last_day] with `records` (outside rows are ignored).

        `through()`, asked once every record is staged, may end the window earlier: the last day the records
        hold whole (a read stopped by a budget). Days after it are left exactly as they were; when it is
        before `first_day`, nothing is replaced (`also` still runs, with window None).
        """
        if not table.partitioned:
            raise ValueError(f"{table.qualified_name} is not partitioned")
        with self._load(table, records) as load:
            con = load.con
            if through is not None:
                last_day = min(last_day, through())
            if last_day < first_day:
                load.window, load.rows_per_day = None, {}
                if also is not None:
                    also(con, None, {})
                return_rows = 0
            else:
                window = {"first": first_day, "last": last_day}
                load.unplaceable = _count_unplaceable(con, table)
                con.execute(
                    f"DELETE FROM {table.qualified_name} WHERE _partition_date BETWEEN $first AND $last", window
                )
                con.execute(
                    f"INSERT INTO {table.qualified_name} SELECT * FROM incoming "
                    "WHERE _partition_date BETWEEN $first AND $last",
                    window,
                )
                per_day = con.execute(
                    f"SELECT _partition_date, count(*) FROM {table.qualified_name} "
                    "WHERE _partition_date BETWEEN $first AND $last GROUP BY 1",
                    window,
                ).fetchall()
                load.window, load.rows_per_day = (first_day, last_day), {d: int(n) for d, n in per_day}
                return_rows = sum(load.rows_per_day.values())
                if also is not None:
                    also(con, load.window, load.rows_per_day)
        return load.result(return_rows)

    def upsert_by_id(self, table: RawTable, records: Iterable[dict], also: AlsoHook | None = None) -> LoadResult:
        placeable = "WHERE _partition_date IS NOT NULL" if table.partitioned else ""
        with self._load(table, records) as load:
            con = load.con
            load.unplaceable = _count_unplaceable(con, table)
            con.execute(f"DELETE FROM {table.qualified_name} WHERE id IN (SELECT id FROM incoming {placeable})")
            con.execute(f"INSERT INTO {table.qualified_name} SELECT * FROM incoming {placeable}")
            (rows,) = con.execute(f"SELECT count(*) FROM incoming {placeable}").fetchone()
            if also is not None:
                also(con, None, {})
        return load.result(rows)

    def replace_for_keys(
        self, table: RawTable, records: Iterable[dict], key_column: str, keys: Iterable[str]
    ) -> LoadResult:
        """Replace every row whose `key_column` is one of `keys` with `records` (e.g. one issue's whole
        history: an issue whose new history is empty loses its old rows too)."""
        if key_column not in {c.name for c in table.columns}:
            raise ValueError(f"{table.qualified_name} has no column {key_column}")
        with self._load(table, records) as load:
            con = load.con
            # The keys as a bound list parameter (a registered DataFrame would need the connection to have
            # no pending result, and the source marker's check may leave one).
            con.execute(
                f"DELETE FROM {table.qualified_name} WHERE {key_column} IN (SELECT unnest($keys::VARCHAR[]))",
                {"keys": sorted(set(keys))},
            )
            con.execute(f"INSERT INTO {table.qualified_name} SELECT * FROM incoming")
            (rows,) = con.execute("SELECT count(*) FROM incoming").fetchone()
        return load.result(rows)

    def issues_without_current_history(self, issues: RawTable, history: RawTable, spans: RawTable) -> list[str]:
        """Ids of the issues in raw `issues` whose history was never read, or read before the issue's latest
        updatedAt: the most recently updated first (the ones time entries most likely name)."""
        with self.connect() as con:
            present = {
                row[0]
                for row in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
                ).fetchall()
            }
            if issues.name not in present:
                return []
            synced = [
                f"SELECT issue_id, max(issue_updated_at) AS synced FROM {t.qualified_name} GROUP BY issue_id"
                for t in (history, spans)
                if t.name in present
            ]
            read = " UNION ALL ".join(synced) or "SELECT NULL::VARCHAR AS issue_id, NULL::TIMESTAMP AS synced"
            rows = con.execute(
                f"""
                WITH latest AS (
                    SELECT id, max(updated_at) AS updated_at FROM {issues.qualified_name}
                    WHERE id IS NOT NULL GROUP BY id
                ),
                read AS (SELECT issue_id, max(synced) AS synced FROM ({read}) GROUP BY issue_id)
                SELECT latest.id FROM latest LEFT JOIN read ON read.issue_id = latest.id
                WHERE read.synced IS NULL OR latest.updated_at > read.synced
                ORDER BY latest.updated_at DESC NULLS LAST, latest.id
                """
            ).fetchall()
        return [row[0] for row in rows]

    def write(self, statements: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
        """Run `statements` in one transaction on the warehouse (the ledger's own writes)."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                statements(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def read(self, query: Callable[[duckdb.DuckDBPyConnection], object]):
        """`query(con)` on a read-only connection (the ledger's reads); waits for a writer like connect()."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if not Path(self.path).exists():
            with self.connect() as con:  # a read-only connection cannot create the file
                return query(con)
        with self.connect(read_only=True) as con:
            return query(con)

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
