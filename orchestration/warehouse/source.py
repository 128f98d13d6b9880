"""Which source a warehouse was built from, recorded in the warehouse itself, and checked before every write.

Table `meta.source` holds one row per system: `clockify` (the workspace id and the host it was read from),
`linear` (the organization id and host), or `sandbox` as the id of both when the built-in sandbox filled the
file (the demo). The first load of a system records its row in the same transaction as its data; every later
load checks it first (`Warehouse` loads do, inside their transaction; `check` is the read-only form runs
use before they fetch anything), so a sync against a second workspace or organization, or a demo pointed
at a real warehouse, is refused with one line naming the file and the fix, and never mixes two sources in
one file.

A file built before this table existed ("unmarked") is judged by its data: a real source adopts it when its
Clockify workspaces (raw.clockify_workspaces) are only this run's workspace (Linear records carry no
organization id, so Linear data is adopted); the sandbox never adopts an unmarked file holding data.
Ids are compared, not hosts: a workspace lives on one host, so moving to the right host (CLOCKIFY_REGION)
keeps the same warehouse.

The Linear organization is known only after asking the API: a headless sync knows it (its checks ask), a run
launched from the Dagster UI does not. A real Linear source without an id ("some real organization") is never
recorded; it matches any real organization and refuses a sandbox-marked file, so sandbox and real data still
never mix.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from orchestration.settings import Settings

SCHEMA = "meta"
TABLE = f"{SCHEMA}.source"
SANDBOX = "sandbox"
SYSTEMS = ("clockify", "linear")
# The run tag saying where a run's data came from ("sandbox" or "api"): the warehouse job carries it, and a
# run of other assets that reads the sandbox gets it too (resources.py), so the UI's run list says so.
RUN_TAG = "warehouse/source"


class SourceMismatch(RuntimeError):
    """The warehouse holds another source's data; the message is one line naming the file and the fix."""


@dataclass(frozen=True)
class Source:
    system: str  # "clockify" | "linear"
    source_id: str  # the Clockify workspace id, the Linear organization id, or "sandbox"
    host: str = ""  # where it is read (api.clockify.me, euc1.clockify.me, api.linear.app); "" for the sandbox

    @classmethod
    def sandbox(cls, system: str) -> Source:
        return cls(system, SANDBOX)

    @property
    def is_sandbox(self) -> bool:
        return self.source_id == SANDBOX

    @property
    def identified(self) -> bool:
        return bool(self.source_id)

    def describe(self) -> str:
        if self.is_sandbox:
            return f"the built-in sandbox ({self.system})"
        what = "Clockify workspace" if self.system == "clockify" else "Linear organization"
        return f"{what} {self.source_id or '(not identified)'}" + (f" on {self.host}" if self.host else "")

    def matches(self, recorded: Source) -> bool:
        """Whether this run's source may write where `recorded` is recorded."""
        if not self.identified:  # a real source we could not identify: anything but the sandbox
            return not recorded.is_sandbox
        return recorded.source_id == self.source_id


def _host(url: str) -> str:
    return urlsplit(url).netloc


def expected(settings: Settings) -> list[Source]:
    """The sources a run with `settings` reads: the sandbox's, or the workspace (its id and host) and the
    Linear organization (its id when the settings know it, see the module docstring)."""
    if settings.sandbox:
        return [Source.sandbox(system) for system in SYSTEMS]
    return [
        Source("clockify", settings.clockify.workspace_id or "", _host(settings.clockify.api_url)),
        Source("linear", settings.linear.organization_id or "", _host(settings.linear.api_url)),
    ]


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    (count,) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = $schema AND table_name = $table",
        {"schema": schema, "table": table},
    ).fetchone()
    return bool(count)


def recorded(con: duckdb.DuckDBPyConnection) -> dict[str, Source]:
    """The sources recorded in the warehouse `con` has open (as its default database), by system."""
    if not _exists(con, SCHEMA, "source"):
        return {}
    rows = con.execute(f"SELECT system, source_id, host FROM {TABLE}").fetchall()
    return {system: Source(system, source_id, host) for system, source_id, host in rows}


def _raw_tables_with_rows(con: duckdb.DuckDBPyConnection, system: str) -> list[str]:
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_schema = 'raw' AND starts_with(table_name, $prefix) ORDER BY table_name",
            {"prefix": f"{system}_"},
        ).fetchall()
    ]
    # Names come from information_schema, quoted: never user input.
    return [n for n in names if con.execute(f'SELECT EXISTS (SELECT 1 FROM raw."{n}")').fetchone()[0]]


def _unmarked_holder(con: duckdb.DuckDBPyConnection, source: Source) -> Source | None:
    """For a file without this system's row: whose data it already holds, when it is not `source`'s."""
    tables = _raw_tables_with_rows(con, source.system)
    if not tables:
        return None  # nothing of this system yet: the file is free for it
    if source.is_sandbox:
        return Source(source.system, "unknown (data loaded before sources were recorded)")
    if source.system == "clockify" and "clockify_workspaces" in tables:
        ids = {r[0] for r in con.execute("SELECT DISTINCT id FROM raw.clockify_workspaces").fetchall()}
        if ids - {source.source_id}:
            return Source("clockify", ", ".join(sorted(str(i) for i in ids)))
    return None


def _refusal(path: str | Path, holder: Source, source: Source) -> SourceMismatch:
    if source.is_sandbox:
        fix = (
            "the demo writes only files of its own: set WAREHOUSE_DEMO_DIR to a directory of its own "
            "(default data/demo), or move the file away"
        )
    else:
        fix = (
            "set WAREHOUSE_PATH to another file for this source (one warehouse per workspace and organization), "
            "or move the file away to start afresh"
        )
    return SourceMismatch(
        f"{path} holds data from {holder.describe()}, and this run reads {source.describe()}: refused, nothing "
        f"was written; {fix}."
    )


def problem(con: duckdb.DuckDBPyConnection, source: Source, path: str | Path) -> SourceMismatch | None:
    """Why `source` may not write the warehouse `con` has open (None: it may)."""
    have = recorded(con).get(source.system)
    if have is not None:
        return None if source.matches(have) else _refusal(path, have, source)
    holder = _unmarked_holder(con, source)
    return None if holder is None else _refusal(path, holder, source)


def ensure(con: duckdb.DuckDBPyConnection, source: Source, path: str | Path) -> None:
    """Inside the caller's write transaction: refuse (SourceMismatch) when the warehouse holds another
    source's data, else record `source` if it is not recorded yet."""
    refusal = problem(con, source, path)
    if refusal is not None:
        raise refusal
    if not source.identified or source.system in recorded(con):
        return
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (system VARCHAR PRIMARY KEY, source_id VARCHAR NOT NULL, "
        "host VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL)"
    )
    con.execute(
        f"INSERT INTO {TABLE} VALUES ($system, $id, $host, $at)",
        {
            "system": source.system,
            "id": source.source_id,
            "host": source.host,
            "at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        },
    )


def check(path: str | Path, sources: list[Source], connect) -> None:
    """Read-only, before a run fetches anything: raise SourceMismatch (one line) when the warehouse at
    `path` holds another source's data. `connect(path, read_only=True)` opens it under its lock."""
    if not Path(path).exists():
        return
    con = connect(path, read_only=True)
    try:
        for source in sources:
            refusal = problem(con, source, path)
            if refusal is not None:
                raise refusal
    finally:
        con.close()


def read(path: str | Path, connect) -> dict[str, Source]:
    """The sources recorded in the warehouse at `path` (empty when it has none or does not exist)."""
    if not Path(path).exists():
        return {}
    con = connect(path, read_only=True)
    try:
        return recorded(con)
    finally:
        con.close()
