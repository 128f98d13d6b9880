"""SIGKILL in the middle of a partition load and in the middle of the dbt build, then the same sync again.

`warehouse sync` runs as a subprocess (its own process group, so dbt dies with it, as in a container or
CI kill) against a sandbox served from this process, with a persistent DAGSTER_HOME holding the project's
dagster.yaml (pool "duckdb" limited to 1). The killed runs never report their end and keep their pool slot:
the next sync must notice their process is gone and free it, instead of waiting forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests import reliability as r
from tests.test_secrets import assert_no_secret

ROOT = Path(__file__).resolve().parents[1]


class CliSync:
    """`python -m orchestration.cli sync` over RANGE, its output collected line by line."""

    def __init__(self, env: dict):
        start, end = r.RANGE
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "sync", "--start", str(start), "--end", str(end)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                pytest.fail(f"sync exited ({self.proc.returncode}) before {what}:\n{self.output[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"no {what} within {timeout:.0f} s:\n{self.output[-3000:]}")
            time.sleep(0.1)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)  # the CLI and its dbt child, no chance to clean up
        self.proc.wait()
        # proc.wait() only reaps the CLI: its dbt child may still be exiting (and holding DuckDB's file
        # lock) for a moment. Wait until the kernel has torn the whole group down.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _group_alive(self.proc.pid):
            time.sleep(0.05)
        self._reader.join(5)

    def finish(self, timeout: float) -> int:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(
                f"the re-run did not finish within {timeout:.0f} s (a killed run's pool slot?):\n{self.output[-3000:]}"
            )
        self._reader.join(5)
        return self.proc.returncode


def _group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process of the group remains."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def assert_readable(path: Path) -> None:
    """DuckDB replays or discards its WAL: the killed writer's file opens and answers queries."""
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SELECT count(*) FROM information_schema.tables").fetchone()


def test_sigkill_mid_load_and_mid_dbt_then_the_same_sync_recovers(tmp_path, budget):
    from sandbox import Sandbox

    reference = r.clean_reference()
    warehouse = tmp_path / "warehouse.duckdb"
    home = r.dagster_home(tmp_path)
    with Sandbox(r.sandbox_config()) as sb:
        r.mutate(sb.workspace)
        env = r.subprocess_env(sb, warehouse, home, PYTHONUNBUFFERED="1")

        # 1. Killed in the middle of the time-entry partition load (its report request hangs).
        sb.faults.add("clockify_reports", "slow", after=1, delay=300)  # after the preflight check
        first = CliSync(env)
        # Each wait is capped by what is left of pytest's timeout (the reference above may have used some).
        first.wait_for(
            lambda: ("clockify_reports", "slow") in [h[:2] for h in sb.faults.history],
            budget.left(180),
            "time-entry load",
        )
        first.kill()
        sb.faults.clear()
        assert_readable(warehouse)

        # 2. The same sync again, killed in the middle of dbt build (after a mart table was written).
        second = CliSync(env)

        # dbt's per-node lines go to the sync's log file (beside the warehouse), not to its output.
        def a_mart_was_built() -> bool:
            logs = sorted((warehouse.parent / "logs").glob("sync-*.log"), key=lambda p: p.stat().st_mtime)
            return bool(logs) and "OK created sql table model marts." in logs[-1].read_text(errors="replace")

        second.wait_for(a_mart_was_built, budget.left(240), "dbt mart build")
        second.kill()
        assert_readable(warehouse)
        assert "marked failed, pool slot freed" in second.output  # the first killed run's slot

        # 3. The same sync once more: it completes and the warehouse equals the clean run.
        third = CliSync(env)
        assert third.finish(budget.left(300)) == 0, third.output[-3000:]
        assert "marked failed, pool slot freed" in third.output

    r.assert_same(r.marts(warehouse), r.marts(reference), "marts")
    r.assert_same(r.raw(warehouse), r.raw(reference), "raw")
    r.assert_marts_match_oracle(warehouse, sb.workspace, *r.RANGE)  # the recovered marts are also right

    from dagster import DagsterInstance, DagsterRunStatus

    with r.environment(DAGSTER_HOME=str(home)):
        with DagsterInstance.get() as instance:
            statuses = sorted(run.status.value for run in instance.get_runs())
            info = instance.event_log_storage.get_concurrency_info("duckdb")
    assert statuses == sorted([DagsterRunStatus.FAILURE.value] * 2 + [DagsterRunStatus.SUCCESS.value])
    assert not info.claimed_slots and not info.pending_steps

    # The same run history, warehouse and console output never hold an API key.
    assert_no_secret(
        [first.output, second.output, third.output],
        [home, warehouse],
        [sb.config.clockify_api_key, sb.config.linear_api_key],
    )
