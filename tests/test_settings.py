"""Settings: one typed object, read when an entry point asks; the project-local DAGSTER_HOME follows the
project's dagster.yaml."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from orchestration import settings
from orchestration.runs import prepare_dagster_home
from orchestration.settings import ConfigError, Settings


def test_dagster_home_config_is_created_and_kept_in_step(tmp_path):
    home = tmp_path / "home"
    wanted = (settings.PROJECT_ROOT / "dagster.yaml").read_text()

    assert prepare_dagster_home(home) == home
    assert (home / "dagster.yaml").read_text() == wanted

    # A home made by an older checkout (op-level pools) gets the current settings.
    (home / "dagster.yaml").write_text("concurrency:\n  pools:\n    granularity: op\n")
    prepare_dagster_home(home)
    assert (home / "dagster.yaml").read_text() == wanted


def test_relative_warehouse_path_is_made_absolute_from_the_project_root():
    before = dict(os.environ)
    path = Settings.from_env({"WAREHOUSE_PATH": "data/x.duckdb"}).warehouse_path
    assert path == settings.PROJECT_ROOT / "data" / "x.duckdb"
    assert dict(os.environ) == before  # nothing is exported: dbt gets the path as --vars (dbt_project.py)


def test_defaults_and_every_variable():
    s = Settings.from_env({})
    assert s.warehouse_path == settings.PROJECT_ROOT / "data" / "warehouse.duckdb"
    assert s.marts_path == s.warehouse_path.parent / "marts.duckdb"
    assert (s.start_date, s.resync_days) == (dt.date(2024, 1, 1), 7)
    assert (s.api.max_attempts, s.api.max_retry_seconds) == (8, 300.0)
    assert s.clockify.api_url == "https://api.clockify.me/api/v1" and s.clockify.api_key is None
    assert s.dbt_target_path == settings.DBT_PROJECT_DIR / "target" and s.dagster_home is None
    assert s.timezone == "UTC"
    s = Settings.from_env(
        {
            "WAREHOUSE_PATH": "/w/x.duckdb",
            "MARTS_PATH": "bi/m.duckdb",
            "WAREHOUSE_START_DATE": "2023-05-01",
            "WAREHOUSE_RESYNC_DAYS": "0",
            "API_MAX_ATTEMPTS": "3",
            "API_MAX_RETRY_SECONDS": "2.5",
            "CLOCKIFY_API_KEY": " k1 ",
            "CLOCKIFY_WORKSPACE_ID": "ws",
            "LINEAR_API_KEY": "k2",
            "CLOCKIFY_WRITEBACK": "yes",
            "LINEAR_TEAM_KEYS": "eng, ops,",
            "CLOCKIFY_WRITEBACK_MAX_WRITES": "3",
            "DBT_TARGET_PATH": "/t",
            "DAGSTER_HOME": "/h",
            "WAREHOUSE_TIMEZONE": "America/Los_Angeles",
        }
    )
    assert s.timezone == "America/Los_Angeles"
    assert s.marts_path == settings.Path("/w/bi/m.duckdb")
    assert (s.start_date, s.resync_days, s.api.max_attempts, s.api.max_retry_seconds) == (
        dt.date(2023, 5, 1),
        0,
        3,
        2.5,
    )
    assert s.clockify.api_key.get_secret_value() == "k1" and "k1" not in repr(s)  # masked in every repr
    assert (s.writeback.enabled, s.writeback.team_keys, s.writeback.max_writes) == (True, frozenset({"ENG", "OPS"}), 3)
    assert (str(s.dbt_target_path), str(s.dagster_home)) == ("/t", "/h")
    assert s.missing() == []


def test_missing_and_blank_required_settings_are_one_line_each():
    lines = Settings.from_env({"LINEAR_API_KEY": "  "}).missing()
    assert [line.split()[0] for line in lines] == ["CLOCKIFY_API_KEY", "CLOCKIFY_WORKSPACE_ID", "LINEAR_API_KEY"]
    assert all("is not set: set it to" in line and line.endswith("in the environment or in .env.") for line in lines)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WAREHOUSE_START_DATE", "01/01/2024", "WAREHOUSE_START_DATE='01/01/2024' is not a date"),
        ("API_MAX_ATTEMPTS", "2.5", "API_MAX_ATTEMPTS='2.5' must be a positive number of attempts"),
        ("API_MAX_RETRY_SECONDS", "-1", "API_MAX_RETRY_SECONDS='-1' must be a positive number of seconds"),
        ("WAREHOUSE_RESYNC_DAYS", "a week", "WAREHOUSE_RESYNC_DAYS='a week' must be a whole number of days"),
        ("CLOCKIFY_WRITEBACK", "maybe", "CLOCKIFY_WRITEBACK='maybe' must be 1"),
        ("WAREHOUSE_TIMEZONE", "+05:30", "WAREHOUSE_TIMEZONE='\\+05:30' is not an IANA time zone: set it to a name"),
        ("WAREHOUSE_TIMEZONE", "Mars/Base", "WAREHOUSE_TIMEZONE='Mars/Base' is not an IANA time zone"),
    ],
)
def test_malformed_values_name_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})


def test_dotenv_files_are_read_only_when_asked_and_never_into_os_environ(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("WAREHOUSE_START_DATE=2022-02-02\nCLOCKIFY_API_KEY=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    assert Settings.load().start_date == dt.date(2024, 1, 1)  # the tests switch .env off (WAREHOUSE_DOTENV=0)
    on = {**os.environ, "WAREHOUSE_DOTENV": "1"}
    loaded = Settings.load(on)
    assert loaded.start_date == dt.date(2022, 2, 2) and loaded.clockify.api_key.get_secret_value() == "from-dotenv"
    assert Settings.load({**on, "WAREHOUSE_START_DATE": "2021-01-01"}).start_date == dt.date(2021, 1, 1)  # env wins
    assert dict(os.environ) == before


def test_importing_the_code_location_reads_no_environment_nor_dotenv_and_runs_no_dbt(tmp_path):
    """`python -c "import orchestration.definitions"` with an empty environment and a .env with a bad value
    in the working directory: the import neither fails, nor reads a .env file, nor runs dbt."""
    (tmp_path / ".env").write_text("WAREHOUSE_START_DATE=not-a-date\n")
    code = """
import os, subprocess, dotenv

def trap(what):
    def refuse(*args, **kwargs):
        raise AssertionError(f"{what} at import")
    return refuse

class NoDbt(subprocess.Popen):  # Dagster itself runs `file` at import (platform.architecture)
    def __init__(self, args, *rest, **kwargs):
        if "dbt" in str(args):
            raise AssertionError(f"dbt was run at import: {args}")
        super().__init__(args, *rest, **kwargs)

subprocess.Popen = NoDbt
dotenv.dotenv_values = dotenv.load_dotenv = trap(".env was read")
import orchestration.definitions as d
assert callable(d.build_definitions) and callable(d.defs)
assert "WAREHOUSE_START_DATE" not in os.environ
print("imported")
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(settings.PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr[-3000:]


def test_the_test_session_reaches_no_real_file():
    """What a test sees when it sets nothing (tests/conftest.py): temporary files, no .env, no key."""
    from tests.conftest import SESSION_DIR

    loaded = Settings.load()
    for path in (loaded.warehouse_path, loaded.marts_path, loaded.dbt_target_path):
        assert SESSION_DIR in path.parents, path
    assert loaded.clockify.api_key is None and loaded.linear.api_key is None and loaded.dagster_home is None
    assert os.environ["WAREHOUSE_DOTENV"] == "0"


def test_the_warehouse_timezone_reaches_the_warehouse_resource_and_dbt():
    from orchestration.dbt_project import dbt_vars
    from orchestration.resources import build_resources

    s = Settings.from_env({"WAREHOUSE_TIMEZONE": "Asia/Kolkata", "WAREHOUSE_PATH": "/w/x.duckdb"})
    warehouse = build_resources(s)["warehouse"]
    assert warehouse.timezone == "Asia/Kolkata"
    args = dbt_vars(warehouse.path, warehouse.timezone)
    assert args[0] == "--vars"
    assert __import__("json").loads(args[1]) == {"warehouse_path": "/w/x.duckdb", "warehouse_timezone": "Asia/Kolkata"}
