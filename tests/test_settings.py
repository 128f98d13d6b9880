"""Settings helpers: the project-local DAGSTER_HOME follows the project's dagster.yaml."""

from __future__ import annotations

from orchestration import settings


def test_dagster_home_config_is_created_and_kept_in_step(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    wanted = (settings.PROJECT_ROOT / "dagster.yaml").read_text()

    assert settings.ensure_dagster_home() == home
    assert (home / "dagster.yaml").read_text() == wanted

    # A home made by an older checkout (op-level pools) gets the current settings.
    (home / "dagster.yaml").write_text("concurrency:\n  pools:\n    granularity: op\n")
    settings.ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == wanted


def test_relative_warehouse_path_is_made_absolute_from_the_project_root(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_PATH", "data/x.duckdb")
    path = settings.warehouse_path()
    assert path == settings.PROJECT_ROOT / "data" / "x.duckdb"
    import os

    assert os.environ["WAREHOUSE_PATH"] == str(path)  # dbt's profile reads the same absolute path
