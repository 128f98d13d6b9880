"""benchmarks/user.py's per-phase breakdown from its inputs (the phases a command recorded, the run's steps
from the event log, dbt's own figures); the whole command is exercised by `python -m benchmarks.user`."""

from __future__ import annotations

from benchmarks.user import DBT_STEP, summarise


def test_phases_add_up_from_the_recorded_moments():
    t0 = 1000.0
    phases = [
        {"pid": 7, "event": "interpreter", "start": 1000.2, "end": 1000.2},
        {"pid": 7, "event": "import_cli", "start": 1000.2, "end": 1000.5},
        {"pid": 7, "event": "import_pipeline", "start": 1000.5, "end": 1003.5},
        {"pid": 7, "event": "settings", "start": 1003.5, "end": 1003.6},
        {"pid": 7, "event": "definitions", "start": 1003.6, "end": 1006.6},
        {"pid": 7, "event": "dbt_manifest", "start": 1003.6, "end": 1005.6},  # inside definitions
        {"pid": 7, "event": "instance", "start": 1006.6, "end": 1007.6},
        {"pid": 7, "event": "execute_in_process", "start": 1007.6, "end": 1030.0},
        {"pid": 8, "event": "instance", "start": 1000.0, "end": 1100.0},  # another process: not counted
    ]
    run = {
        "run_end": 1030.0,
        "status": "RUN_SUCCESS",
        "steps": {
            "raw__clockify_time_entries": {"start": 1008.0, "end": 1012.0},
            "raw__clockify_users": {"start": 1012.0, "end": 1013.0},
            "raw__linear_issues": {"start": 1013.0, "end": 1016.0},
            DBT_STEP: {"start": 1016.0, "end": 1028.0},
        },
    }
    dbt_calls = [{"args": ["build", "--threads"], "seconds": 10.0, "peak_rss_mib": 300.0}]
    dbt = {
        "elapsed_s": 7.0,
        "nodes": {"model": 2, "test": 3},
        "spans_s": {"model": 5.0, "test": 6.0},
        "node_windows": {"model": [1019.0, 1024.0], "test": [1019.5, 1025.5]},
        "log_marks": {},
    }
    out = summarise(t0, 31.0, phases, run, dbt_calls, dbt)
    assert out["interpreter_s"] == 0.2
    assert out["import_pipeline_s"] == 3.0
    assert out["instance_s"] == 1.0  # the other pid's 100 s are not this command's
    assert out["dbt_manifest_s"] == 2.0 and out["definitions_s"] == 1.0  # definitions without the manifest
    assert out["time_to_first_asset_s"] == 8.0 and out["dagster_run_start_s"] == 0.4
    assert out["clockify_s"] == 5.0 and out["linear_s"] == 3.0
    assert out["dbt_step_s"] == 12.0 and out["dbt_process_s"] == 10.0 and out["dbt_dagster_overhead_s"] == 2.0
    assert out["dbt_startup_and_parse_s"] == 3.0  # the process's 10 s less dbt's own 7 s of running nodes
    assert out["dbt_tests_after_last_model_s"] == 1.5
    assert out["after_run_s"] == 1.0
