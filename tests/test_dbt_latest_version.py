"""The `latest_version` macro every Linear staging model reads through (rendered with Jinja, run in DuckDB),
and that each of them does use it."""

from pathlib import Path

import duckdb
import jinja2
import pytest

DBT = Path(__file__).resolve().parents[1] / "dbt_project"

VERSIONS = [  # id, updated_at, loaded_at, partition_date, label
    ("a", "2024-01-02", "2024-01-05", "2024-01-02", "a newest update"),
    ("a", "2024-01-01", "2024-01-09", "2024-01-01", "a older update loaded later"),  # a backfill never wins
    ("b", "2024-01-01", "2024-01-03", "2024-01-01", "b first load"),
    ("b", "2024-01-01", "2024-01-04", "2024-01-01", "b same update loaded later"),
    ("c", None, "2024-01-03", "2024-01-03", "c without updated_at"),
    ("c", "2024-01-01", "2024-01-02", "2024-01-01", "c with updated_at"),  # nulls last
    ("d", "2024-01-01", "2024-01-02", "2024-01-01", "d older partition"),
    ("d", "2024-01-01", "2024-01-02", "2024-01-05", "d newer partition"),
]


def render(call: str) -> str:
    macro = (DBT / "macros" / "latest_version.sql").read_text()
    return jinja2.Environment().from_string(macro + "{{ " + call + " }}").render().strip()


def kept(call: str) -> dict[str, str]:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE renamed (id VARCHAR, updated_at TIMESTAMP, loaded_at TIMESTAMP, partition_date DATE, label VARCHAR)"
    )
    con.executemany("INSERT INTO renamed VALUES (?, ?, ?, ?, ?)", VERSIONS)
    return dict(con.execute(f"SELECT id, label FROM ({render(call)}) ORDER BY id").fetchall())


def test_the_newest_update_wins_then_the_latest_load():
    got = kept("latest_version('renamed', 'id')")
    assert got["a"] == "a newest update"
    assert got["b"] == "b same update loaded later"
    assert got["c"] == "c with updated_at"
    assert set(got) == {"a", "b", "c", "d"}  # one row per id


def test_then_by_breaks_the_remaining_ties():
    assert kept("latest_version('renamed', 'id', then_by=['partition_date desc'])")["d"] == "d newer partition"
    assert kept("latest_version('renamed', 'id', then_by=['partition_date asc'])")["d"] == "d older partition"


@pytest.mark.parametrize("model", sorted((DBT / "models" / "staging" / "linear").glob("stg_linear__*.sql")), ids=str)
def test_every_linear_staging_model_keeps_its_latest_version_through_the_macro(model):
    sql = model.read_text()
    assert "{{ latest_version('renamed', " in sql and "row_number()" not in sql
