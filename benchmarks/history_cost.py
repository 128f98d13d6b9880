"""What the issue history costs the team of 200: `python -m benchmarks.history_cost [--json FILE] [--note TEXT]`.

A smoke at small scale: `python -m benchmarks.history_cost --scale 0.1 --pairs 1 --json /tmp/history-cost.json`.

One sandbox process (SandboxConfig.team_of_200, 50 ms latency, rate limits enforced) and, in this one process,
`run_sync` (the code path of `warehouse sync`, an ephemeral Dagster instance) on one warehouse:

1. the year backfill of the raw tables: the history's first load of all 20,000 issues. Its requests, complexity
   points (the asset's metadata: Linear's rule, what the sandbox charges) and step seconds are the first
   load's cost. The sandbox's complexity budget is raised to 5,000,000 points/hour for this run so the load
   finishes in one go and is measured whole; at Linear's 250,000 it spreads over several hourly runs (the
   budget hours and runs printed are computed from the measured points and HISTORY_BUDGET_RESERVE);
2. one daily run (yesterday + 7 days, the whole job: dbt builds the marts) to settle the warehouse;
3. daily runs, alternating: the whole job (the history included) and the same run without the
   history (its two raw assets and every model and check downstream of them deselected: the run as it was
   before issue 16). Before each run with the history, the history of every issue of the daily window is
   dropped from raw, so the history asset reads all of them again: the worst case of a day on which every
   issue the window holds changed (the sandbox's data does not change between runs by itself).

Every run after the first load runs a simulated day after the one before (`simulated_day`), as a user's
daily runs do: the sandbox's clock and the pipeline's API clock (`Settings.clock`, benchmarks/api_clock.py)
jump a day together, so Linear's hourly budget is full again and the once-a-day reads (the reconcile walk of
every issue id, the member profiles' rotation, the changes feed) are due, as on a user's next day; a wait for
budget jumps the sandbox's clock, not real time. Each run is bounded by `--timeout` (default 900 s): past it,
what was measured so far is written with a note and the command exits 2.

Requests are the sandbox's count per run (all APIs). The time ratio is the median run wall of the runs with
the history over the median without: both measured back to back in this process, so a busy machine slows both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import duckdb

import benchmarks.__main__ as bench
from benchmarks.api_clock import DAY, SandboxClock
from benchmarks.runner import step_seconds
from benchmarks.sandbox_proc import SandboxProcess

ANCHOR = dt.date(2024, 6, 30)
HOURLY_POINTS = 250_000
RAISED_POINTS = 5_000_000
DAILY_REQUEST_CAP = 40
TIME_RATIO_CAP = 1.2
PAIRS = 3
TIMEOUT_S = 900.0
HISTORY_KEYS = ("raw/linear_issue_history", "raw/linear_issue_state_spans")


def _history_metadata(result) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == HISTORY_KEYS[0]:
            return {k: v.value for k, v in event.materialization.metadata.items()}
    return {}


def _selection_without_history(definitions):
    """Every asset of the warehouse job but the history's two raw assets and what is downstream of them."""
    from dagster import AssetKey, AssetSelection  # noqa: PLC0415

    from orchestration.jobs import WAREHOUSE_JOB  # noqa: PLC0415 - only when a selection is built

    job = definitions.resolve_job_def(WAREHOUSE_JOB)
    graph = definitions.resolve_asset_graph()
    history = AssetSelection.assets(*[AssetKey(k.split("/")) for k in HISTORY_KEYS]).downstream()
    dropped = history.resolve(graph)
    keys = [k for k in job.asset_layer.selected_asset_keys if k not in dropped]
    return sorted(keys, key=lambda k: k.to_user_string()), sorted(k.to_user_string() for k in dropped)


def _forget_window_history(warehouse: Path, since: dt.date) -> int:
    """Drop the history of the issues updated since `since`: the next history load reads them all again."""
    with duckdb.connect(str(warehouse)) as con:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT id FROM raw.linear_issues WHERE updated_at >= $since", {"since": since}
            ).fetchall()
        ]
        for table in ("raw.linear_issue_history", "raw.linear_issue_state_spans"):
            con.execute(f"DELETE FROM {table} WHERE issue_id IN (SELECT unnest($ids::VARCHAR[]))", {"ids": ids})
    return len(ids)


def _give_up(out: dict, args, day: int) -> None:
    """A run outlasted --timeout: write what was measured, with a note, and end the process (a run cannot be
    stopped from outside its thread)."""
    out["timed_out"] = True
    out["note"] = f"a run on simulated day {day} did not finish in {args.timeout:g} s (--timeout): stopped"
    out["load"] = {"loadavg_start": out.get("loadavg_start"), "loadavg_end": bench.load_now(), "note": args.note}
    print(f"\nNOT COMPLETE: {out['note']}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"wrote {args.json}", flush=True)
    os._exit(2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--note", default="", help="the machine's load, e.g. 'busy machine: 5 helpers'")
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--pairs", type=int, default=PAIRS)
    ap.add_argument("--scale", type=float, default=1.0, help="1 = the team of 200 (smaller: a quick check)")
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds one run may take")
    args = ap.parse_args(argv)
    load_start = bench.load_now()
    cfg = bench.workload(args.scale, ANCHOR, args.latency_ms).with_(linear_complexity_per_hour=RAISED_POINTS)
    tmp = Path(tempfile.mkdtemp(prefix="history_cost_"))
    out: dict = {
        "kind": "history_cost",
        "command": "python -m benchmarks.history_cost " + " ".join(argv or []),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": bench.commit(),
        "machine": bench.machine(),
        "latency_ms": args.latency_ms,
        "scale": args.scale,
        "complexity_per_hour_in_the_sandbox": RAISED_POINTS,
        "loadavg_start": load_start,
        "later_days": "every run after the first load runs a simulated day after the one before "
        "(benchmarks/api_clock.py)",
    }
    try:
        with SandboxProcess(cfg) as sb:
            from dagster import DagsterInstance  # noqa: PLC0415 - after the sandbox is up

            from assets.common import API_RAW_KEYS  # noqa: PLC0415 - the pipeline is imported with the sandbox up
            from orchestration.clients.linear.client import HISTORY_BUDGET_RESERVE  # noqa: PLC0415 - the pipeline is imported with the sandbox up
            from orchestration.definitions import build_definitions  # noqa: PLC0415 - the pipeline is imported with the sandbox up
            from orchestration.runs import run_sync  # noqa: PLC0415 - the pipeline is imported with the sandbox up
            from orchestration.settings import Settings  # noqa: PLC0415 - the pipeline is imported with the sandbox up

            warehouse = tmp / "warehouse.duckdb"
            env = {
                **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
                **sb.env,
                "WAREHOUSE_PATH": str(warehouse),
                "WAREHOUSE_START_DATE": sb.info["start_date"],
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                "DBT_TARGET_PATH": str(tmp / "target"),  # dbt's builds in the temp dir, never the checkout's
            }
            clock = SandboxClock(sb.base_url)
            settings = replace(Settings.from_env(env), clock=clock)
            instance = DagsterInstance.ephemeral()
            start, end = dt.date.fromisoformat(sb.info["start_date"]), dt.date.fromisoformat(sb.info["anchor"])
            daily = (max(end - dt.timedelta(days=bench.RESYNC_DAYS), start), end)
            without, dropped = _selection_without_history(build_definitions(settings))
            out["deselected_without_history"] = dropped

            day = {"n": 0}

            def run(first, last, selection, later=True) -> dict:
                if later:  # the next simulated day (the module's docstring)
                    day["n"] += 1
                    clock.advance(DAY)
                sb.reset()
                watchdog = threading.Timer(args.timeout, _give_up, args=(out, args, day["n"]))
                watchdog.daemon = True
                watchdog.start()
                started = time.perf_counter()
                try:
                    outcome = run_sync(
                        settings, first, last, instance=instance, asset_selection=selection, log_level="WARNING"
                    )
                finally:
                    watchdog.cancel()
                wall = time.perf_counter() - started
                counts = sb.counts()
                steps = step_seconds(instance, outcome.run_id)
                meta = _history_metadata(outcome.result)
                return {
                    "run_wall_s": round(wall, 2),
                    "requests_total": sum(counts.values()),
                    "requests": counts,
                    "history_step_s": round(steps.get("linear_issue_history", 0.0), 2),
                    "history_requests": meta.get("api_requests"),
                    "history_points": meta.get("complexity_points"),
                    "history_issues_read": meta.get("issues_read"),
                    "budget_stop": outcome.budget_stop,
                    "success": outcome.result.success,
                    "simulated_day": day["n"],
                    "load_avg_1min": round(os.getloadavg()[0], 2),
                }

            print(f"backfill {start} .. {end} (raw tables; the history's first load)", flush=True)
            first = run(start, end, list(API_RAW_KEYS), later=False)
            print(first, flush=True)
            points = first["history_points"] or 0
            above_reserve = HOURLY_POINTS * (1 - HISTORY_BUDGET_RESERVE)
            out["first_load"] = {
                **first,
                "budget_hours_at_250k": round(points / HOURLY_POINTS, 2),
                # each hourly run spends what lies above the reserve (the daily reads come out of the reserve)
                "hourly_runs_at_250k": -(-points // above_reserve) if points else 0,
                "budget_reserve": HISTORY_BUDGET_RESERVE,
            }
            print("settling daily run (the whole job)", flush=True)
            out["settle"] = run(*daily, None)
            print(out["settle"], flush=True)
            with_history, without_history = [], []
            out.update(daily_with_history=with_history, daily_without_history=without_history)
            for n in range(args.pairs):
                changed = _forget_window_history(warehouse, daily[0])
                result = run(*daily, None) | {"window_issues_reread": changed}
                with_history.append(result)
                print(f"daily {n + 1} with the history: {result}", flush=True)
                result = run(*daily, without)
                without_history.append(result)
                print(f"daily {n + 1} without the history: {result}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med_with = statistics.median(r["run_wall_s"] for r in with_history)
    med_without = statistics.median(r["run_wall_s"] for r in without_history)
    ratio = med_with / med_without
    out.update(
        daily_with_history=with_history,
        daily_without_history=without_history,
        daily={
            "requests_max": max(r["requests_total"] for r in with_history),
            "requests_cap": DAILY_REQUEST_CAP,
            "history_requests_max": max(r["history_requests"] or 0 for r in with_history),
            "run_wall_median_s": med_with,
            "run_wall_median_without_history_s": med_without,
            "time_ratio": round(ratio, 3),
            "time_ratio_cap": TIME_RATIO_CAP,
        },
        load={"loadavg_start": load_start, "loadavg_end": bench.load_now(), "note": args.note},
    )
    f = out["first_load"]
    print(
        f"\nfirst load of the history (x{args.scale:g}): {f['history_requests']} requests, "
        f"{f['history_points']:,} complexity points ({f['budget_hours_at_250k']} h of Linear's 250k/hour; "
        f"{f['hourly_runs_at_250k']} hourly runs above the {HISTORY_BUDGET_RESERVE:.0%} reserve), "
        f"{f['history_step_s']} s"
    )
    d = out["daily"]
    print(
        f"daily run with the history: at most {d['requests_max']} requests (cap {DAILY_REQUEST_CAP}; the history "
        f"{d['history_requests_max']}), run wall median {med_with:.1f} s vs {med_without:.1f} s without the "
        f"history: {ratio:.2f}x (cap {TIME_RATIO_CAP}x); load average {out['load']}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
