"""The dbt manifest is parsed only when it is not current: its stamp (orchestration/dbt_project.py) records
the dbt project's files, dbt's versions and the warehouse's name; file times play no part, so a checkout that
rewrites every file leaves it current, and an edit, an upgrade or a failed parse is never taken for current."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from orchestration import dbt_project as dp
from orchestration.settings import DBT_PROJECT_DIR, Settings

pytestmark = pytest.mark.slow  # real `dbt parse` runs (~5 s each)

MODEL = Path("models") / "staging" / "linear" / "stg_linear__teams.sql"


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A copy of the dbt project as a clone has it (no target/, logs/ or packages)."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".*"))
    return copy


def project_of(checkout: Path, tmp_path: Path, warehouse: str = "warehouse.duckdb"):
    """The project for a warehouse `tmp_path/warehouse`, its manifest in `tmp_path/target`."""
    env = {"WAREHOUSE_PATH": str(tmp_path / warehouse), "DBT_TARGET_PATH": str(tmp_path / "target")}
    return dp.dbt_project(Settings.from_env(env), project_dir=checkout)


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """Every `dbt parse` the preparer starts (the real one runs)."""
    started: list[str] = []
    real = dp.dbt_parse

    def counted(project, out_dir, *args, **kwargs):
        started.append(str(project.project_dir))
        return real(project, out_dir, *args, **kwargs)

    monkeypatch.setattr(dp, "dbt_parse", counted)
    return started


def test_an_untouched_checkout_with_newer_file_times_is_not_parsed_again(checkout, tmp_path, parses):
    project = dp.prepare(project_of(checkout, tmp_path))
    assert len(parses) == 1 and dp.stamp_path(project.manifest_path).exists()
    later = time.time() + 3600  # what a checkout or a copy does to every file: times after the manifest's
    for root, _dirs, files in os.walk(checkout):
        for name in files:
            os.utime(Path(root, name), (later, later))
    assert not dp.manifest_is_stale(project)
    dp.prepare(project_of(checkout, tmp_path))
    assert len(parses) == 1


def test_an_edited_model_is_parsed_again(checkout, tmp_path, parses):
    project = dp.prepare(project_of(checkout, tmp_path))
    model = checkout / MODEL
    model.write_text(model.read_text() + "\n-- edited\n")
    assert dp.manifest_is_stale(project)
    dp.prepare(project)
    assert len(parses) == 2 and not dp.manifest_is_stale(project)
    node = json.loads(project.manifest_path.read_text())["nodes"]["model.hours_warehouse.stg_linear__teams"]
    assert "-- edited" in node["raw_code"]


def test_another_dbt_version_or_warehouse_name_is_parsed_again(checkout, tmp_path, parses, monkeypatch):
    project = dp.prepare(project_of(checkout, tmp_path))
    # the same warehouse name elsewhere: relations named alike, the manifest is the same
    assert not dp.manifest_is_stale(project_of(checkout, tmp_path, "elsewhere/warehouse.duckdb"))
    assert dp.manifest_is_stale(project_of(checkout, tmp_path, "acme.duckdb"))  # the relations name "acme"
    real = dp.package_version
    monkeypatch.setattr(dp, "package_version", lambda name: "9.9.9" if name == "dbt-duckdb" else real(name))
    assert dp.manifest_is_stale(project)
    dp.prepare(project)
    assert len(parses) == 2
    assert json.loads(dp.stamp_path(project.manifest_path).read_text())["packages"]["dbt-duckdb"] == "9.9.9"


def test_a_failed_parse_leaves_no_stamp(checkout, tmp_path, parses):
    project = dp.prepare(project_of(checkout, tmp_path))
    model = checkout / MODEL
    good = model.read_text()
    model.write_text(good + "\n{{ ref( }}\n")  # a model dbt cannot parse
    with pytest.raises(RuntimeError, match="dbt parse failed"):
        dp.prepare(project)
    assert not dp.stamp_path(project.manifest_path).exists()
    model.write_text(good)  # back as it was when the manifest (still there) was parsed: still not current
    assert project.manifest_path.exists() and dp.manifest_is_stale(project)
    dp.prepare(project)
    assert len(parses) == 3 and not dp.manifest_is_stale(project)


@pytest.mark.parametrize("name", ["warehouse.duckdb", "acme.duckdb"])  # the demo's name, and another
def test_warehouse_prepare_leaves_a_first_sync_and_the_demo_nothing_to_prepare(
    tmp_path, monkeypatch, parses, capsys, name
):
    """`make install` runs `warehouse prepare`: the manifest parsed for the settings' warehouse (the demo's
    build directory seeded too), both run histories' storage created; then nothing is left to do."""
    from orchestration import cli  # noqa: PLC0415 - the CLI as `make install` runs it
    from orchestration.definitions import build_definitions  # noqa: PLC0415 - what a sync prepares first

    for variable, value in {
        "WAREHOUSE_PATH": tmp_path / "data" / name,
        "DAGSTER_HOME": tmp_path / "home",
        "WAREHOUSE_DEMO_DIR": tmp_path / "demo",
        "DBT_TARGET_PATH": tmp_path / "target",
    }.items():
        monkeypatch.setenv(variable, str(value))
    assert cli.main(["prepare"]) == 0
    settings = Settings.load()
    assert not dp.manifest_is_stale(dp.dbt_project(settings))  # the settings' own warehouse's manifest
    for prepared in (settings, settings.demo()):
        project = dp.dbt_project(prepared)
        assert (dp.build_target_path(project, prepared.warehouse_path) / dp.PARTIAL_PARSE_FILE).exists()
        history = prepared.dagster_home / "history"
        assert (history / "runs.db").exists() and (history / "runs" / "index.db").exists()
        assert not prepared.warehouse_path.exists()  # nothing of a warehouse is written
    assert len(parses) == 2
    capsys.readouterr()
    assert cli.main(["prepare"]) == 0
    assert len(parses) == 2 and capsys.readouterr().out.count("dbt manifest ready") == 2
    build_definitions(settings)  # what a first `warehouse sync` does before its first asset
    assert len(parses) == 2
