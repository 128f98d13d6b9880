"""A run as the Dagster UI, the schedule and backfills launch it: `dagster job execute` in its own process on a
persistent instance with the project's dagster.yaml and Dagster's own event log, with the job's executor (every
step in a thread of that process, Clockify's and Linear's side by side, each staging its records and then taking
the warehouse lock; orchestration/executor.py). It must leave exactly what the clean in-process sync leaves, and
the write-back sensor must answer that run. (The file keeps its name from when UI runs used Dagster's
multiprocess executor.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.partitions import range_tags
from tests import reliability as r

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).parent / "dagster")


def test_a_multiprocess_run_of_the_range_equals_the_clean_sync(tmp_path, budget):
    from sandbox import Sandbox

    reference = r.clean_reference()
    warehouse = tmp_path / "warehouse.duckdb"
    home = r.dagster_home(tmp_path)
    with Sandbox(r.sandbox_config()) as sb:
        r.mutate(sb.workspace)
        run = subprocess.Popen(
            [
                DAGSTER,
                "job",
                "execute",
                "-m",
                "orchestration.definitions",
                "-a",
                "defs",
                "-j",
                "warehouse_job",
                "--tags",
                json.dumps(range_tags(*r.RANGE)),
            ],  # one run for the range, as a backfill launches it
            cwd=ROOT,
            env=r.subprocess_env(sb, warehouse, home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:  # within pytest's timeout (what the reference left of it), and then with the run's output
            output, _ = run.communicate(timeout=budget.left())
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)  # the CLI and its step processes
            output, _ = run.communicate()
            pytest.fail(f"the multiprocess run did not finish within {budget.seconds:.0f} s:\n{output[-5000:]}")
    assert run.returncode == 0 and "RUN_SUCCESS" in output, output[-5000:]
    assert "Executing steps in threads" in output  # the job's executor (orchestration/executor.py ENGINE_MESSAGE)
    r.assert_same(r.marts(warehouse), r.marts(reference), "marts")
    r.assert_same(r.raw(warehouse), r.raw(reference), "raw")
    r.assert_marts_match_oracle(warehouse, sb.workspace, *r.RANGE)  # and right: equal to the oracle

    # The write-back sensor, evaluated on that real run: it asks for one write-back run when enabled.
    from dagster import DagsterEventType, DagsterInstance, RunRequest, SkipReason, build_run_status_sensor_context

    from orchestration.definitions import build_definitions
    from orchestration.sensors import WRITEBACK_SENSOR
    from orchestration.settings import Settings

    def sensor(**env):
        return build_definitions(Settings.from_env({**os.environ, **env})).resolve_sensor_def(WRITEBACK_SENSOR)

    with r.environment(DAGSTER_HOME=str(home)):
        with DagsterInstance.get() as instance:
            (run_record,) = instance.get_runs()
            (success,) = instance.all_logs(run_record.run_id, of_type=DagsterEventType.RUN_SUCCESS)
            context = build_run_status_sensor_context(
                sensor_name=WRITEBACK_SENSOR,
                dagster_instance=instance,
                dagster_run=run_record,
                dagster_event=success.dagster_event,
            )
            assert isinstance(sensor()(context), SkipReason)
            request = sensor(CLOCKIFY_WRITEBACK="1")(context)
    assert isinstance(request, RunRequest) and run_record.run_id in request.run_key
