"""API keys never reach logs, exceptions, run storage, asset metadata or the DuckDB file; the UI binds locally."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from orchestration import cli
from orchestration.clients.clockify.client import ClockifyClient
from orchestration.clients.errors import ApiError
from orchestration.clients.linear.client import LinearClient
from tests import reliability as r


def _files(path: Path):
    if path.is_file():
        yield path
    elif path.is_dir():
        yield from (p for p in sorted(path.rglob("*")) if p.is_file())


def assert_no_secret(texts, paths, secrets) -> None:
    """No secret in any text, nor in the bytes of any file under `paths` (sqlite run storage included)."""
    secrets = [s for s in secrets if s]
    assert secrets
    for i, text in enumerate(texts):
        for secret in secrets:
            assert secret not in text, f"an API key appears in captured output #{i}"
    scanned = 0
    for root in paths:
        for file in _files(Path(root)):
            data = file.read_bytes()
            scanned += 1
            for secret in secrets:
                assert secret.encode() not in data, f"an API key appears in {file}"
    assert scanned, "nothing was scanned"


def test_a_sync_leaves_no_key_in_logs_run_storage_or_warehouse(pipeline_env, tmp_path, monkeypatch, capfd, caplog):
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    warehouse = tmp_path / "warehouse.duckdb"  # pipeline_env points WAREHOUSE_PATH here
    # Retries log URLs and reasons: make some happen so their lines are scanned too.
    pipeline_env.faults.add("clockify", "503", times=1)
    pipeline_env.faults.add("linear", "ratelimited_400", times=1, retry_after=0)
    caplog.set_level(logging.DEBUG)
    from orchestration.runs import run_sync
    from orchestration.settings import Settings

    start, end = r.RANGE[1], r.RANGE[1]
    outcome = run_sync(Settings.from_env(os.environ), start, end, asset_selection=r.RAW_KEYS)
    assert outcome.result.success
    metadata = repr([e.materialization.metadata for e in outcome.result.get_asset_materialization_events()])
    run_config = repr(outcome.result.dagster_run.run_config) + repr(outcome.result.dagster_run.tags)
    captured = capfd.readouterr()
    assert pipeline_env.faults.history  # the retry lines were produced
    keys = [pipeline_env.config.clockify_api_key, pipeline_env.config.linear_api_key]
    assert_no_secret([captured.out, captured.err, caplog.text, metadata, run_config], [home, warehouse], keys)
    assert list(home.rglob("*.db")), "the run storage was not persisted"


@pytest.mark.parametrize("client_kind", ["clockify", "linear"])
def test_auth_failures_do_not_echo_the_key(sandbox, client_kind):
    wrong = "sk-wrong-key-that-must-not-leak-123456"
    env = sandbox.env()
    if client_kind == "clockify":
        client = ClockifyClient(
            api_key=wrong,
            workspace_id=env["CLOCKIFY_WORKSPACE_ID"],
            api_url=env["CLOCKIFY_API_URL"],
            reports_url=env["CLOCKIFY_REPORTS_URL"],
        )
        call = client.users
        variable = "CLOCKIFY_API_KEY"
    else:
        client = LinearClient(api_key=wrong, api_url=env["LINEAR_API_URL"])
        call = client.teams
        variable = "LINEAR_API_KEY"
    with pytest.raises(ApiError) as info:
        call()
    error = info.value
    chain = []
    while error is not None:
        chain.append(f"{type(error).__name__}: {error!r} {error}")
        error = error.__cause__ or error.__context__
    text = "\n".join(chain) + repr(client)
    assert wrong not in text
    assert variable in str(info.value) and "\n" not in str(info.value)


def test_ui_binds_to_localhost(monkeypatch):
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command, **kw: calls.append(command) or 0)
    assert cli.main(["ui", "--port", "3999"]) == 0
    (command,) = calls
    assert command[command.index("-h") + 1] == "127.0.0.1"
    assert "0.0.0.0" not in command
    # `make ui` (what `make demo` suggests) runs exactly this command.
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "$(BIN)/warehouse ui" in makefile
