"""What a user waits for: `python -m benchmarks.user` (= `python -m benchmarks --user`).

The in-process benchmark (`python -m benchmarks`) times `run_sync` in a pipeline process with an ephemeral
Dagster instance. A user instead types `warehouse sync` (a new process) with a persistent DAGSTER_HOME, or
materialises a partition from the UI's code path. This measures those, against the sandbox in its own
process (50 ms latency, rate limits enforced, as `python -m benchmarks`):

- `install_prepare`: `warehouse prepare`, what `make install` runs on a new clone (fresh DAGSTER_HOME and dbt
  target path): the dbt manifest for the warehouse and the demo's, both run histories' storage;
- `backfill_cold`: `warehouse sync` over the year, fresh warehouse, right after `install_prepare` (with
  `--no-prepare`: fresh DAGSTER_HOME and dbt target path, no manifest, as a clone without `make install`);
- `backfill_warm`: the same command again (the home, the manifest and dbt's partial parse exist);
- `daily_warm`: the daily range (yesterday + the re-sync window) on the backfilled warehouse, same home;
- `daily_cold`: the daily range with a fresh DAGSTER_HOME and dbt target path, on the backfilled warehouse
  (after its own `warehouse prepare`, `daily_prepare`, unless `--no-prepare`);
- `partition_cli`: `dagster asset materialize -m orchestration.definitions --select ... --partition DAY`
  (the UI's code path: the job's executor, step processes) on the warm home;
- `inprocess_backfill` / `inprocess_daily` (`--inprocess`): today's in-process figures from
  `benchmarks.runner`, on the same sandbox, for comparison.

A user's later runs happen on later days, not in the minutes after the backfill: so each measured command
after `backfill_cold` runs one simulated day after the one before (`simulated_day` in the JSON), the sandbox's
clock and the command's API clock moved together (benchmarks/api_clock.py). Linear's hourly budgets are
then full and the once-a-day reads (the reconcile walk of every issue id, the member profiles' rotation, the
changes feed) are due, as on a user's next day. Between `backfill_cold` and the next command, what the cold
backfill's issue history left for later hours (its first load needs several hours of Linear's complexity
budget at the team of 200 and stops at HISTORY_BUDGET_RESERVE) is read by `history_catchup` (the history's
two raw assets, `--wait` on the sandbox's clock: the refill hours jump, no real time is waited; not a user
command, recorded for its requests and simulated hours), so the later commands measure a loaded warehouse,
not the rest of a first load.

Every command is bounded (`--timeout`, default 600 s): one that outlasts it is stopped (its process group),
recorded with `timed_out` and a note, and the commands after it, which need its result, are recorded as
skipped; so are the commands after one that failed. The JSON is written after every command, and the exit
status is 1 when a command did not complete.

Each command runs under `benchmarks/phases.py`, which times its start-up phases; the run's steps come from
DAGSTER_HOME's event log, dbt's own phases from the dbt subprocess (`benchmarks/dbt_rss.py` wrapper, named
by DBT_EXECUTABLE) and its `run_results.json` / `dbt.log`. Printed per measurement:

  time to first asset = interpreter + imports + settings + preflight + instance + dbt manifest + definitions
                        + Dagster's run start; then Clockify fetch, Linear fetch (spans of their steps),
  dbt (step wall = Dagster streaming + dbt process: start-up and parse, run of models, tests), the rest.

    python -m benchmarks.user [--scale 1] [--only backfill,daily,partition] [--inprocess] [--no-prepare]
                              [--timeout 600] [--json benchmarks/results/user-busy.json] [--note TEXT]
    python -m benchmarks.user --scale 0.1 --json /tmp/user-smoke.json     (a smoke: 20 users, 2,000 issues)
    python -m benchmarks.user --scale 0.1 --only daily --no-prepare --linear-points-per-hour 40000 --json /tmp/s.json
        (quicker: cold backfill, the history catch-up, which a lowered Linear budget makes necessary at this
        scale, and the two daily runs)

The machine's load is recorded like `python -m benchmarks` (before/after each measurement).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.__main__ import RESYNC_DAYS, commit, load_now, machine, measure, workload
from benchmarks.api_clock import DAY, OFFSET_ENV
from benchmarks.sandbox_proc import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "user-latest.json"
DBT_STEP = "hours_dbt_assets"
# The partition materialised from the command line: every asset of the warehouse job that is partitioned
# daily (the unpartitioned snapshots cannot take a --partition), and everything downstream of them.
PARTITION_SELECT = "key:raw/clockify_time_entries+ or key:raw/linear_issues+"
LATER_DAY_SITE = ROOT / "benchmarks" / "later_day"  # its sitecustomize.py shifts a process's API clock
HISTORY_RAW = ["linear_issue_history", "linear_issue_state_spans"]
BUDGET_STOP_TAG = "warehouse/budget_stop"  # orchestration/runs.py (not imported: the driver stays light)
DEFAULT_TIMEOUT_S = 600.0


def _dbt_wrapper(workdir: Path) -> tuple[Path, Path]:
    """An executable for DBT_EXECUTABLE: dbt under benchmarks/dbt_rss.py (its seconds and peak RSS)."""
    real = Path(sys.executable).parent / "dbt"
    wrapper, rss_file = workdir / "dbt", workdir / "dbt_rss.jsonl"
    script = ROOT / "benchmarks" / "dbt_rss.py"
    wrapper.write_text(f'#!/bin/sh\nBENCH_DBT_RSS_FILE="{rss_file}" exec "{sys.executable}" "{script}" "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, rss_file


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_steps(home: Path, run_id: str | None = None) -> dict:
    """The run's (default: the latest run's) start and steps from DAGSTER_HOME's event log."""
    from dagster import DagsterInstance  # noqa: PLC0415 - the driver's only Dagster use

    with DagsterInstance.from_config(str(home)) as instance:
        if run_id is None:
            runs = instance.get_runs(limit=1)
            if not runs:
                return {}
            run_id = runs[0].run_id
        record = instance.get_run_by_id(run_id)
        tags = record.tags if record else {}
        out: dict = {"run_id": run_id, "steps": {}, "budget_stop": tags.get(BUDGET_STOP_TAG, "")}
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type_value
            if kind == "PIPELINE_START" or kind == "RUN_START":
                out["run_start"] = entry.timestamp
            elif kind in ("PIPELINE_SUCCESS", "RUN_SUCCESS", "PIPELINE_FAILURE", "RUN_FAILURE"):
                out["run_end"] = entry.timestamp
                out["status"] = kind
            elif event.step_key and kind == "STEP_START":
                out["steps"].setdefault(event.step_key, {})["start"] = entry.timestamp
            elif event.step_key and kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                out["steps"].setdefault(event.step_key, {})["end"] = entry.timestamp
    return out


def _span(steps: dict, match) -> dict | None:
    chosen = [s for k, s in steps.items() if match(k) and "start" in s and "end" in s]
    if not chosen:
        return None
    start, end = min(s["start"] for s in chosen), max(s["end"] for s in chosen)
    return {"start": start, "end": end, "span_s": end - start, "sum_s": sum(s["end"] - s["start"] for s in chosen)}


def dbt_phases(target_root: Path, since: float) -> dict:
    """dbt's own phases of the last build under `target_root` (DBT_TARGET_PATH/builds/<warehouse>/):
    from dbt.log's JSON lines (start, parse done, run start, end) and run_results.json (models vs tests)."""
    builds = sorted(target_root.glob("builds/*/run_results.json"), key=lambda p: p.stat().st_mtime)
    out: dict = {}
    if not builds or builds[-1].stat().st_mtime < since:
        return out
    results = json.loads(builds[-1].read_text())
    out["elapsed_s"] = results.get("elapsed_time")
    spans: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for node in results.get("results", []):
        kind = node["unique_id"].split(".", 1)[0]  # model | test | unit_test | seed ...
        counts[kind] = counts.get(kind, 0) + 1
        for timing in node.get("timing", []):
            if timing.get("started_at") and timing.get("completed_at"):
                a = dt.datetime.fromisoformat(timing["started_at"].replace("Z", "+00:00")).timestamp()
                b = dt.datetime.fromisoformat(timing["completed_at"].replace("Z", "+00:00")).timestamp()
                lo, hi = spans.get(kind, [a, b])
                spans[kind] = [min(lo, a), max(hi, b)]
    out["nodes"] = counts
    out["spans_s"] = {k: round(b - a, 3) for k, (a, b) in spans.items()}
    out["node_windows"] = spans
    log = builds[-1].parent / "dbt.log"
    if not log.exists():
        log = next(iter(builds[-1].parent.glob("**/dbt.log")), None) or log
    marks: dict[str, float] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            info = entry.get("info", {})
            ts = info.get("ts")
            if not ts:
                continue
            when = dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
            if when < since:
                continue
            name = info.get("name")
            marks.setdefault("first_log", when)
            if name in ("MainReportVersion",):
                marks["version"] = when
            elif name in ("ParsePerfInfoPath", "PartialParsingNotEnabled", "ManifestLoaded", "FoundStats"):
                marks.setdefault("parsed", when)
            elif name == "ConcurrencyLine":
                marks["run_start"] = when
            elif name in ("FinishedRunningStats", "CommandCompleted"):
                marks[name] = when
    out["log_marks"] = marks
    return out


def summarise(t0: float, wall: float, phases: list[dict], run: dict, dbt_calls: list[dict], dbt: dict) -> dict:
    """The per-phase breakdown of one measured command (seconds)."""
    main_pid = next((p["pid"] for p in phases if p["event"] == "interpreter"), None)
    mine = [p for p in phases if p["pid"] == main_pid]

    def total(event: str) -> float:
        return round(sum(p["end"] - p["start"] for p in mine if p["event"] == event), 3)

    interp = next((p["start"] for p in mine if p["event"] == "interpreter"), t0)
    steps = run.get("steps", {})
    first_step = min((s["start"] for s in steps.values() if "start" in s), default=None)
    execute = next((p["start"] for p in mine if p["event"] == "execute_in_process"), None)
    out: dict = {
        "wall_s": round(wall, 3),
        "interpreter_s": round(interp - t0, 3),
        "import_cli_s": total("import_cli"),
        "import_pipeline_s": total("import_pipeline"),
        "settings_s": total("settings"),
        "preflight_s": total("preflight"),
        "instance_s": total("instance"),
        "dbt_manifest_s": total("dbt_manifest"),
        "definitions_s": round(total("definitions") - total("dbt_manifest"), 3),
        "time_to_first_asset_s": round(first_step - t0, 3) if first_step else None,
        "dagster_run_start_s": round(first_step - execute, 3) if first_step and execute else None,
        "status": run.get("status"),
        "budget_stop": run.get("budget_stop", ""),
    }
    for name, match in (
        ("clockify", lambda k: "clockify" in k),
        ("linear", lambda k: "linear" in k),
        ("dbt_step", lambda k: k == DBT_STEP),
        ("publish", lambda k: "publish" in k or "published" in k),
    ):
        span = _span(steps, match)
        out[f"{name}_s"] = round(span["span_s"], 3) if span else None
        if name in ("clockify", "linear") and span:
            out[f"{name}_steps_sum_s"] = round(span["sum_s"], 3)
    raw = _span(steps, lambda k: k != DBT_STEP and "publish" not in k and "published" not in k)
    out["raw_steps_span_s"] = round(raw["span_s"], 3) if raw else None
    builds = [c for c in dbt_calls if c.get("args", [None])[0] == "build"]
    parses = [c for c in dbt_calls if c.get("args", [None])[0] == "parse"]
    out["dbt_parse_process_s"] = round(sum(c["seconds"] for c in parses), 3)
    if builds:
        out["dbt_process_s"] = round(sum(c["seconds"] for c in builds), 3)
        out["peak_rss_dbt_mib"] = max(c["peak_rss_mib"] for c in builds)
        if out["dbt_step_s"] is not None:
            out["dbt_dagster_overhead_s"] = round(out["dbt_step_s"] - out["dbt_process_s"], 3)
    if dbt:
        marks = dbt.get("log_marks", {})
        out["dbt_nodes"] = dbt.get("nodes")
        out["dbt_elapsed_s"] = dbt.get("elapsed_s")  # dbt's own figure: after parse, the run of the nodes
        if builds and dbt.get("elapsed_s") is not None:
            out["dbt_startup_and_parse_s"] = round(out["dbt_process_s"] - dbt["elapsed_s"], 3)
        if "first_log" in marks and "run_start" in marks:
            out["dbt_log_to_run_start_s"] = round(marks["run_start"] - marks["first_log"], 3)
        windows = dbt.get("node_windows", {})
        out["dbt_models_span_s"] = dbt["spans_s"].get("model")
        out["dbt_tests_span_s"] = dbt["spans_s"].get("test")
        if "model" in windows and "test" in windows:
            # tests run as their models finish (dbt build): what is left after the last model
            out["dbt_tests_after_last_model_s"] = round(max(0.0, windows["test"][1] - windows["model"][1]), 3)
    if run.get("run_end"):
        out["after_run_s"] = round(t0 + wall - run["run_end"], 3)  # summary printing, shut-down
    return out


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def run_bounded(cmd: list[str], env: dict[str, str], log_path: Path, timeout: float) -> tuple[int | None, float]:
    """Run `cmd` (its own process group) with its output in `log_path`; (return code, wall seconds). After
    `timeout` seconds the whole group (the command, its dbt and step processes) is stopped: (None, wall)."""
    started = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the command, its dbt and step processes: a chance to end
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
            proc.wait()
    return code, time.perf_counter() - started


def not_completed(name: str, code: int | None, wall: float, timeout: float, log_path: Path, command: str) -> dict:
    """What is recorded for a command that outlasted its timeout or failed."""
    if code is None:
        note = (
            f"stopped after {timeout:g} s (--timeout): it did not finish; its log's last lines are in log_tail "
            "(a wait for an API budget shows there)"
        )
    else:
        note = f"failed with exit status {code}; its log's last lines are in log_tail"
    return {
        "completed": False,
        "timed_out": code is None,
        "returncode": code,
        "timeout_s": timeout,
        "wall_s": round(wall, 3),
        "command": command,
        "note": f"{name} {note}",
        "log_tail": _tail(log_path),
    }


def run_command(
    program: str,
    args: list[str],
    env: dict[str, str],
    workdir: Path,
    name: str,
    home: Path,
    target: Path,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict:
    phases_file = workdir / f"{name}.phases.jsonl"
    log_path = workdir / f"{name}.log"
    dbt_rss_file = workdir / "dbt_rss.jsonl"
    dbt_before = len(_read_jsonl(dbt_rss_file))
    load_before = os.getloadavg()[0]
    t0 = time.time()
    cmd = [sys.executable, "-m", "benchmarks.phases", str(phases_file), program, *args]
    code, wall = run_bounded(cmd, env, log_path, timeout)
    if code != 0:
        result = not_completed(name, code, wall, timeout, log_path, f"{program} {' '.join(args)}")
        result["load_avg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        return result
    run = run_steps(home)
    dbt_calls = _read_jsonl(dbt_rss_file)[dbt_before:]
    phases = _read_jsonl(phases_file)
    result = summarise(t0, wall, phases, run, dbt_calls, dbt_phases(target, t0))
    usage_peak = next((p.get("peak_rss_mib") for p in phases if p["event"] == "exit"), None)
    result.update(
        completed=True,
        command=f"{program} {' '.join(args)}",
        load_avg_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        peak_rss_pipeline_mib=usage_peak,
    )
    return result


def fresh_env(sb: SandboxProcess, tmp: Path, label: str, warehouse: Path, dbt_exe: Path) -> tuple[dict, Path, Path]:
    home, target = tmp / f"{label}-home", tmp / f"{label}-dbt-target"
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "DBT_TARGET_PATH")}
    env.update(
        sb.env,
        WAREHOUSE_PATH=str(warehouse),
        WAREHOUSE_START_DATE=sb.info["start_date"],
        DAGSTER_HOME=str(home),
        DBT_TARGET_PATH=str(target),
        WAREHOUSE_DEMO_DIR=str(tmp / f"{label}-demo"),  # `warehouse prepare` prepares the demo's files too
        DBT_EXECUTABLE=str(dbt_exe),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        WAREHOUSE_DOTENV="0",  # the project's .env (a developer's keys) must not redirect the runs
    )
    return env, home, target


def later_day_env(env: dict[str, str], offset: float) -> dict[str, str]:
    """`env` for a command on the sandbox's day: its API clock `offset` seconds ahead of the machine's."""
    path = [str(LATER_DAY_SITE), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, OFFSET_ENV: repr(offset), "PYTHONPATH": os.pathsep.join(path)}


def history_catchup(sb: SandboxProcess, env: dict[str, str], workdir: Path, day: str, timeout: float) -> dict:
    """The history's first load finished the way its hourly runs would finish it, in one `--wait` run of its two
    raw assets on the sandbox's clock (benchmarks.runner; the refill hours jump): requests and simulated hours."""
    spec = {
        "env": {k: v for k, v in env.items() if k not in ("DAGSTER_HOME", "PYTHONPATH", OFFSET_ENV)},
        "runs": [[day, day]],
        "selection": HISTORY_RAW,
        "clock": "sandbox",
        "wait": True,
    }
    spec_path, out_path = workdir / "history_catchup.spec.json", workdir / "history_catchup.out.json"
    spec_path.write_text(json.dumps(spec))
    log_path = workdir / "history_catchup.log"
    before = sb.clock_offset()
    sb.reset()
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "benchmarks.runner", str(spec_path), str(out_path)]
    code, wall = run_bounded(cmd, env, log_path, timeout)
    if code != 0:
        return not_completed("history_catchup", code, wall, timeout, log_path, "benchmarks.runner (history, --wait)")
    runner = json.loads(out_path.read_text())
    counts = sb.counts()
    return {
        "completed": all(o["success"] and not o["budget_stop"] for o in runner["outcomes"]),
        "command": "benchmarks.runner: raw/linear_issue_history + raw/linear_issue_state_spans, --wait, sandbox clock",
        "wall_s": round(wall, 3),
        "simulated_hours": round((sb.clock_offset() - before) / 3600.0, 2),
        "outcomes": runner["outcomes"],
        "requests_total": sum(counts.values()),
        "requests": counts,
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


PRINTED = (
    ("wall_s", "wall"),
    ("time_to_first_asset_s", "to first asset"),
    ("interpreter_s", "  interpreter"),
    ("import_cli_s", "  import cli"),
    ("import_pipeline_s", "  import pipeline"),
    ("settings_s", "  settings"),
    ("preflight_s", "  preflight"),
    ("instance_s", "  instance"),
    ("dbt_manifest_s", "  dbt manifest"),
    ("dbt_parse_process_s", "    dbt parse processes"),
    ("definitions_s", "  definitions"),
    ("dagster_run_start_s", "  Dagster run start"),
    ("clockify_s", "Clockify fetch (span)"),
    ("linear_s", "Linear fetch (span)"),
    ("raw_steps_span_s", "raw steps (span)"),
    ("dbt_step_s", "dbt step"),
    ("dbt_dagster_overhead_s", "  Dagster streaming"),
    ("dbt_process_s", "  dbt process"),
    ("dbt_startup_and_parse_s", "    start-up + parse"),
    ("dbt_elapsed_s", "    run (dbt elapsed)"),
    ("dbt_models_span_s", "      models span"),
    ("dbt_tests_span_s", "      tests span"),
    ("dbt_tests_after_last_model_s", "      tests after last model"),
    ("publish_s", "publish"),
    ("after_run_s", "after the run"),
)


def table(measurements: dict[str, dict]) -> str:
    names = list(measurements)
    lines = ["| phase (s) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for key, label in PRINTED:
        cells = []
        for name in names:
            value = measurements[name].get(key)
            cells.append("" if value is None else f"{value:.1f}")
        if any(cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(
        "| completed | "
        + " | ".join(
            "yes" if measurements[n].get("completed") else ("timed out" if measurements[n].get("timed_out") else "no")
            for n in names
        )
        + " |"
    )
    lines.append("| simulated day | " + " | ".join(str(measurements[n].get("simulated_day", "")) for n in names) + " |")
    lines.append(
        "| 1-min load before/after | "
        + " | ".join("/".join(f"{x:.1f}" for x in measurements[n].get("load_avg_1min", [])) for n in names)
        + " |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.user", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="workload scale (1 = team of 200; 0.1 = a smoke)")
    ap.add_argument("--only", default="backfill,daily,partition")
    ap.add_argument("--inprocess", action="store_true", help="also today's in-process figures (benchmarks.runner)")
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds a command may take")
    ap.add_argument(
        "--linear-points-per-hour",
        type=int,
        default=None,
        help="the sandbox's Linear complexity budget (default Linear's 250,000; lower makes a small-scale smoke "
        "stop the history's first load at the budget, as the team of 200 does)",
    )
    ap.add_argument("--json", default=str(DEFAULT_JSON))
    ap.add_argument("--note", default="", help="what else ran on the machine (recorded under load.note)")
    ap.add_argument(
        "--no-prepare",
        action="store_true",
        help="cold runs without `warehouse prepare` first (a clone that skipped `make install`)",
    )
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    anchor = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    report: dict = {
        "kind": "user",
        "commit": commit(),
        "machine": machine(),
        "load": {"loadavg_start": load_now(), "loadavg_end": None, "note": args.note},
        "command": "python -m benchmarks.user " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "latency_ms": args.latency_ms,
        "rate_limits": "enforced",
        "scale": args.scale,
        "timeout_s": args.timeout,
        "later_days": "each command after backfill_cold runs a simulated day after the one before "
        "(benchmarks/api_clock.py); history_catchup finishes the history's first load in between",
        "measurements": {},
    }
    m = report["measurements"]

    def save() -> None:
        report["load"]["loadavg_end"] = load_now()
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")

    cfg = workload(args.scale, anchor, args.latency_ms)
    if args.linear_points_per_hour:
        cfg = cfg.with_(linear_complexity_per_hour=args.linear_points_per_hour)
    report["linear_complexity_per_hour"] = cfg.linear_complexity_per_hour
    with tempfile.TemporaryDirectory(prefix="bench-user-") as tmp_name, SandboxProcess(cfg) as sb:
        tmp = Path(tmp_name)
        dbt_exe, _ = _dbt_wrapper(tmp)
        report["entries"] = sb.info["summary"]["clockify_time_entries"]
        report["issues"] = cfg.issues
        report["users"] = cfg.users
        start, end = dt.date.fromisoformat(sb.info["start_date"]), dt.date.fromisoformat(sb.info["anchor"])
        daily = (max(end - dt.timedelta(days=RESYNC_DAYS), start), end)
        year = ["sync", "--start", start.isoformat(), "--end", end.isoformat()]
        day_args = ["sync", "--start", daily[0].isoformat(), "--end", daily[1].isoformat()]
        warehouse = tmp / "warehouse.duckdb"
        env, home, target = fresh_env(sb, tmp, "main", warehouse, dbt_exe)
        # The same file name as the first (dbt-duckdb names the database by the file's stem, as in a user's
        # manifest), in a directory of its own.
        copy = tmp / "cold" / "warehouse.duckdb"
        copy.parent.mkdir()
        env2, home2, target2 = fresh_env(sb, tmp, "cold", copy, dbt_exe)
        state = {"day": 0, "stopped": ""}

        def one(name: str, program: str, cmd: list[str], env_=env, home_=home, target_=target, later=True) -> None:
            """One measured command; `later`: on the next simulated day (the commands that call the APIs)."""
            if state["stopped"]:
                m[name] = {"completed": False, "skipped": True, "note": f"not run: {state['stopped']}"}
                save()
                return
            if later:
                state["day"] += 1
                sb.advance(DAY)
            offset = sb.clock_offset()
            run_env = later_day_env(env_, offset) if offset > 0 else env_
            print(f"[{name}] {program} {' '.join(cmd)}  (simulated day +{state['day']})", flush=True)
            sb.reset()
            m[name] = run_command(program, cmd, run_env, tmp, name, home_, target_, args.timeout)
            counts = sb.counts()
            m[name].update(
                requests_total=sum(counts.values()),
                requests=counts,
                simulated_day=state["day"],
                clock_offset_h=round(offset / 3600.0, 2),
            )
            if m[name]["completed"]:
                print(f"[{name}] {m[name]['wall_s']:.1f} s wall, {m[name]['requests_total']} requests", flush=True)
            else:
                state["stopped"] = f"{name} did not complete ({m[name]['note']})"
                print(f"[{name}] {m[name]['note']}\n{m[name]['log_tail']}", flush=True)
            save()

        def catchup() -> None:
            """After the cold backfill: the history's first load finished, if its budget stopped it."""
            if state["stopped"]:
                return
            if not m["backfill_cold"].get("budget_stop"):
                m["history_catchup"] = {"completed": True, "needed": False, "requests_total": 0, "wall_s": 0.0}
                save()
                return
            print("[history_catchup] the rest of the history's first load (--wait, sandbox clock)", flush=True)
            m["history_catchup"] = history_catchup(sb, env, tmp, end.isoformat(), args.timeout)
            m["history_catchup"]["needed"] = True
            c = m["history_catchup"]
            if c["completed"]:
                print(f"[history_catchup] {c['requests_total']} requests, {c['simulated_hours']} h later", flush=True)
            else:
                state["stopped"] = f"history_catchup did not complete ({c.get('note') or c.get('outcomes')})"
                print(f"[history_catchup] {state['stopped']}\n{c.get('log_tail', '')}", flush=True)
            save()

        if only & {"backfill", "daily", "partition"}:
            if not args.no_prepare:
                one("install_prepare", "warehouse", ["prepare"], later=False)
            one("backfill_cold", "warehouse", year, later=False)
            catchup()
        if "backfill" in only:
            one("backfill_warm", "warehouse", year)
        if "daily" in only:
            # Both daily runs start from the same warehouse: the copy for the cold one is taken first.
            if not state["stopped"]:
                shutil.copyfile(warehouse, copy)
            one("daily_warm", "warehouse", day_args)
            if not args.no_prepare:
                one("daily_prepare", "warehouse", ["prepare"], env2, home2, target2, later=False)
            one("daily_cold", "warehouse", day_args, env2, home2, target2)
        if "partition" in only:
            one(
                "partition_cli",
                "dagster",
                [
                    "asset",
                    "materialize",
                    "-m",
                    "orchestration.definitions",
                    "--select",
                    PARTITION_SELECT,
                    "--partition",
                    end.isoformat(),
                ],
            )
        if args.inprocess and not state["stopped"]:
            # Today's in-process figures (benchmarks.runner, the machine's clock, an ephemeral instance), each
            # after a day of the sandbox's clock so Linear's budgets are full; not bounded by --timeout.
            sb.advance(DAY)
            print("[inprocess_backfill] benchmarks.runner (ephemeral instance)", flush=True)
            wh = tmp / "inprocess.duckdb"
            m["inprocess_backfill"] = measure(sb, [(start, end)], wh, log_dir=tmp)
            sb.advance(DAY)
            print("[inprocess_daily] benchmarks.runner (ephemeral instance)", flush=True)
            m["inprocess_daily"] = measure(sb, [daily], wh, log_dir=tmp)
            save()
    save()
    print()
    print(
        f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; x{args.scale:g}: "
        f"{report['entries']:,} entries; load average {report['load']['loadavg_start']} -> "
        f"{report['load']['loadavg_end']}"
    )
    print(table({k: v for k, v in m.items() if not k.startswith("inprocess")}))
    for name in ("inprocess_backfill", "inprocess_daily"):
        if name in m:
            r = m[name]
            print(
                f"{name}: process wall {r['wall_s']:.1f} s, run {r['run_wall_s']:.1f} s, dbt {r['dbt_build_s']:.1f} s"
            )
    if state["stopped"]:
        print(f"\nNOT COMPLETE: {state['stopped']}")
    print(f"\nJSON: {args.json}")
    return 1 if state["stopped"] else 0


if __name__ == "__main__":
    sys.exit(main())
