"""The warehouse's source marker (issue 18 part 1): a warehouse records which source filled it, a run from any
other source is refused with one line and changes nothing, and the demo never touches a real warehouse."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from orchestration import cli
from orchestration.runs import SyncError, check_source
from orchestration.settings import Settings
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse import source
from orchestration.warehouse.duckdb import Warehouse
from tests.conftest import ANCHOR

WORKSPACES = [{"id": "ws-a", "name": "A"}]


def warehouse(path: Path, clockify: str, linear: str = "", host: str = "api.clockify.me") -> Warehouse:
    return Warehouse(
        path=str(path), clockify_source=clockify, clockify_host=host, linear_source=linear, check_sources=True
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def marker(path: Path) -> dict[str, tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {s: (i, h) for s, i, h in con.execute("SELECT system, source_id, host FROM meta.source").fetchall()}


def test_the_first_load_records_its_source_in_the_same_transaction(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse(path, "ws-a").replace_snapshot(t.CLOCKIFY_WORKSPACES, WORKSPACES)
    assert marker(path) == {"clockify": ("ws-a", "api.clockify.me")}
    # Another host, same workspace (CLOCKIFY_REGION set later): the same warehouse.
    warehouse(path, "ws-a", host="euc1.clockify.me").replace_snapshot(t.CLOCKIFY_WORKSPACES, WORKSPACES)
    assert marker(path) == {"clockify": ("ws-a", "api.clockify.me")}


@pytest.mark.parametrize(
    ("first", "second", "fix"),
    [
        ("ws-a", "ws-b", "WAREHOUSE_PATH"),  # a second workspace into the same file
        ("ws-a", source.SANDBOX, "WAREHOUSE_DEMO_DIR"),  # the sandbox into a real warehouse
        (source.SANDBOX, "ws-a", "WAREHOUSE_PATH"),  # a real workspace into the demo's warehouse
    ],
)
def test_a_load_from_another_source_is_refused_in_one_line_and_changes_nothing(tmp_path, first, second, fix):
    path = tmp_path / "w.duckdb"
    warehouse(path, first).replace_snapshot(t.CLOCKIFY_WORKSPACES, [{"id": first, "name": "first"}])
    before = digest(path)
    with pytest.raises(source.SourceMismatch) as refused:
        warehouse(path, second).replace_snapshot(t.CLOCKIFY_WORKSPACES, [{"id": second, "name": "second"}])
    message = str(refused.value)
    assert "\n" not in message and str(path) in message and fix in message and "nothing was written" in message
    assert digest(path) == before
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT id FROM raw.clockify_workspaces").fetchall() == [(first,)]
    # The read-only check runs use before fetching anything says the same.
    with pytest.raises(source.SourceMismatch):
        source.check(path, [source.Source("clockify", second)], lambda p, read_only: duckdb.connect(str(p), read_only))


def test_a_file_without_a_marker_is_judged_by_its_data(tmp_path):
    path = tmp_path / "old.duckdb"
    Warehouse(path=str(path)).replace_snapshot(t.CLOCKIFY_WORKSPACES, WORKSPACES)  # before markers existed
    with pytest.raises(source.SourceMismatch, match="unknown"):
        warehouse(path, source.SANDBOX).replace_snapshot(t.CLOCKIFY_WORKSPACES, WORKSPACES)
    with pytest.raises(source.SourceMismatch, match="ws-a"):
        warehouse(path, "ws-b").replace_snapshot(t.CLOCKIFY_WORKSPACES, WORKSPACES)
    warehouse(path, "ws-a").replace_snapshot(t.CLOCKIFY_WORKSPACES, WORKSPACES)  # its own workspace adopts it
    assert marker(path) == {"clockify": ("ws-a", "api.clockify.me")}


def test_a_linear_organization_not_identified_is_real_never_the_sandbox(tmp_path):
    """A run launched from the UI does not know the organization: it matches any real one, records none, and
    is refused by a sandbox warehouse; a sandbox run is refused by a real organization's."""
    real, demo = tmp_path / "real.duckdb", tmp_path / "demo.duckdb"
    warehouse(real, "ws-a", linear="org-1").replace_snapshot(t.LINEAR_TEAMS, [{"id": "t1", "key": "ENG"}])
    warehouse(real, "ws-a", linear="").replace_snapshot(t.LINEAR_TEAMS, [{"id": "t1", "key": "ENG"}])
    assert marker(real)["linear"][0] == "org-1"
    with pytest.raises(source.SourceMismatch):
        warehouse(real, "ws-a", linear="org-2").replace_snapshot(t.LINEAR_TEAMS, [])
    with pytest.raises(source.SourceMismatch):
        warehouse(real, source.SANDBOX, linear=source.SANDBOX).replace_snapshot(t.LINEAR_TEAMS, [])
    warehouse(demo, source.SANDBOX, linear=source.SANDBOX).replace_snapshot(t.LINEAR_TEAMS, [{"id": "t1"}])
    with pytest.raises(source.SourceMismatch):
        warehouse(demo, "ws-a", linear="").replace_snapshot(t.LINEAR_TEAMS, [])
    fresh = tmp_path / "fresh.duckdb"
    warehouse(fresh, "ws-a", linear="").replace_snapshot(t.LINEAR_TEAMS, [{"id": "t1"}])
    assert "linear" not in source.read(fresh, lambda p, read_only: duckdb.connect(str(p), read_only=read_only))


def test_the_settings_say_which_source_a_run_reads():
    real = Settings.from_env({"CLOCKIFY_WORKSPACE_ID": "ws-a", "CLOCKIFY_REGION": "euc1"})
    real = replace(real, linear=replace(real.linear, organization_id="org-1"))
    assert source.expected(real) == [
        source.Source("clockify", "ws-a", "euc1.clockify.me"),
        source.Source("linear", "org-1", "api.linear.app"),
    ]
    assert all(s.is_sandbox for s in source.expected(real.demo({"CLOCKIFY_WORKSPACE_ID": "sb"})))


@pytest.mark.slow
@pytest.mark.timeout(900)  # a sync and a demo, each with its dbt build, on a loaded 2-core machine
def test_the_demo_leaves_a_real_warehouse_byte_for_byte_untouched(pipeline_env, tmp_path, monkeypatch, capsys):
    """`make demo` after a real-looking sync (a workspace that is not the sandbox's flag: the sandbox's APIs
    read as a real workspace) with WAREHOUSE_PATH, MARTS_PATH and DAGSTER_HOME pointing at the real files."""
    real_dir = tmp_path / "real"
    monkeypatch.setenv("WAREHOUSE_PATH", str(real_dir / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(real_dir / "dagster_home"))
    monkeypatch.setenv("WAREHOUSE_DEMO_DIR", str(tmp_path / "demo"))
    day = ANCHOR - dt.timedelta(days=1)
    assert cli.main(["sync", "--start", str(day), "--end", str(ANCHOR)]) == 0, capsys.readouterr().out
    real = Settings.from_env(os.environ)
    assert source.read(real.warehouse_path, lambda p, read_only: duckdb.connect(str(p), read_only=read_only))[
        "clockify"
    ] == source.Source("clockify", pipeline_env.workspace.workspace_id, real.clockify.api_url.split("/")[2])
    files = {p: digest(p) for p in real_dir.rglob("*") if p.is_file()}
    assert real.warehouse_path in files and real.marts_path in files
    capsys.readouterr()  # the sync's output

    assert cli.main(["demo", "--users", "4"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert {p: digest(p) for p in real_dir.rglob("*") if p.is_file()} == files  # nothing real changed or added
    demo = real.demo({})
    assert demo.warehouse_path.exists() and str(demo.warehouse_path) in out
    assert (demo.dagster_home / "dagster.yaml").exists() and demo.report_path.exists()
    # The next steps it prints name commands that exist, pointed at the demo's files.
    assert "make ui" in out and f"DAGSTER_HOME={demo.dagster_home} " in out and "warehouse check" in out
    assert (Path(cli.PROJECT_ROOT) / ".venv" / "bin" / "dagster").exists()
    (log_line,) = [line for line in out.splitlines() if line.startswith("Full log: ")]
    assert Path(log_line.removeprefix("Full log: ")).parent == demo.logs_dir
    connect = lambda p, read_only: duckdb.connect(str(p), read_only=read_only)  # noqa: E731
    assert {s.source_id for s in source.read(demo.warehouse_path, connect).values()} == {source.SANDBOX}

    # Each way round, a sync into the other's warehouse is refused before anything is fetched.
    requests = pipeline_env.request_counts()
    demo_settings = real.demo(pipeline_env.env())
    for settings, into in ((demo_settings, real.warehouse_path), (real, demo.warehouse_path)):
        with pytest.raises(SyncError) as refused:
            check_source(replace(settings, warehouse_path=into))
        assert "\n" not in str(refused.value) and str(into) in str(refused.value)
    assert pipeline_env.request_counts() == requests
    assert {p: digest(p) for p in real_dir.rglob("*") if p.is_file()} == files


@pytest.mark.slow  # two code locations, each preparing the dbt manifest
def test_the_sandbox_code_location_says_so_and_uses_only_the_demos_files(tmp_path):
    """`warehouse ui` without a Clockify key hands the UI WAREHOUSE_SANDBOX=1 and the sandbox's URLs."""
    from orchestration.definitions import build_definitions, location_settings  # noqa: PLC0415 - dbt manifest
    from orchestration.jobs import SOURCE_TAG, WAREHOUSE_JOB  # noqa: PLC0415
    from orchestration.settings import ConfigError  # noqa: PLC0415

    env = {
        "WAREHOUSE_SANDBOX": "1",
        "CLOCKIFY_API_URL": "http://127.0.0.1:9/api/v1",
        "CLOCKIFY_REPORTS_URL": "http://127.0.0.1:9/v1",
        "LINEAR_API_URL": "http://127.0.0.1:9/graphql",
        "WAREHOUSE_PATH": str(tmp_path / "real" / "warehouse.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "real" / "dagster_home"),
        "WAREHOUSE_DEMO_DIR": str(tmp_path / "demo"),
        "DBT_TARGET_PATH": os.environ["DBT_TARGET_PATH"],
    }
    settings = location_settings(Settings.from_env(env))
    assert settings.warehouse_path == tmp_path / "demo" / "warehouse.duckdb"
    assert settings.dagster_home == tmp_path / "demo" / "dagster_home"
    defs = build_definitions(settings)
    job = defs.resolve_job_def(WAREHOUSE_JOB)
    assert job.description.startswith("SANDBOX") and str(settings.warehouse_path) in job.description
    assert job.tags[SOURCE_TAG] == "sandbox"
    assert defs.metadata["data source"].value.startswith("built-in sandbox")
    real = build_definitions(Settings.from_env({**env, "WAREHOUSE_SANDBOX": "0"})).resolve_job_def(WAREHOUSE_JOB)
    assert real.tags[SOURCE_TAG] == "api" and "SANDBOX" not in real.description
    with pytest.raises(ConfigError, match="CLOCKIFY_API_URL=https://api.clockify.me/api/v1 is not the sandbox"):
        location_settings(Settings.from_env({**env, "CLOCKIFY_API_URL": "https://api.clockify.me/api/v1"}))
