"""What publish writes for BI readers (orchestration/warehouse/formats.py): the storage version setting,
comments, and the Parquet export (content, manifest, atomic swaps under concurrent readers, cleanup)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import ConfigError, Settings
from orchestration.warehouse.formats import MANIFEST_FILE, PublishFormatError
from orchestration.warehouse.publish import publish_marts
from tests.test_publish import read_published, temp_files, write_warehouse

MARTS = ["big_entries", "entries", "late", "totals"]


def storage_version(path: Path) -> str:
    with duckdb.connect(":memory:") as con:
        con.execute(f"ATTACH '{path}' AS f (READ_ONLY)")
        (tags,) = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = 'f'").fetchone()
    return tags["storage_version"]


# ------------------------------------------------------------------------------------ storage version


def test_storage_version_default_and_setting(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 1)
    assert storage_version(publish_marts(warehouse).path) == "v1.0.0+"
    assert storage_version(publish_marts(warehouse, tmp_path / "v14.duckdb", storage_version="v1.4.0").path) == (
        "v1.4.0+"
    )
    assert storage_version(publish_marts(warehouse, tmp_path / "new.duckdb", storage_version="latest").path) == (
        f"v{duckdb.__version__.rsplit('.', 1)[0]}.0+"
    )


def test_the_settings_are_read_and_checked_in_one_place(tmp_path):
    base = {"WAREHOUSE_PATH": str(tmp_path / "w" / "warehouse.duckdb")}
    default = Settings.from_env(base)
    assert default.marts_storage_version is None  # publish's default, v1.0.0
    assert default.marts_parquet_dir is None
    assert Settings.from_env({**base, "MARTS_STORAGE_VERSION": " v1.4.0 "}).marts_storage_version == "v1.4.0"
    assert Settings.from_env({**base, "MARTS_STORAGE_VERSION": "latest"}).marts_storage_version == "latest"
    with pytest.raises(ConfigError, match=r"MARTS_STORAGE_VERSION='1.0' is not a DuckDB version.*v1\.0\.0") as caught:
        Settings.from_env({**base, "MARTS_STORAGE_VERSION": "1.0"})
    assert "\n" not in str(caught.value)
    assert Settings.from_env({**base, "MARTS_PARQUET_DIR": " "}).marts_parquet_dir is None
    # Relative: from the warehouse's directory (like MARTS_PATH); absolute as given.
    relative = Settings.from_env({**base, "MARTS_PARQUET_DIR": "exports/parquet"}).marts_parquet_dir
    assert relative == tmp_path / "w" / "exports" / "parquet"
    absolute = Settings.from_env({**base, "MARTS_PARQUET_DIR": str(tmp_path / "p")}).marts_parquet_dir
    assert absolute == tmp_path / "p"


def test_the_parquet_dir_setting_is_not_resolved_through_its_own_symlink(tmp_path):
    """The directory is the symlink publish replaces: the setting names the link, never where it points."""
    (tmp_path / "parquet.v1").mkdir()
    (tmp_path / "parquet").symlink_to("parquet.v1")
    got = Settings.from_env({"WAREHOUSE_PATH": str(tmp_path / "w.duckdb"), "MARTS_PARQUET_DIR": "parquet"})
    assert got.marts_parquet_dir == tmp_path / "parquet"


def test_warehouse_sync_refuses_a_malformed_storage_version_before_writing(pipeline_env, monkeypatch, capsys, tmp_path):
    from orchestration import cli

    monkeypatch.setenv("MARTS_STORAGE_VERSION", "newest")
    day = "2024-06-20"
    assert cli.main(["sync", "--start", day, "--end", day]) != 0
    out = capsys.readouterr().out
    assert out.startswith("error: MARTS_STORAGE_VERSION='newest' is not a DuckDB version") and out.count("\n") == 1
    assert sum(pipeline_env.request_counts().values()) == 0  # refused before any request
    assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.parametrize(
    "version, message",
    [
        ("v1.0'; DROP TABLE x; --", "is not a DuckDB version"),  # never reaches the SQL
        ("v9.9.9", "is unknown to DuckDB"),
    ],
)
def test_a_bad_storage_version_fails_in_one_line_and_keeps_the_published_file(tmp_path, version, message):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 1)
    publish_marts(warehouse)
    write_warehouse(warehouse, 2)
    with pytest.raises(PublishFormatError, match=message) as caught:
        publish_marts(warehouse, storage_version=version)
    assert "MARTS_STORAGE_VERSION" in str(caught.value) and "\n" not in str(caught.value)
    assert read_published(tmp_path / "marts.duckdb")["version"] == 1
    assert temp_files(tmp_path) == []


def test_a_type_the_storage_version_cannot_hold_names_the_setting_and_keeps_the_old_marts(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 1)
    publish_marts(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE marts.variants AS SELECT 1::VARIANT AS v")  # needs storage v1.5.0+
    with pytest.raises(PublishFormatError, match=r"v1\.0\.0.*raise MARTS_STORAGE_VERSION.*previous published marts"):
        publish_marts(warehouse)
    assert read_published(tmp_path / "marts.duckdb")["tables"] == {*MARTS, "_published"}
    assert temp_files(tmp_path) == []
    assert "variants" in publish_marts(warehouse, storage_version="v1.5.0").tables


def test_comments_of_the_warehouse_marts_are_copied_and_quotes_survive(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 1)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("COMMENT ON TABLE marts.entries IS 'Entries; it''s $$ \"quoted\"'")
        con.execute("COMMENT ON COLUMN marts.entries.hours IS 'Hours of the entry.'")
        con.execute("COMMENT ON VIEW marts.big_entries IS 'Entries from id 50.'")
        con.execute("COMMENT ON TABLE raw.not_published IS 'not copied'")
    path = publish_marts(warehouse).path
    with duckdb.connect(str(path), read_only=True) as con:
        tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        columns = {
            (t, c): comment
            for t, c, comment in con.execute("SELECT table_name, column_name, comment FROM duckdb_columns()").fetchall()
        }
    assert tables["entries"] == 'Entries; it\'s $$ "quoted"'
    assert tables["big_entries"] == "Entries from id 50."  # a view, published as a table, keeps its comment
    assert tables["totals"] is None
    assert columns[("entries", "hours")] == "Hours of the entry." and columns[("entries", "version")] is None


# -------------------------------------------------------------------------------------------- Parquet


def read_export(directory: Path) -> dict:
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    with duckdb.connect(":memory:") as con:
        files = {
            name: con.execute(f"SELECT * FROM read_parquet('{directory / info['file']}') ORDER BY ALL").fetchall()
            for name, info in manifest["marts"].items()
        }
    return {"manifest": manifest, "files": files}


def published_rows(path: Path) -> dict[str, list]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {name: con.execute(f'SELECT * FROM main."{name}" ORDER BY ALL').fetchall() for name in MARTS}


def test_parquet_export_is_the_published_marts_with_a_manifest(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 3)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("COMMENT ON COLUMN marts.totals.total_hours IS 'Sum of the hours.'")
    result = publish_marts(warehouse, parquet_dir="parquet")  # relative: beside the warehouse

    link = tmp_path / "parquet"
    assert result.parquet_dir == link and link.is_symlink()
    export = read_export(link)
    assert export["files"] == published_rows(result.path)
    manifest = export["manifest"]
    assert sorted(manifest["marts"]) == MARTS
    assert {n: m["rows"] for n, m in manifest["marts"].items()} == result.tables
    assert manifest["published_at"] == result.published_at.isoformat() + "Z"
    assert manifest["duckdb_file"] == str(result.path) and manifest["source_path"] == str(warehouse)
    totals = manifest["marts"]["totals"]["columns"]
    assert [(c["name"], c["type"]) for c in totals] == [
        ("version", "INTEGER"),
        ("entry_count", "INTEGER"),
        ("total_hours", "DOUBLE"),
    ]
    assert totals[2]["comment"] == "Sum of the hours." and totals[0]["comment"] is None
    assert sorted(p.name for p in link.iterdir()) == sorted([MANIFEST_FILE, *(f"{m}.parquet" for m in MARTS)])


def test_each_publish_swaps_the_export_keeping_the_previous_one(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    link = tmp_path / "parquet"
    versions = []
    for version in (1, 2, 3):
        write_warehouse(warehouse, version)
        publish_marts(warehouse, parquet_dir=link)
        versions.append(os.readlink(link))
        assert read_export(link)["files"]["totals"][0][0] == version
    assert len(set(versions)) == 3
    siblings = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("parquet"))
    # The current export and the one before it (a reader may still be reading it); older ones are removed.
    assert siblings == sorted(["parquet", versions[1], versions[2]])
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".link-" in p.name]


def test_an_existing_directory_publish_did_not_write_is_refused_before_anything_changes(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 1)
    publish_marts(warehouse)
    write_warehouse(warehouse, 2)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(PublishFormatError, match="MARTS_PARQUET_DIR=.*did not write.*new path"):
        publish_marts(warehouse, parquet_dir=mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    assert read_published(tmp_path / "marts.duckdb")["version"] == 1  # the DuckDB file was not replaced either
    empty = tmp_path / "empty"
    empty.mkdir()
    publish_marts(warehouse, parquet_dir=empty)  # an empty directory made for us becomes the link
    assert empty.is_symlink() and read_export(empty)["files"]["totals"][0][0] == 2


def test_a_crashed_export_leaves_no_staging_behind(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".parquet.tmp-{int(dead.stdout)}-abcd"
    stale.mkdir()
    (stale / "entries.parquet").write_bytes(b"half")
    live = tmp_path / f".parquet.tmp-{os.getppid()}-beef"  # a running process: maybe exporting right now
    live.mkdir()
    publish_marts(warehouse, parquet_dir=tmp_path / "parquet")
    assert not stale.exists() and live.exists()


def test_readers_of_the_export_see_whole_publishes_while_it_is_replaced(tmp_path):
    """Readers resolving the link once read one publish's files, matching its manifest, never an error."""
    warehouse = tmp_path / "warehouse.duckdb"
    link = tmp_path / "parquet"
    write_warehouse(warehouse, 1)
    publish_marts(warehouse, parquet_dir=link)
    stop, errors, bad, seen = threading.Event(), [], [], set()

    def reader():
        con = duckdb.connect(":memory:")
        while not stop.is_set():
            try:
                directory = Path(os.path.realpath(link))  # one publish, whatever replaces the link meanwhile
                manifest = json.loads((directory / MANIFEST_FILE).read_text())
                (count,) = con.execute(
                    f"SELECT count(*) FROM read_parquet('{directory / 'entries.parquet'}')"
                ).fetchone()
                version, entry_count = con.execute(
                    f"SELECT version, entry_count FROM read_parquet('{directory / 'totals.parquet'}')"
                ).fetchone()
                if not (count == entry_count == manifest["marts"]["entries"]["rows"] == 100 + version):
                    bad.append((count, entry_count, version))
                seen.add(version)
            except Exception as error:
                errors.append(repr(error))
        con.close()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for version in range(2, 7):
            write_warehouse(warehouse, version)
            publish_marts(warehouse, parquet_dir=link)
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == [] and bad == []
    assert len(seen) >= 3, seen
    assert read_export(link)["files"]["totals"][0][0] == 6


def test_the_dagster_asset_publishes_with_the_settings(tmp_path):
    """Settings -> the warehouse resource (build_resources) -> the published_marts asset -> publish_marts."""
    from dagster import AssetSpec, materialize, multi_asset

    from assets.publish import build_published_marts
    from orchestration.resources import build_resources

    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(warehouse, 4)

    @multi_asset(specs=[AssetSpec(["marts", name]) for name in MARTS])
    def fake_dbt_marts():  # only its keys matter: published_marts depends on every marts/ key
        raise AssertionError("not materialized here")

    settings = Settings.from_env(
        {"WAREHOUSE_PATH": str(warehouse), "MARTS_PARQUET_DIR": "bi/parquet", "MARTS_STORAGE_VERSION": "v1.4.0"}
    )
    published_marts = build_published_marts(fake_dbt_marts)
    result = materialize([published_marts], resources={"warehouse": build_resources(settings)["warehouse"]})
    assert result.success
    assert storage_version(tmp_path / "marts.duckdb") == "v1.4.0+"
    assert read_export(tmp_path / "bi" / "parquet")["files"]["totals"][0][0] == 4
    (materialization,) = result.asset_materializations_for_node("marts__published_marts")
    assert materialization.metadata["parquet_dir"].path == str(tmp_path / "bi" / "parquet")
