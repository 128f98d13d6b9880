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


def test_a_command_past_its_timeout_is_stopped_with_its_process_group(tmp_path):
    """A measured command that hangs (say, waiting on an API budget) is stopped, children included, and
    recorded as not completed with a note: the benchmark never hangs on it."""
    import os
    import sys
    import time

    from benchmarks.user import not_completed, run_bounded

    pidfile = tmp_path / "child.pid"
    script = f"import subprocess, time; p = subprocess.Popen(['sleep', '300']); open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(300)"
    code, _wall = run_bounded([sys.executable, "-c", script], dict(os.environ), tmp_path / "cmd.log", timeout=3)
    assert code is None
    child = int(pidfile.read_text())
    for _ in range(100):  # SIGKILL is delivered asynchronously: until the child is gone or a zombie
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().split(") ", 1)[1][0] in "ZX":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the command's child {child} is still running")
    record = not_completed("daily_warm", code, _wall, 3, tmp_path / "cmd.log", "warehouse sync")
    assert record["completed"] is False and record["timed_out"] is True and "stopped after 3 s" in record["note"]


def test_a_failed_command_is_recorded_with_its_log_tail(tmp_path):
    import os
    import sys

    from benchmarks.user import not_completed, run_bounded

    log = tmp_path / "cmd.log"
    code, wall = run_bounded([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], dict(os.environ), log, 60)
    assert code == 3
    record = not_completed("backfill_cold", code, wall, 60, log, "warehouse sync")
    assert record["timed_out"] is False and "exit status 3" in record["note"] and "boom" in record["log_tail"]


def test_a_later_day_command_reads_the_api_clock_ahead_by_the_offset():
    """benchmarks/later_day/sitecustomize.py, as a measured command gets it: the pipeline's SystemClock is the
    machine's time plus the sandbox's offset; nothing else (time.time itself) is shifted."""
    import os
    import subprocess
    import sys
    import time

    from benchmarks.user import later_day_env

    env = later_day_env({k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, 2 * 86400.0)
    probe = (
        "import sys, time; from orchestration.clients.budget import SYSTEM_CLOCK; "
        "print(round((SYSTEM_CLOCK.time() - time.time()) / 3600), round((time.time() - float(sys.argv[1])) / 3600))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, repr(time.time())], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["48", "0"]  # the API clock two days ahead, the machine's time as it is


def test_the_sandbox_clock_and_the_api_clock_move_together():
    """SandboxClock (history_cost, the history catch-up): advancing it moves the sandbox's clock, so Linear's
    buckets refill; a wait for the budget (`sleep`) jumps instead of waiting."""
    import datetime as dt

    from benchmarks.api_clock import DAY, SandboxClock, sandbox_base_url, sandbox_offset
    from sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(users=2, issues=10, days=3, anchor=dt.date(2024, 6, 30))).start()
    try:
        base = sandbox_base_url(sb.env())
        clock = SandboxClock(base)
        assert abs(clock.offset) < 5
        clock.advance(DAY)
        clock.sleep(3600.0)
        assert round(sandbox_offset(base) / 3600) == 25
        assert round((clock.time() - sb.clock.time()) / 60) == 0  # the two agree
    finally:
        sb.stop()
