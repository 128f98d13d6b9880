"""The published marts open in every DuckDB reader: DuckDB 1.4 and 1.0 read them through SQLAlchemy's
duckdb-engine (the path Superset and most Python BI tools take), every mart equal to what DuckDB 2.0 reads,
with the dbt descriptions as table and column comments. The warehouse itself stays on DuckDB 2.0's format.

The 1.x clients live in their own environments (one environment holds one duckdb), built and cached by
`make readers` (a prerequisite of `make test`; built here too when missing). The same-sync check (a 1.x
reader during a `warehouse sync`) is in tests/test_concurrency.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.warehouse.publish import publish_marts
from tests.readers.read_marts import TYPES_SQL, duckdb_runner, snapshot
from tests.test_dbt_harness import built_warehouse

REPO = Path(__file__).resolve().parent.parent
READ_MARTS = REPO / "tests" / "readers" / "read_marts.py"
READER_ENVS = {"1.4": REPO / ".venv-duckdb1", "1.0": REPO / ".venv-duckdb10"}
MODEL_YML_DIRS = [REPO / "dbt_project" / "models" / "marts", REPO / "dbt_project" / "models" / "semantic"]


def ensure_reader_envs() -> dict[str, Path]:
    """version -> python of the DuckDB 1.x reader environments (`make readers`, cached by stamp files)."""
    if not all((env / ".installed").exists() for env in READER_ENVS.values()):
        proc = subprocess.run(["make", "-s", "readers"], cwd=REPO, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"make readers failed:\n{proc.stdout}\n{proc.stderr}"
    return {version: env / "bin" / "python" for version, env in READER_ENVS.items()}


@pytest.fixture(scope="session")
def readers() -> dict[str, Path]:
    return ensure_reader_envs()


def read_with(python: Path, *args: str, timeout: float = 180) -> dict:
    proc = subprocess.run([str(python), str(READ_MARTS), *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def duckdb2_view(path: Path) -> dict:
    """What read_marts.py's `dump` reports, read here with DuckDB 2.0 (comments from DuckDB's catalog)."""
    with duckdb.connect(str(path), read_only=True) as con:
        comments = dict(
            con.execute(
                "SELECT table_name, comment FROM duckdb_tables() "
                "WHERE database_name = current_database() AND schema_name = 'main'"
            ).fetchall()
        )
        column_comments = {
            (t, c): comment
            for t, c, comment in con.execute(
                "SELECT table_name, column_name, comment FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = 'main'"
            ).fetchall()
        }
        columns: dict[str, list] = {}
        for table, column, data_type in con.execute(TYPES_SQL).fetchall():
            columns.setdefault(table, []).append([column, data_type, column_comments[(table, column)]])
        digests = snapshot(duckdb_runner(con))
    return {t: {"comment": comments[t], "columns": columns[t], "digest": digests[t]} for t in digests}


def storage_version(path: Path) -> str:
    with duckdb.connect(":memory:") as con:
        con.execute(f"ATTACH '{path}' AS f (READ_ONLY)")
        (tags,) = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = 'f'").fetchone()
    return tags["storage_version"]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The marts of a real `dbt build` of sandbox data, published with the default settings."""
    built = built_warehouse()
    assert built.build.returncode == 0, built.build.output[-3000:]
    result = publish_marts(built.path, tmp_path_factory.mktemp("bi") / "marts.duckdb")
    return built, result


def test_duckdb_1x_through_duckdb_engine_reads_every_mart_as_duckdb_2_does(published, readers):
    _, result = published
    expected = duckdb2_view(result.path)
    assert set(expected) == set(result.tables) | {"_published"}
    assert all(expected[t]["digest"].startswith(f"{n}:") for t, n in result.tables.items())
    for version, python in readers.items():
        got = read_with(python, "dump", str(result.path))
        assert got["duckdb"].startswith(version), got["duckdb"]
        # Every mart: same columns, DuckDB types, comments (as SQLAlchemy's inspector reports them) and rows.
        assert got["tables"] == expected, version


def test_published_file_is_v1_storage_while_the_warehouse_stays_on_the_newest(published, readers):
    built, result = published
    assert storage_version(result.path) == "v1.0.0+"  # the default MARTS_STORAGE_VERSION, v1.0.0
    assert storage_version(built.path) == f"v{duckdb.__version__.rsplit('.', 1)[0]}.0+"  # e.g. v2.0.0+
    # Why the setting matters: DuckDB 1.4 cannot open the warehouse (the format DuckDB 2.0 writes by default).
    proc = subprocess.run(
        [str(readers["1.4"]), "-c", f"import duckdb; duckdb.connect({str(built.path)!r}, read_only=True)"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "version number" in proc.stderr, proc.stderr[-500:]


def test_storage_version_latest_is_for_duckdb_2_readers_only(published, readers, tmp_path):
    built, _ = published
    latest = publish_marts(built.path, tmp_path / "latest.duckdb", storage_version="latest")
    assert storage_version(latest.path).startswith("v2.")
    proc = subprocess.run(
        [str(readers["1.4"]), str(READ_MARTS), "dump", str(latest.path)], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "version number" in proc.stderr


def dbt_descriptions() -> dict[str, tuple[str, dict[str, str]]]:
    """model -> (description, column -> description) from the marts' yml files."""
    out = {}
    for directory in MODEL_YML_DIRS:
        for path in sorted(directory.glob("*.yml")):
            for model in yaml.safe_load(path.read_text()).get("models", []):
                columns = {c["name"]: c.get("description", "") for c in model.get("columns", [])}
                out[model["name"]] = (model.get("description", ""), columns)
    return out


def test_table_and_column_comments_are_the_dbt_descriptions(published):
    _, result = published
    view = duckdb2_view(result.path)
    descriptions = dbt_descriptions()
    assert set(result.tables) <= set(descriptions)
    for table in result.tables:
        description, columns = descriptions[table]
        assert view[table]["comment"].strip() == description.strip(), table
        published_columns = [name for name, _, _ in view[table]["columns"]]
        assert set(published_columns) == set(columns), (table, "every column has a yml description")
        for name, _, comment in view[table]["columns"]:
            assert (comment or "").strip() == columns[name].strip() != "", (table, name)
    # ... and the bookkeeping table publish adds explains itself too.
    assert view["_published"]["comment"] and all(comment for _, _, comment in view["_published"]["columns"])
