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
    assert (s.marts_storage_version, s.marts_parquet_dir) == (None, None)  # v1.0.0, no Parquet
    assert (s.start_date, s.resync_days) == (dt.date(2024, 1, 1), 7)
    assert (s.api.max_attempts, s.api.max_retry_seconds) == (8, 300.0)
    assert s.clockify.api_url == "https://api.clockify.me/api/v1" and s.clockify.api_key is None
    assert s.clockify.time_entries_strategy == "report"
    assert s.dbt_target_path == settings.DBT_PROJECT_DIR / "target" and s.dagster_home is None
    assert s.timezone == "UTC"
    s = Settings.from_env(
        {
            "WAREHOUSE_PATH": "/w/x.duckdb",
            "MARTS_PATH": "bi/m.duckdb",
            "MARTS_STORAGE_VERSION": "v1.4.0",
            "MARTS_PARQUET_DIR": "bi/parquet",
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
            "CLOCKIFY_TIME_ENTRIES_STRATEGY": "per_user",
            "WAREHOUSE_TIMEZONE": "America/Los_Angeles",
        }
    )
    assert s.timezone == "America/Los_Angeles"
    assert s.marts_path == settings.Path("/w/bi/m.duckdb")
    assert (s.marts_storage_version, s.marts_parquet_dir) == ("v1.4.0", settings.Path("/w/bi/parquet"))
    assert (s.start_date, s.resync_days, s.api.max_attempts, s.api.max_retry_seconds) == (
        dt.date(2023, 5, 1),
        0,
        3,
        2.5,
    )
    assert s.clockify.api_key.get_secret_value() == "k1" and "k1" not in repr(s)  # masked in every repr
    assert (s.writeback.enabled, s.writeback.team_keys, s.writeback.max_writes) == (True, frozenset({"ENG", "OPS"}), 3)
    assert (str(s.dbt_target_path), str(s.dagster_home)) == ("/t", "/h")
    assert s.clockify.time_entries_strategy == "per_user"
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
        ("CLOCKIFY_TIME_ENTRIES_STRATEGY", "users", "CLOCKIFY_TIME_ENTRIES_STRATEGY='users' must be report"),
        ("MARTS_STORAGE_VERSION", "1.0", "MARTS_STORAGE_VERSION='1.0' is not a DuckDB version"),
        ("CLOCKIFY_REGION", "eu", "CLOCKIFY_REGION='eu' is not a Clockify region: set it to one of euc1, use2, euw2"),
        ("CLOCKIFY_REGION", "api", "CLOCKIFY_REGION='api' is not a Clockify region"),
        ("WAREHOUSE_SANDBOX", "sure", "WAREHOUSE_SANDBOX='sure' must be 1"),
        ("WAREHOUSE_TIMEZONE", "+05:30", "WAREHOUSE_TIMEZONE='\\+05:30' is not an IANA time zone: set it to a name"),
        ("WAREHOUSE_TIMEZONE", "Mars/Base", "WAREHOUSE_TIMEZONE='Mars/Base' is not an IANA time zone"),
        ("WAREHOUSE_WORKDAY_HOURS", "eight", "WAREHOUSE_WORKDAY_HOURS='eight' must be the hours of a working day"),
        ("WAREHOUSE_WORKDAY_HOURS", "25", "WAREHOUSE_WORKDAY_HOURS='25' must be the hours of a working day"),
        ("WAREHOUSE_WORKDAY_HOURS", "0", "WAREHOUSE_WORKDAY_HOURS='0' must be the hours of a working day"),
    ],
)
def test_malformed_values_name_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})


@pytest.mark.parametrize("region", ["euc1", "use2", "euw2", "apse2", "EUC1"])
def test_a_region_sets_both_clockify_urls(region):
    c = Settings.from_env({"CLOCKIFY_REGION": region}).clockify
    host = f"https://{region.lower()}.clockify.me"
    assert (c.api_url, c.reports_url, c.region) == (f"{host}/api/v1", f"{host}/report/v1", region.lower())


def test_the_explicit_urls_win_over_the_region():
    c = Settings.from_env({"CLOCKIFY_REGION": "euw2", "CLOCKIFY_API_URL": "https://acme.clockify.me/api/v1"}).clockify
    assert (c.api_url, c.reports_url) == ("https://acme.clockify.me/api/v1", "https://euw2.clockify.me/report/v1")
    both = {
        "CLOCKIFY_API_URL": "https://acme.clockify.me/api/v1",
        "CLOCKIFY_REPORTS_URL": "https://acme.clockify.me/report/v1",
    }
    c = Settings.from_env({"CLOCKIFY_REGION": "euw2", **both}).clockify
    assert (c.api_url, c.reports_url) == tuple(both.values())
    c = Settings.from_env({}).clockify
    assert (c.api_url, c.reports_url, c.region) == (settings.CLOCKIFY_API_URL, settings.CLOCKIFY_REPORTS_URL, None)


def test_the_demo_has_files_of_its_own_whatever_the_warehouse_settings_say():
    real = {
        "CLOCKIFY_API_KEY": "real-key",
        "CLOCKIFY_WORKSPACE_ID": "real-ws",
        "LINEAR_API_KEY": "real-linear",
        "CLOCKIFY_WRITEBACK": "1",
        "DAGSTER_HOME": "/srv/dagster",
    }
    for env in ({}, {"WAREHOUSE_PATH": "data/demo/../warehouse.duckdb"}, {"MARTS_PATH": "/srv/bi/marts.duckdb"}):
        configured = Settings.from_env({**real, **env})
        demo = configured.demo({"CLOCKIFY_API_KEY": "sandbox-key", "CLOCKIFY_WORKSPACE_ID": "sb-ws"})
        own = {demo.warehouse_path, demo.marts_path, demo.report_path, demo.logs_dir, demo.dagster_home}
        theirs = {configured.warehouse_path, configured.marts_path, configured.report_path, configured.logs_dir}
        assert not own & theirs and demo.dagster_home != configured.dagster_home
        assert all(settings.PROJECT_ROOT / "data" / "demo" in p.parents for p in own), own
        assert demo.sandbox and not configured.sandbox and not demo.writeback.enabled
        assert demo.clockify.api_key.get_secret_value() == "sandbox-key" and demo.clockify.workspace_id == "sb-ws"
    handed = Settings.from_env({**real, "CLOCKIFY_API_URL": "http://127.0.0.1:9/api/v1"}).demo()
    assert handed.clockify.api_url == "http://127.0.0.1:9/api/v1" and handed.sandbox  # `warehouse ui`'s processes
    assert handed.warehouse_path.parent == settings.PROJECT_ROOT / "data" / "demo"
    assert Settings.from_env({"WAREHOUSE_DEMO_DIR": "/tmp/d"}).demo().warehouse_path == settings.Path(
        "/tmp/d/warehouse.duckdb"
    )


def test_the_default_report_and_logs_sit_beside_the_warehouse():
    s = Settings.from_env({})
    assert s.report_path == settings.PROJECT_ROOT / "data" / "report.html"
    assert s.logs_dir == settings.PROJECT_ROOT / "data" / "logs"


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
    for path in (loaded.warehouse_path, loaded.marts_path, loaded.dbt_target_path, *vars(loaded.demo()).values()):
        if isinstance(path, settings.Path):
            assert SESSION_DIR in path.parents, path
    assert loaded.clockify.api_key is None and loaded.linear.api_key is None and loaded.dagster_home is None
    assert os.environ["WAREHOUSE_DOTENV"] == "0"


def test_a_subdomain_sets_both_clockify_urls():
    for raw in ("acme", "ACME", "https://acme.clockify.me/", "acme.clockify.me"):
        c = Settings.from_env({"CLOCKIFY_SUBDOMAIN": raw}).clockify
        assert (c.api_url, c.reports_url, c.subdomain) == (
            "https://acme.clockify.me/api/v1",
            "https://acme.clockify.me/report/v1",
            "acme",
        )
    with pytest.raises(ConfigError, match="both set") as both:
        Settings.from_env({"CLOCKIFY_SUBDOMAIN": "acme", "CLOCKIFY_REGION": "euc1"})
    assert "\n" not in str(both.value)
    with pytest.raises(ConfigError, match="set CLOCKIFY_REGION=euc1"):
        Settings.from_env({"CLOCKIFY_SUBDOMAIN": "euc1"})
    with pytest.raises(ConfigError, match="is not a subdomain"):
        Settings.from_env({"CLOCKIFY_SUBDOMAIN": "a b"})


def test_the_host_template_places_the_region_or_subdomain():
    env = {"CLOCKIFY_HOST_TEMPLATE": "http://127.0.0.1:9/{host}/"}
    c = Settings.from_env({**env, "CLOCKIFY_REGION": "apse2"}).clockify
    assert (c.api_url, c.reports_url) == ("http://127.0.0.1:9/apse2/api/v1", "http://127.0.0.1:9/apse2/report/v1")
    c = Settings.from_env(env).clockify  # no region, no subdomain: the global hosts
    assert (c.api_url, c.reports_url) == (settings.CLOCKIFY_API_URL, settings.CLOCKIFY_REPORTS_URL)
    with pytest.raises(ConfigError, match="has no"):
        Settings.from_env({"CLOCKIFY_HOST_TEMPLATE": "http://x", "CLOCKIFY_REGION": "euc1"})


def test_the_warehouse_timezone_reaches_the_warehouse_resource_and_dbt():
    from orchestration.dbt_project import dbt_vars
    from orchestration.resources import build_resources

    s = Settings.from_env({"WAREHOUSE_TIMEZONE": "Asia/Kolkata", "WAREHOUSE_PATH": "/w/x.duckdb"})
    warehouse = build_resources(s)["warehouse"]
    assert warehouse.timezone == "Asia/Kolkata"
    args = dbt_vars(warehouse.path, warehouse.timezone)
    assert args[0] == "--vars"
    assert __import__("json").loads(args[1]) == {"warehouse_path": "/w/x.duckdb", "warehouse_timezone": "Asia/Kolkata"}


def test_the_workday_hours_reach_the_warehouse_resource_and_dbt():
    """WAREHOUSE_WORKDAY_HOURS (capacity_per_person_week's hours a day without a profile capacity) goes the
    way of WAREHOUSE_TIMEZONE: Settings -> the warehouse resource -> dbt's vars (left out at the default 8)."""
    import json

    from orchestration.dbt_project import dbt_vars
    from orchestration.resources import build_resources

    s = Settings.from_env({"WAREHOUSE_WORKDAY_HOURS": "7.5", "WAREHOUSE_PATH": "/w/x.duckdb"})
    warehouse = build_resources(s)["warehouse"]
    assert s.workday_hours == warehouse.workday_hours == 7.5
    args = dbt_vars(warehouse.path, warehouse.timezone, warehouse.workday_hours)
    assert json.loads(args[1]) == {
        "warehouse_path": "/w/x.duckdb",
        "warehouse_timezone": "UTC",
        "warehouse_workday_hours": 7.5,
    }
    assert Settings.from_env({}).workday_hours == 8.0
    assert "warehouse_workday_hours" not in json.loads(dbt_vars("/w/x.duckdb", "UTC", 8.0)[1])
