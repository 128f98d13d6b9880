"""`python -m benchmarks` works end to end on a tiny workload and writes the JSON the README quotes (not timed)."""

from __future__ import annotations

import json

from benchmarks.__main__ import main

RUN_FIELDS = {
    "requests",
    "requests_total",
    "requests_clockify",
    "requests_linear",
    "wall_s",
    "run_wall_s",
    "dbt_build_s",
    "duckdb_rows",
    "duckdb_write_s",
    "rows_per_s",
    "time_entries_rows_per_s",
    "time_entries_commit_rows_per_s",
    "peak_rss_pipeline_mib",
    "peak_rss_dbt_mib",
    "load_avg_1min",
    "steps_s",
}


def test_tiny_benchmark_writes_every_field(tmp_path):
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "--scale",
                "0.01",
                "--strategies-scale",
                "0.01",
                "--partition-days",
                "2",
                "--latency-ms",
                "0",
                # two weeks (not a year) and no rate limits: the scripts' work, not the sandbox's waits
                "--days",
                "14",
                "--rate-limits",
                "off",
                "--raw-only",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1 and report["rate_limits"] == "off"
    # What anyone checking a figure needs: which code, which machine, how busy it was.
    assert len(report["commit"]["sha"]) == 40 and isinstance(report["commit"]["uncommitted_changes"], list)
    assert len(report["load"]["loadavg_start"]) == 3 and len(report["load"]["loadavg_end"]) == 3
    (workload,) = report["workloads"]
    assert workload["users"] == 2 and workload["days"] == 14 and workload["entries"] > 0
    assert workload["workload_wall_s"] > 0
    runs = [workload["backfill"], workload["daily"], *workload["strategies"].values()]
    for run in runs:
        assert RUN_FIELDS <= run.keys()
        assert run["requests_total"] > 0
    backfill = workload["backfill"]
    # Every entry of the backfill loaded once, but running timers: the report (the default strategy) leaves them
    # out, the sandbox's answer to an open fact (the marts never count a running timer either way).
    assert backfill["time_entries_rows"] == workload["entries"] - workload["running_entries"]
    assert backfill["requests_linear"] > 0 and backfill["requests_clockify"] > 0
    per_user = workload["strategies"]["per_user_year"]
    assert per_user["requests_total"] == 1 + workload["users"]  # users list, then one page per user
    assert workload["strategies"]["per_partition_runs"]["runs"] == 2
