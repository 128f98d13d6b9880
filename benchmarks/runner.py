"""One measured pipeline process: `python -m benchmarks.runner SPEC.json OUT.json`.

Runs `run_sync` (the same code path as `warehouse sync`) once per range, or once per day, with an
ephemeral Dagster instance and the spec's environment, and writes what it measured:
wall time (process and runs), per-step wall time from the run's event log (dbt included), time spent in
API calls and in DuckDB writes, rows written, and two peak RSS figures of two processes:
`peak_rss_pipeline_mib`, this process (Dagster, the API clients, the DuckDB loads), and `peak_rss_dbt_mib`,
the largest `dbt build` subprocess, measured by the small wrapper `benchmarks/dbt_rss.py` the dbt resource
runs here (this process's own RUSAGE_CHILDREN would report dbt at least as large as this process, see the
wrapper). A fresh process per measurement keeps each peak to its own measurement.
"""

from __future__ import annotations

import time

_PROCESS_STARTED = time.perf_counter()

import datetime as dt  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import stat  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import replace  # noqa: E402


class Meter:
    """Accumulates seconds and counts of wrapped calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.rows: dict[str, int] = defaultdict(int)

    def wrap(self, owner, name: str, label: str) -> None:
        original = getattr(owner, name)
        meter = self

        @functools.wraps(original)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                meter.seconds[label] += time.perf_counter() - started
                meter.calls[label] += 1

        setattr(owner, name, timed)

    def wrap_loads(self, owner, name: str) -> None:
        """Warehouse loads: rows and the load's own work from its LoadResult. The records may be a generator
        over API pages, so the call's wall time would include the fetch: staging (typing records into
        DuckDB, overlapping the fetch) and the commit (the transaction under the warehouse lock, after the
        last page) are timed by the warehouse itself."""
        original = getattr(owner, name)
        meter = self

        @functools.wraps(original)
        def measured(self_, table, *args, **kwargs):
            result = original(self_, table, *args, **kwargs)
            for key in ("duckdb_write", f"duckdb_write:{table.name}"):
                meter.rows[key] += result.records
                meter.seconds[key] += result.stage_seconds + result.commit_seconds
                meter.seconds[key + ":commit"] += result.commit_seconds
                meter.calls[key] += 1
            return result

        setattr(owner, name, measured)


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Wall seconds of each step, from STEP_START to STEP_SUCCESS/FAILURE in the run's event log."""
    starts: dict[str, float] = {}
    out: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
            out[event.step_key] = out.get(event.step_key, 0.0) + entry.timestamp - starts[event.step_key]
    return out


def measure_dbt_rss(workdir: str) -> tuple[str, str]:
    """A dbt executable wrapped by benchmarks/dbt_rss.py (for Settings.dbt_executable), and the file its
    measurements go to."""
    from orchestration.dbt_project import dbt_executable  # noqa: PLC0415 - timed imports in main()

    real = dbt_executable()
    wrapper = os.path.join(workdir, "dbt")
    rss_file = os.path.join(workdir, "dbt_rss.jsonl")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dbt_rss.py")
    with open(wrapper, "w") as f:  # the measurement file is named in the wrapper: os.environ stays as it is
        f.write(f'#!/bin/sh\nBENCH_DBT_RSS_FILE="{rss_file}" exec "{sys.executable}" "{script}" "{real}" "$@"\n')
    os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
    return wrapper, rss_file


def main(spec_path: str, out_path: str) -> int:
    with open(spec_path) as f:
        spec = json.load(f)

    # Imported here, not at the top: the import time of the pipeline is one of the figures (import_s).
    import_started = time.perf_counter()
    from dagster import AssetKey, DagsterInstance  # noqa: PLC0415 - timed

    from orchestration.clients.http import RetryingHttp  # noqa: PLC0415 - timed
    from orchestration.runs import run_sync  # noqa: PLC0415 - timed
    from orchestration.settings import Settings  # noqa: PLC0415 - timed
    from orchestration.warehouse.duckdb import Warehouse  # noqa: PLC0415 - timed

    imported = time.perf_counter()

    # The spec's variables over this process's environment; no DAGSTER_HOME: an ephemeral instance, no run
    # storage on disk. Nothing is written into os.environ.
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    settings = Settings.from_env({**env, **spec["env"]})
    strategy = spec.get("strategy")
    if strategy:
        settings = replace(settings, clockify=replace(settings.clockify, time_entries_strategy=strategy))

    if spec.get("clock") == "sandbox":  # the sandbox's (later) day, waits jump (benchmarks/api_clock.py)
        from benchmarks.api_clock import SandboxClock, sandbox_base_url  # noqa: PLC0415 - only for this spec

        settings = replace(settings, clock=SandboxClock(sandbox_base_url(spec["env"])))
    dbt_wrapper, dbt_rss_file = measure_dbt_rss(tempfile.mkdtemp(prefix="bench-dbt-"))
    settings = replace(settings, dbt_executable=dbt_wrapper)
    meter = Meter()
    meter.wrap(RetryingHttp, "request", "api")
    for method in ("replace_snapshot", "replace_partitions", "upsert_by_id"):
        meter.wrap_loads(Warehouse, method)

    selection = spec.get("selection", "all")
    if selection == "all":
        asset_selection = None
    elif selection == "raw":
        from assets.common import API_RAW_KEYS  # noqa: PLC0415 - timed above

        asset_selection = list(API_RAW_KEYS)
    else:  # a list of raw table names
        asset_selection = [AssetKey(["raw", name]) for name in selection]

    runs = [(dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in spec["runs"]]
    instance = DagsterInstance.ephemeral()
    steps: dict[str, float] = defaultdict(float)
    run_walls = []
    outcomes: list[dict] = []
    for start, end in runs:
        started = time.perf_counter()
        outcome = run_sync(
            settings,
            start,
            end,
            instance=instance,
            asset_selection=asset_selection,
            log_level="WARNING",
            wait=bool(spec.get("wait")),  # `warehouse sync --wait`: waits for budget as long as it takes
        )
        outcomes.append({"budget_stop": outcome.budget_stop, "success": outcome.result.success})
        run_walls.append(time.perf_counter() - started)
        for key, seconds in step_seconds(instance, outcome.run_id).items():
            steps[key] += seconds

    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    child_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    dbt_runs = []
    if os.path.exists(dbt_rss_file):
        with open(dbt_rss_file) as f:
            dbt_runs = [json.loads(line) for line in f if line.strip()]
    dbt_seconds = sum(s for k, s in steps.items() if "dbt" in k)
    result = {
        "runs": len(runs),
        "outcomes": outcomes,
        "process_wall_s": time.perf_counter() - _PROCESS_STARTED,
        "import_s": imported - import_started,
        "run_wall_s": sum(run_walls),
        "run_wall_each_s": run_walls,
        "dbt_build_s": dbt_seconds,
        "raw_steps_s": sum(s for k, s in steps.items() if "dbt" not in k),
        "steps_s": dict(steps),
        "api_s": meter.seconds["api"],
        "api_calls_client": meter.calls["api"],
        "duckdb_write_s": meter.seconds["duckdb_write"],
        "duckdb_rows": meter.rows["duckdb_write"],
        "duckdb_commit_s": meter.seconds["duckdb_write:commit"],
        "time_entries_write_s": meter.seconds["duckdb_write:clockify_time_entries"],
        "time_entries_commit_s": meter.seconds["duckdb_write:clockify_time_entries:commit"],
        "time_entries_rows": meter.rows["duckdb_write:clockify_time_entries"],
        # Two processes' peaks (dbt runs beside the pipeline process, their peaks need not coincide).
        "peak_rss_pipeline_mib": self_usage.ru_maxrss / 1024.0,  # Linux: ru_maxrss in KiB
        "peak_rss_dbt_mib": max((run["peak_rss_mib"] for run in dbt_runs), default=0.0),  # 0: no dbt ran
        "dbt_invocations": dbt_runs,
        "cpu_user_s": self_usage.ru_utime,
        "cpu_sys_s": self_usage.ru_stime,
        "cpu_children_s": child_usage.ru_utime + child_usage.ru_stime,
    }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
