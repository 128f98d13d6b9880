"""A run as the Dagster UI, the schedule and backfills launch it: the multiprocess executor (every step in its
own process, each staging its records and then taking the warehouse lock) on a persistent instance with the
project's dagster.yaml. It must leave exactly what the clean in-process sync leaves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import reliability as r

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).parent / "dagster")


def test_a_multiprocess_run_of_the_range_equals_the_clean_sync(tmp_path):
    from sandbox import Sandbox

    reference = r.clean_reference()
    warehouse = tmp_path / "warehouse.duckdb"
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    tags = {"dagster/asset_partition_range_start": r.RANGE[0].isoformat(),
            "dagster/asset_partition_range_end": r.RANGE[1].isoformat()}
    with Sandbox(r.sandbox_config()) as sb:
        r.mutate(sb.workspace)
        env = {**os.environ, **{k: v for k, v in r.sync_env(sb, warehouse).items() if v is not None},
               "DAGSTER_HOME": str(home)}
        run = subprocess.run(
            [DAGSTER, "job", "execute", "-m", "orchestration.definitions", "-a", "defs", "-j", "warehouse_job",
             "--tags", json.dumps(tags)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
        )
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "RUN_SUCCESS" in output, output[-5000:]
    assert "Multiprocess executor" in output  # the executor UI-launched runs use, not the in-process one
    r.assert_same(r.marts(warehouse), r.marts(reference), "marts")
    r.assert_same(r.raw(warehouse), r.raw(reference), "raw")
