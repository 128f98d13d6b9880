"""The README's "Operations" commands, as written, right after `make demo` (nothing configured), and the one
line they print when the setup is half done (issue 11 part 4).

With no key, no workspace and no host set, the code location (`orchestration.definitions:defs`) starts the
built-in sandbox in each process that loads it and reads it into the demo's files only; a key set without
the rest never falls back to the sandbox: the load fails with one line naming what to set.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration import definitions
from orchestration.settings import ConfigError, Settings

REPO = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")
MODULE = ["-m", "orchestration.definitions"]


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A new user's shell right after `make demo`: no key, a HOME and working directory of their own, the
    demo's files (here in tmp_path) and its run history as DAGSTER_HOME (what the README says to export)."""
    demo = tmp_path / "demo"
    home = demo / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # what `make demo` leaves there
    env = {k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_PATH", "MARTS_PATH")}
    env.update(
        HOME=str(tmp_path),
        WAREHOUSE_DEMO_DIR=str(demo),
        DAGSTER_HOME=str(home),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    env.update(extra)
    return env


def dagster(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    """The command's output as a terminal shows it: stderr and stdout (its code server's too) in one stream."""
    return subprocess.run(
        [DAGSTER, *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )


def lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.strip()]


# ------------------------------------------------------------------ which settings mean "the sandbox"


def test_nothing_configured_reads_the_built_in_sandbox_into_the_demos_files(tmp_path):
    settings = definitions.location_settings(Settings.from_env({"WAREHOUSE_DEMO_DIR": str(tmp_path / "demo")}))
    assert settings.sandbox and settings.warehouse_path == tmp_path / "demo" / "warehouse.duckdb"
    assert settings.dagster_home == tmp_path / "demo" / "dagster_home"
    assert settings.clockify.api_url.startswith("http://127.0.0.1:") and settings.clockify.workspace_id
    # Started once per process: a second load reads the same sandbox.
    again = definitions.location_settings(Settings.from_env({"WAREHOUSE_DEMO_DIR": str(tmp_path / "demo")}))
    assert again.clockify.api_url == settings.clockify.api_url


@pytest.mark.parametrize(
    "env, named",
    [
        ({"CLOCKIFY_API_KEY": "k"}, ["CLOCKIFY_WORKSPACE_ID", "LINEAR_API_KEY"]),
        ({"LINEAR_API_KEY": "lin_api_x"}, ["CLOCKIFY_API_KEY", "CLOCKIFY_WORKSPACE_ID"]),
        ({"CLOCKIFY_API_KEY": "k", "CLOCKIFY_WORKSPACE_ID": "w"}, ["LINEAR_API_KEY"]),
        ({"CLOCKIFY_REGION": "euc1"}, ["CLOCKIFY_API_KEY", "CLOCKIFY_WORKSPACE_ID", "LINEAR_API_KEY"]),
    ],
)
def test_a_half_configured_setup_never_falls_back_to_the_sandbox(env, named):
    with pytest.raises(ConfigError) as error:
        definitions.location_settings(Settings.from_env(env))
    message = str(error.value)
    assert "\n" not in message and all(f"{name} is not set" in message for name in named), message
    assert "sandbox" not in message


def test_the_built_in_sandbox_refuses_a_run_history_other_than_the_demos(tmp_path):
    env = {"WAREHOUSE_DEMO_DIR": str(tmp_path / "demo"), "DAGSTER_HOME": str(tmp_path / ".dagster_home")}
    with pytest.raises(ConfigError, match=f"set DAGSTER_HOME={tmp_path / 'demo' / 'dagster_home'} "):
        definitions.location_settings(Settings.from_env(env))
    configured = {"CLOCKIFY_API_KEY": "k", "CLOCKIFY_WORKSPACE_ID": "w", "LINEAR_API_KEY": "l"}
    real = definitions.location_settings(Settings.from_env({**env, **configured}))
    assert not real.sandbox and real.dagster_home == tmp_path / ".dagster_home"


# ------------------------------------------------------------------ the commands, as written


@pytest.mark.slow
def test_materialize_one_partition_after_make_demo_reads_the_sandbox_into_the_demo(tmp_path):
    """`dagster asset materialize -m orchestration.definitions --select raw/clockify_time_entries --partition
    DAY` with no key: the day's entries of the built-in sandbox land in the demo's warehouse (one partition),
    the run says SANDBOX in its tags, and the demo's run history records it."""
    import dagster as dg  # noqa: PLC0415

    from sandbox import SandboxConfig, generate_workspace  # noqa: PLC0415

    env = demo_env(tmp_path)
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=12)
    args = ["asset", "materialize", *MODULE, "--select", "raw/clockify_time_entries", "--partition", str(day)]
    done = dagster(args, env, cwd=tmp_path)
    assert done.returncode == 0, "\n".join(lines(done)[-30:])

    config = SandboxConfig(**definitions.BUILTIN_SANDBOX, anchor=dt.datetime.now(dt.UTC).date())
    expected = {
        e["id"] for e in generate_workspace(config).clockify_time_entries if e["timeInterval"]["start"][:10] == str(day)
    }
    warehouse = tmp_path / "demo" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = {r[0] for r in con.execute("SELECT id FROM raw.clockify_time_entries").fetchall()}
        (sources,) = con.execute("SELECT list(DISTINCT source_id) FROM meta.source").fetchone()
    assert expected and loaded == expected and sources == ["sandbox"]
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        assert run.tags["warehouse/source"] == "sandbox" and run.tags["dagster/partition"] == str(day)


@pytest.mark.slow
def test_schedule_commands_after_make_demo_work_on_the_demos_run_history(tmp_path):
    env = demo_env(tmp_path)
    started = dagster(["schedule", "start", "daily_warehouse_schedule", *MODULE], env, cwd=tmp_path)
    assert started.returncode == 0, "\n".join(lines(started)[-30:])
    listed = dagster(["schedule", "list", *MODULE], env, cwd=tmp_path)
    assert listed.returncode == 0 and "daily_warehouse_schedule [RUNNING]" in listed.stdout, listed.stdout[-2000:]
    stopped = dagster(["schedule", "stop", "daily_warehouse_schedule", *MODULE], env, cwd=tmp_path)
    assert stopped.returncode == 0, "\n".join(lines(stopped)[-30:])


@pytest.mark.slow
def test_a_half_configured_setup_fails_in_one_line_naming_what_to_set(tmp_path):
    """A key without its workspace: `asset materialize` prints one line, no traceback; the schedule commands
    (a code server, whose traceback Dagster prints) begin and end with the same line. Nothing is written."""
    env = demo_env(tmp_path, CLOCKIFY_API_KEY="a-real-looking-key")
    args = ["asset", "materialize", *MODULE, "--select", "raw/linear_teams"]
    done = dagster(args, env, cwd=tmp_path)
    out = lines(done)
    assert done.returncode != 0 and "Traceback" not in done.stdout, "\n".join(out[-30:])
    assert out[-1].startswith("error: CLOCKIFY_WORKSPACE_ID is not set") and "LINEAR_API_KEY is not set" in out[-1]
    assert "a-real-looking-key" not in done.stdout

    listed = dagster(["schedule", "list", *MODULE], env, cwd=tmp_path)
    out = lines(listed)
    errors = [i for i, line in enumerate(out) if line.startswith("error: CLOCKIFY_WORKSPACE_ID is not set")]
    assert listed.returncode != 0 and errors and errors[-1] == len(out) - 1, "\n".join(out[-30:])
    first_traceback = next(i for i, line in enumerate(out) if "Traceback" in line or "Stack Trace" in line)
    assert errors[0] < first_traceback
    assert not (tmp_path / "demo" / "warehouse.duckdb").exists()
