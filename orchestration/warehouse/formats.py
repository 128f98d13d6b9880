"""What the published marts file is written as, for BI readers (used by orchestration.warehouse.publish).

- **Storage version.** DuckDB 2.0 writes its own storage format by default, which no DuckDB 1.x opens
  ("Trying to read a database file with version number 999"). The published file is therefore attached
  with an explicit `STORAGE_VERSION`, by default `v1.0.0`: the oldest format DuckDB 2.0 writes (it maps
  every older request, v0.9 .. v1.1, to the same format, tagged `v1.0.0+`), read by every DuckDB since 1.0.
  It holds every type the marts use (VARCHAR, VARCHAR[], BIGINT, INTEGER, DOUBLE, BOOLEAN, DATE,
  TIMESTAMP); a type it cannot hold (e.g. VARIANT, v1.5.0+) makes the publish fail with a message naming
  `MARTS_STORAGE_VERSION`, and the previous published file stays.
- **Comments.** dbt writes the yml descriptions onto the warehouse's marts (`persist_docs`); `CREATE TABLE
  AS` does not carry comments, so they are copied onto the published tables and columns.
- **Parquet.** Optionally each publish also writes one Parquet file per mart plus `_manifest.json` (row
  counts, schema with comments, publish time) into a new directory; `MARTS_PARQUET_DIR` is a symlink that
  is then replaced atomically (`os.replace`) to point at it: a reader resolving the path gets one whole
  publish, old or new. The previous directory is kept (a reader may still be reading it), older ones removed.

Nothing here reads the environment: callers pass the settings (orchestration.settings reads them).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

import duckdb

from orchestration.settings import MARTS_STORAGE_VERSION_PATTERN

log = logging.getLogger(__name__)

DEFAULT_STORAGE_VERSION = "v1.0.0"
MANIFEST_FILE = "_manifest.json"
STALE_STAGING_AGE_SECONDS = 6 * 3600


class PublishFormatError(RuntimeError):
    """The marts cannot be written in the requested form; the message names the setting to change."""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def storage_version_option(version: str | None) -> str:
    """The `STORAGE_VERSION '<v>'` ATTACH option for `version` (None: the default), validated."""
    version = (version or DEFAULT_STORAGE_VERSION).strip()
    if not MARTS_STORAGE_VERSION_PATTERN.fullmatch(version):  # the setting's own rule
        raise PublishFormatError(
            f"MARTS_STORAGE_VERSION={version!r} is not a DuckDB version: set it like {DEFAULT_STORAGE_VERSION} "
            "(the default, read by DuckDB 1.0 and later) or latest."
        )
    return f"STORAGE_VERSION {_literal(version)}"


def explain_storage_error(error: duckdb.Error, version: str | None) -> PublishFormatError | None:
    """A one-line PublishFormatError for DuckDB's storage-version errors (None for any other error)."""
    message = str(error)
    version = version or DEFAULT_STORAGE_VERSION
    if "not a known DuckDB version" in message:
        return PublishFormatError(
            f"MARTS_STORAGE_VERSION={version!r} is unknown to DuckDB {duckdb.__version__}: set it to a released "
            f"version such as {DEFAULT_STORAGE_VERSION} (the default) or latest."
        )
    if "storage version" in message.lower() and "not supported" in message.lower():
        first = message.splitlines()[0]
        return PublishFormatError(
            f"A mart cannot be stored in DuckDB storage version {version} ({first}): raise MARTS_STORAGE_VERSION "
            "to the version the message names (older DuckDB readers then cannot open the file), or change the "
            "mart's column type. The previous published marts are kept."
        )
    return None


def copy_comments(
    con: duckdb.DuckDBPyConnection,
    source_catalog: str,
    source_schema: str,
    target: str,
    names: list[str],
) -> int:
    """Copy table/view and column comments of `source_catalog.source_schema.<name>` onto `<target>.<name>`.

    `target` is a quoted `catalog.schema` prefix. Returns the number of comments written.
    """
    where = "database_name = $catalog AND schema_name = $schema AND comment IS NOT NULL AND comment <> ''"
    params = {"catalog": source_catalog, "schema": source_schema}
    relations = con.execute(
        f"SELECT table_name, comment FROM duckdb_tables() WHERE {where} "
        f"UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE {where}",
        params,
    ).fetchall()
    columns = con.execute(
        f"SELECT table_name, column_name, comment FROM duckdb_columns() WHERE {where} "
        "ORDER BY table_name, column_index",
        params,
    ).fetchall()
    wanted = set(names)
    written = 0
    for table, comment in relations:
        if table in wanted:
            con.execute(f"COMMENT ON TABLE {target}.{_quote(table)} IS {_literal(comment)}")
            written += 1
    for table, column, comment in columns:
        if table in wanted:
            con.execute(f"COMMENT ON COLUMN {target}.{_quote(table)}.{_quote(column)} IS {_literal(comment)}")
            written += 1
    return written


PUBLISHED_TABLE_COMMENTS = {
    None: "One row per published table: when this file was published and each table's row count.",
    "published_at": "When this file was published (UTC).",
    "source_path": "The warehouse file the marts were copied from.",
    "table_name": "A table of this file.",
    "row_count": "Its number of rows.",
}


def comment_published_table(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Comments on the `_published` table (`relation`, quoted and qualified) and its columns."""
    for column, comment in PUBLISHED_TABLE_COMMENTS.items():
        if column is None:
            con.execute(f"COMMENT ON TABLE {relation} IS {_literal(comment)}")
        else:
            con.execute(f"COMMENT ON COLUMN {relation}.{_quote(column)} IS {_literal(comment)}")


def describe(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, names: list[str]) -> dict[str, dict]:
    """Per table: its comment and its columns (name, DuckDB type, comment), in column order."""
    out: dict[str, dict] = {name: {"comment": None, "columns": []} for name in names}
    params = {"catalog": catalog, "schema": schema}
    for table, comment in con.execute(
        "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = $catalog AND schema_name = $schema",
        params,
    ).fetchall():
        if table in out:
            out[table]["comment"] = comment or None
    for table, column, data_type, comment in con.execute(
        "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = $catalog AND schema_name = $schema ORDER BY table_name, column_index",
        params,
    ).fetchall():
        if table in out:
            out[table]["columns"].append({"name": column, "type": data_type, "comment": comment or None})
    return out


# ------------------------------------------------------------------------------------------ Parquet


def _staging_prefix(link: Path) -> str:
    return f".{link.name}.tmp-"


def _version_prefix(link: Path) -> str:
    return f"{link.name}.v"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_staging(link: Path) -> None:
    """Staging directories of publishes that died (their pid is gone, or very old)."""
    prefix = _staging_prefix(link)
    for path in link.parent.glob(prefix + "*"):
        pid_text = path.name[len(prefix) :].split("-", 1)[0]
        pid = int(pid_text) if pid_text.isdigit() else -1
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if pid > 0 and _pid_alive(pid) and age < STALE_STAGING_AGE_SECONDS:
            continue
        shutil.rmtree(path, ignore_errors=True)


def write_parquet(
    published_file: Path,
    catalog_schema: str,
    names: list[str],
    parquet_dir: Path,
    published_at: dt.datetime,
    source_path: Path,
    published_as: Path,
) -> Path:
    """Write each table of `published_file` to `<name>.parquet` plus _manifest.json in a new directory
    beside `parquet_dir` (not yet visible there). Returns that directory, for `install_parquet`.

    `published_file` is the new DuckDB file (still a temp file), `published_as` the path it is published at."""
    link = Path(parquet_dir)
    link.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_staging(link)
    staging = link.parent / f"{_staging_prefix(link)}{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"ATTACH {_literal(str(published_file))} AS parquet_src (READ_ONLY)")
            schema = catalog_schema
            described = describe(con, "parquet_src", schema, names)
            marts = {}
            for name in names:
                file_name = f"{name}.parquet"
                con.execute(
                    f"COPY (SELECT * FROM parquet_src.{_quote(schema)}.{_quote(name)}) "
                    f"TO {_literal(str(staging / file_name))} (FORMAT parquet)"  # snappy: what every engine reads
                )
                (rows,) = con.execute(
                    f"SELECT count(*) FROM read_parquet({_literal(str(staging / file_name))})"
                ).fetchone()
                marts[name] = {"file": file_name, "rows": int(rows), **described[name]}
        finally:
            con.close()
        manifest = {
            "published_at": published_at.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z"),
            "source_path": str(source_path),
            "duckdb_file": str(published_as),
            "marts": marts,
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for path in staging.iterdir():
            fsync(path)
        version = link.parent / f"{_version_prefix(link)}{published_at:%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}"
        os.rename(staging, version)  # complete: from now on it is a version, never removed as stale staging
        return version
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def check_parquet_dir(parquet_dir: Path) -> None:
    """Fail before anything is written when `parquet_dir` is something publish must not replace."""
    link = Path(parquet_dir)
    if link.is_symlink() or not link.exists():
        return
    if link.is_dir() and not any(link.iterdir()):
        return  # an empty directory someone made for us: it becomes the link
    raise PublishFormatError(
        f"MARTS_PARQUET_DIR={link} is an existing {'directory' if link.is_dir() else 'file'} that publish did not "
        "write: point MARTS_PARQUET_DIR at a new path (publish keeps a symlink there to the latest export)."
    )


def install_parquet(version: Path, parquet_dir: Path) -> Path:
    """Point the `parquet_dir` symlink at `version` atomically; remove versions older than the previous one."""
    link = Path(parquet_dir)
    check_parquet_dir(link)
    if link.is_dir() and not link.is_symlink():
        link.rmdir()  # empty (checked above)
    previous = Path(os.readlink(link)).name if link.is_symlink() else None
    tmp_link = link.parent / f".{link.name}.link-{os.getpid()}-{secrets.token_hex(4)}"
    os.symlink(version.name, tmp_link)  # relative: the link and its versions move together
    try:
        os.replace(tmp_link, link)
    except BaseException:
        tmp_link.unlink(missing_ok=True)
        raise
    fsync(link.parent)
    keep = {version.name, previous}
    prefix = _version_prefix(link)
    for path in sorted(link.parent.glob(prefix + "*")):
        # Only versions older than the one installed now: a newer one may be a concurrent publish's.
        if path.name not in keep and path.name < version.name:
            shutil.rmtree(path, ignore_errors=True)
    return link


def fsync(path: Path) -> None:
    """Flush a file or a directory (a rename is durable once its directory is); best effort where the OS can't."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
