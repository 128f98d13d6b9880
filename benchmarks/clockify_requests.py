"""Clockify requests of a backfill, then of daily runs, per endpoint:
`python -m benchmarks.clockify_requests [--scale 0.05] [--days 3] [--json FILE]`.

One in-process sandbox (the benchmark workload, `benchmarks.__main__.workload`, on a frozen clock from the
day after its data's last day, no latency) and `run_sync` of the Clockify raw assets only (no dbt: the
figures are requests, not times): the backfill of every day, then `--days` daily runs (yesterday + 7 days),
the clock a day later before each. Printed: each run's requests per endpoint (the sandbox's counts), and
the main API's total. Issues 15 and 16: the daily run within 40 requests in all, Clockify's share 12.

Measured at x1 (team of 200, 24 projects) on 2026-12-02, daily runs on a new day (the whole Clockify share,
main API + reports): 49 before wave 7 (10 lists, 2 time-off pages, 29 profiles, 4 DONE listings, 5 report
pages); 17-20 after (users, projects, time off, the changes feed's 2 and the 5 report pages every run, at
most one rarely changing list, at most one DONE listing, 7-8 profiles at CLOCKIFY_RECORD_REFRESH_DAYS=28).
Request counts do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import benchmarks.__main__ as bench
from assets.common import API_RAW_KEYS
from orchestration.runs import run_sync
from orchestration.settings import Settings
from sandbox import Sandbox

ANCHOR = dt.date(2024, 6, 30)
DAY = 86400.0


def _settings(sb, warehouse: Path):
    env = {
        **os.environ,
        **sb.env(),
        "WAREHOUSE_PATH": str(warehouse),
        "WAREHOUSE_START_DATE": sb.config.start_date.isoformat(),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    for name in ("MARTS_PATH", "DAGSTER_HOME"):  # an ephemeral instance, the marts beside the warehouse
        env.pop(name, None)
    return dataclasses.replace(Settings.from_env(env), clock=sb.clock)


def measure(scale: float, daily_runs: int) -> dict:
    cfg = bench.workload(scale, ANCHOR, 0).with_(
        enforce_rate_limits=False,
        clock="frozen",
        clock_start=dt.datetime.combine(ANCHOR + dt.timedelta(days=1), dt.time(3), dt.UTC),
        owner_timezone="UTC",
    )
    clockify_keys = [k for k in API_RAW_KEYS if k.path[-1].startswith("clockify_") and "links" not in k.path[-1]]
    runs = []
    with tempfile.TemporaryDirectory() as tmp, Sandbox(cfg) as sb:
        warehouse = Path(tmp) / "warehouse.duckdb"
        summary = {"users": len(sb.workspace.clockify_users), "projects": len(sb.workspace.clockify_projects)}
        for index in range(daily_runs + 1):
            if index:
                sb.clock.advance(DAY)
            last = min(sb.clock.now().date() - dt.timedelta(days=1), cfg.anchor_date)
            first = cfg.start_date if index == 0 else last - dt.timedelta(days=7)
            sb.reset_counts()
            outcome = run_sync(_settings(sb, warehouse), first, last, asset_selection=clockify_keys)
            counts = sb.endpoint_counts()
            runs.append(
                {
                    "run": "backfill" if index == 0 else f"daily {index}",
                    "days": f"{first} .. {last}",
                    "success": outcome.result.success,
                    "main": sum(n for k, n in counts.items() if k.startswith("clockify ")),
                    "reports": sum(n for k, n in counts.items() if k.startswith("clockify_reports ")),
                    "endpoints": dict(sorted(counts.items())),
                }
            )
    return {"scale": scale, "workload": summary, "runs": runs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.05, help="1 = the team of 200")
    ap.add_argument("--days", type=int, default=3, help="daily runs after the backfill")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    report = measure(args.scale, args.days)
    print(f"x{args.scale:g}: {report['workload']['users']} users, {report['workload']['projects']} projects")
    for run in report["runs"]:
        total = run["main"] + run["reports"]
        print(f"\n{run['run']} ({run['days']}): {run['main']} main API + {run['reports']} reports = {total} requests")
        for endpoint, n in run["endpoints"].items():
            print(f"  {n:5d}  {endpoint}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
