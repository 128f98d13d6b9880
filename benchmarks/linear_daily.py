"""Linear requests of the daily runs after a backfill: `python -m benchmarks.linear_daily [--scale 0.05] [--json FILE]`.

One sandbox in this process (the team of 200 at `--scale`, frozen clock, no latency: only requests are counted)
and `run_sync` (the code path of `warehouse sync`) on the Linear raw assets alone: the dimensions, the issues,
the reconcile id walk and the history (Clockify's requests and dbt do not depend on how issues are read).

1. the backfill of the whole range (the first, full load);
2. `--days` daily runs (yesterday and the 7 days before, as the schedule), each a simulated day later, after
   `--edits` issues were edited upstream (default 1% of the issues a day);
3. a warm re-run of the whole backfill range.

Printed per run: the sandbox's Linear request count and each asset's `api_requests` (its metadata), and the
issues the issues walk read. Run it on two checkouts to compare them (the figures are counts: the machine's
load does not change them).
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

ANCHOR = dt.date(2024, 6, 30)
DAY = 86_400.0


def _requests_per_asset(outcome) -> dict[str, int]:
    out: dict[str, int] = {}
    for event in outcome.result.get_asset_materialization_events():
        name = event.asset_key.path[-1]
        value = event.materialization.metadata.get("api_requests")
        if value is not None and name not in out:  # a partitioned asset: one event per day, the same metadata
            out[name] = int(value.value)
    return out


def _issues_read(outcome) -> str:
    for event in outcome.result.get_asset_materialization_events():
        if event.asset_key.path[-1] == "linear_issues":
            return str(event.materialization.metadata["walk"].value)
    return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.05, help="1 = the team of 200 (20,000 issues)")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--edits", type=int, default=None, help="issues edited a day (default 1%% of them)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from dagster import DagsterInstance  # noqa: PLC0415 - the pipeline is imported after the arguments parse

    from assets.common import raw_key  # noqa: PLC0415 - as above
    from orchestration.runs import run_sync  # noqa: PLC0415 - as above
    from orchestration.settings import Settings  # noqa: PLC0415 - as above
    from orchestration.warehouse import raw_tables as t  # noqa: PLC0415 - as above
    from sandbox import Sandbox  # noqa: PLC0415 - as above

    cfg = bench.workload(args.scale, ANCHOR, 0).with_(clock="frozen", linear_complexity_per_hour=5_000_000)
    linear = [raw_key(table) for table in t.ALL_TABLES if table.name.startswith("linear_")]
    tmp = Path(tempfile.mkdtemp(prefix="linear_daily_"))
    out: dict = {
        "kind": "linear_daily",
        "command": "python -m benchmarks.linear_daily " + " ".join(argv or []),
        "commit": bench.commit(),
        "scale": args.scale,
        "load_start": bench.load_now(),
        "runs": [],
    }
    with Sandbox(cfg) as sb:
        env = {
            **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
            **sb.env(),
            "WAREHOUSE_PATH": str(tmp / "warehouse.duckdb"),
            "WAREHOUSE_START_DATE": cfg.start_date.isoformat(),
        }
        settings = dataclasses.replace(Settings.from_env(env), clock=sb.clock)
        instance = DagsterInstance.ephemeral()
        issues = sb.workspace.linear_issues
        edits = args.edits if args.edits is not None else max(1, len(issues) // 100)
        out["issues"], out["edits_per_day"] = len(issues), edits

        def run(name: str, first: dt.date, last: dt.date) -> None:
            before = sb.request_counts()["linear"]
            outcome = run_sync(settings, first, last, instance=instance, asset_selection=linear, log_level="WARNING")
            row = {
                "run": name,
                "linear_requests": sb.request_counts()["linear"] - before,
                "per_asset": _requests_per_asset(outcome),
                "issues_walk": _issues_read(outcome),
                "budget_stop": outcome.budget_stop,
            }
            out["runs"].append(row)
            print(json.dumps(row), flush=True)

        run("backfill", cfg.start_date, cfg.anchor_date)
        for day in range(args.days):
            sb.clock.advance(DAY)
            for n in range(edits):
                issue = issues[(day * edits + n) % len(issues)]
                sb.workspace.edit_issue(issue["id"], title=f"{issue['title']} (edited on day {day + 1})")
            run(f"daily {day + 1}", cfg.anchor_date - dt.timedelta(days=7), cfg.anchor_date)
        run("warm backfill", cfg.start_date, cfg.anchor_date)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
