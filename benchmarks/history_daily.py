"""What the issue history adds to the team-of-200 runs: `python -m benchmarks.history_daily BASELINE_DIR`.

BASELINE_DIR is a checkout of the code before the history (e.g. `git archive integ | tar -x -C DIR`). In one
sandbox process (SandboxConfig.team_of_200, 50 ms latency, rate limits enforced) this measures, each as a fresh
pipeline process like `python -m benchmarks`:

1. the year backfill with this checkout (the history's first load included);
2. the daily run (yesterday + 7 days) on that warehouse with this checkout, twice (the first also re-reads
   the history of the issues the backfill's own writes touched, none here; the second is the steady state);
3. the daily run on the same warehouse with the baseline checkout, twice (its first run parses dbt fully:
   another project path), the second being "today's" figure.

It prints requests (Clockify / Linear), run and process wall seconds, and the ratio of the history-era daily
run to today's. The sandbox's Linear complexity budget is raised to 5,000,000 points/hour here so the
first load completes inside the backfill (at Linear's 250,000 it takes about 4 hours of budget and
continues over the next runs: benchmarks/history_shapes.py prints that figure); requests stay enforced.

    python -m benchmarks.history_daily /tmp/base [--json benchmarks/results/history-daily.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path

import benchmarks.__main__ as bench
from benchmarks.sandbox_proc import SandboxProcess

FIELDS = ("requests_total", "requests_clockify", "requests_linear", "run_wall_s", "wall_s", "load_avg_1min")


def _summary(r: dict) -> dict:
    return {k: r.get(k) for k in FIELDS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--latency-ms", type=int, default=50)
    args = ap.parse_args(argv)
    anchor = dt.date(2024, 6, 30)
    cfg = bench.workload(1.0, anchor, args.latency_ms).with_(linear_complexity_per_hour=5_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="history_daily_"))
    out: dict = {"measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "commit": bench.commit()}
    try:
        with SandboxProcess(cfg) as sb:
            start, end = dt.date.fromisoformat(sb.info["start_date"]), dt.date.fromisoformat(sb.info["anchor"])
            daily = (max(end - dt.timedelta(days=bench.RESYNC_DAYS), start), end)
            wh = tmp / "warehouse.duckdb"
            print(f"year backfill {start} .. {end} (this checkout)", flush=True)
            out["backfill"] = bench.measure(sb, [(start, end)], wh, log_dir=tmp)
            print(_summary(out["backfill"]), flush=True)
            for n in (1, 2):
                print(f"daily run {n} (this checkout)", flush=True)
                out[f"daily_{n}"] = bench.measure(sb, [daily], wh, log_dir=tmp)
                print(_summary(out[f"daily_{n}"]), flush=True)
            root = bench.ROOT
            try:
                bench.ROOT = args.baseline.resolve()  # measure() runs the runner from ROOT: the baseline's code
                for n in (1, 2):
                    print(f"daily run {n} (baseline {args.baseline})", flush=True)
                    out[f"baseline_daily_{n}"] = bench.measure(sb, [daily], wh, log_dir=tmp)
                    print(_summary(out[f"baseline_daily_{n}"]), flush=True)
            finally:
                bench.ROOT = root
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    now, before = out["daily_2"], out["baseline_daily_2"]
    print("\n| measurement | requests (Clockify / Linear) | run wall s | process wall s | 1-min load |")
    print("|---|---|---|---|---|")
    for name in ("backfill", "daily_1", "daily_2", "baseline_daily_1", "baseline_daily_2"):
        r = out[name]
        print(
            f"| {name} | {r['requests_total']} ({r['requests_clockify']} / {r['requests_linear']}) | "
            f"{r['run_wall_s']:.1f} | {r['wall_s']:.1f} | {r['load_avg_1min']} |"
        )
    ratio = now["run_wall_s"] / before["run_wall_s"]
    print(
        f"\ndaily run with the history: {now['requests_total']} requests (cap 40), run wall {ratio:.2f}x today's "
        f"(cap 1.2x; process wall {now['wall_s'] / before['wall_s']:.2f}x)"
    )
    out["daily_ratio_run_wall"] = ratio
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
