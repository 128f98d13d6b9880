"""`python -m benchmarks` (= `make bench`): what the pipeline costs against the sandbox APIs.

The sandbox runs in its own process with 50 ms latency per request and Clockify's / Linear's rate limits
enforced; every measurement is a fresh pipeline process (`benchmarks.runner`) with a fresh temp
WAREHOUSE_PATH and an ephemeral Dagster instance. Prints a table and writes JSON.

    python -m benchmarks [--scale 0.1,1,10] [--only backfill,daily,strategies]
                         [--json benchmarks/results/latest.json] [--partition-days 5] [--note TEXT]
                         [--days N] [--rate-limits off]    (a smaller, faster workload: the smoke test's)
    python -m benchmarks --user [...]    `warehouse sync` as a user starts it (benchmarks/user.py)

Every JSON records what it measured, where and when: `commit` (the checkout's HEAD and any uncommitted
change to the measured code), `machine`, and `load` (load averages before and after, and `--note`, e.g.
"shared machine, other test suites running"); each measurement also keeps its own load average. The figures
in benchmarks/RESULTS.md are rendered from committed JSON files (`python -m benchmarks.render`).

Scale s = round(200 s) users and 20,000 s issues over 365 days (s=1 is "team of 200", ~250k entries).
`--wide` adds the 10x-users check feasible on one machine: 2,000 users over 36 days (~250k entries,
20,000 issues): the same entries as x1 spread over 10x the users.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.sandbox_proc import SandboxProcess
from sandbox import SandboxConfig

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"
RESYNC_DAYS = 7


def machine() -> dict:
    def run(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    lscpu = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in run(["lscpu"]).splitlines())}
    mem_kib = 0
    with contextlib.suppress(OSError, StopIteration, ValueError), open("/proc/meminfo") as meminfo:
        mem_kib = int(next(x for x in meminfo if x.startswith("MemTotal")).split()[1])
    return {
        "cpu": lscpu.get("Model name", platform.processor()),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


# What a measurement runs: a change here that is not committed makes the recorded commit not the whole story.
MEASURED_PATHS = ("orchestration", "assets", "dbt_project", "sandbox", "benchmarks", "pyproject.toml")


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def commit() -> dict:
    """The checkout being measured: HEAD, its subject, and uncommitted changes to the measured code."""
    dirty = [line[3:] for line in _git("status", "--porcelain", "--", *MEASURED_PATHS).splitlines() if line]
    return {
        "sha": _git("rev-parse", "HEAD") or None,
        "subject": _git("log", "-1", "--format=%s") or None,
        "date": _git("log", "-1", "--format=%cI") or None,
        "uncommitted_changes": dirty,
    }


def load_now() -> list[float]:
    """1, 5 and 15-minute load averages: above the core count, other work inflated the wall times."""
    return [round(x, 2) for x in os.getloadavg()]


def workload(
    scale: float,
    anchor: dt.date,
    latency_ms: int,
    users: int | None = None,
    days: int | None = None,
    issues: int | None = None,
    rate_limits: bool = True,
) -> SandboxConfig:
    overrides = dict(users=users or max(1, round(200 * scale)), issues=issues or max(10, round(20000 * scale)))
    if days:
        overrides["days"] = days
    return SandboxConfig.team_of_200(anchor=anchor, latency_ms=latency_ms, enforce_rate_limits=rate_limits, **overrides)


def measure(
    sb: SandboxProcess,
    runs: list[tuple[dt.date, dt.date]],
    warehouse: Path,
    *,
    selection="all",
    strategy: str | None = None,
    log_dir: Path,
) -> dict:
    """One pipeline process; its own figures plus the sandbox's request counts."""
    spec = {
        "env": {
            **sb.env,
            "WAREHOUSE_PATH": str(warehouse),
            "WAREHOUSE_START_DATE": sb.info["start_date"],
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        "runs": [[a.isoformat(), b.isoformat()] for a, b in runs],
        "selection": selection,
        "strategy": strategy,
    }
    spec_path = log_dir / f"spec-{time.monotonic_ns()}.json"
    out_path = spec_path.with_suffix(".out.json")
    spec_path.write_text(json.dumps(spec))
    sb.reset()
    load_before = os.getloadavg()[0]
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    started = time.perf_counter()
    with open(spec_path.with_suffix(".log"), "w") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.runner", str(spec_path), str(out_path)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = "\n".join(spec_path.with_suffix(".log").read_text().splitlines()[-40:])
        raise RuntimeError(f"pipeline run failed:\n{tail}")
    result = json.loads(out_path.read_text())
    counts = sb.counts()
    result.update(
        wall_s=wall,
        requests=counts,
        requests_total=sum(counts.values()),
        requests_clockify=counts["clockify"] + counts["clockify_reports"],
        requests_linear=counts["linear"],
        rows_per_s=(result["duckdb_rows"] / result["duckdb_write_s"]) if result["duckdb_write_s"] else None,
        time_entries_rows_per_s=(result["time_entries_rows"] / result["time_entries_write_s"])
        if result["time_entries_write_s"]
        else None,
        # the part of the load left after the last page arrived (staging overlaps the fetch)
        time_entries_commit_rows_per_s=(result["time_entries_rows"] / result["time_entries_commit_s"])
        if result.get("time_entries_commit_s")
        else None,
        strategy=strategy or "report",
        # other work on the machine inflates wall times; CPU seconds are less affected
        load_avg_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        cpu_s=result["cpu_user_s"] + result["cpu_sys_s"],
        first_day=runs[0][0].isoformat(),
        last_day=runs[-1][1].isoformat(),
    )
    return result


def bench_workload(
    label: str, cfg: SandboxConfig, only: set[str], partition_days: int, tmp: Path, selection="all"
) -> dict:
    today = cfg.anchor_date + dt.timedelta(days=1)
    out: dict = {"label": label, "users": cfg.users, "days": cfg.days, "issues": cfg.issues}
    started = time.perf_counter()
    with SandboxProcess(cfg) as sb:
        out["entries"] = sb.info["summary"]["clockify_time_entries"]
        out["running_entries"] = sb.info["running_time_entries"]
        out["sandbox_build_s"] = sb.info["build_seconds"]
        start, end = dt.date.fromisoformat(sb.info["start_date"]), dt.date.fromisoformat(sb.info["anchor"])
        daily = (max(end - dt.timedelta(days=RESYNC_DAYS), start), end)  # = schedules.daily_window(today, 7)
        backfilled = tmp / f"{label}-backfill.duckdb"
        if only & {"backfill", "daily"}:
            print(f"[{label}] year backfill {start} .. {end} ({out['entries']} entries)", flush=True)
            out["backfill"] = measure(sb, [(start, end)], backfilled, selection=selection, log_dir=tmp)
        if "daily" in only:
            print(f"[{label}] daily run on {today}: {daily[0]} .. {daily[1]}", flush=True)
            # On the backfilled warehouse itself, as in production: the daily run follows earlier runs on the
            # same WAREHOUSE_PATH, so dbt parses partially (a copy at another path would re-parse fully).
            out["daily"] = measure(sb, [daily], backfilled, selection=selection, log_dir=tmp)
        if "strategies" in only:
            strategies = out["strategies"] = {}
            for strategy in ("report", "per_user"):
                for name, window in (("year", (start, end)), ("daily_window", daily)):
                    print(f"[{label}] time entries only, {strategy}, {name}", flush=True)
                    strategies[f"{strategy}_{name}"] = measure(
                        sb,
                        [window],
                        tmp / f"{label}-{strategy}-{name}.duckdb",
                        selection=["clockify_time_entries"],
                        strategy=strategy,
                        log_dir=tmp,
                    )
            days = [end - dt.timedelta(days=i) for i in range(partition_days - 1, -1, -1)]
            print(f"[{label}] one run per partition, {partition_days} days, full job", flush=True)
            per_partition = measure(
                sb, [(d, d) for d in days], tmp / f"{label}-partitions.duckdb", selection=selection, log_dir=tmp
            )
            factor = cfg.days / partition_days
            per_partition["extrapolated_to_days"] = cfg.days
            per_partition["extrapolated_requests_total"] = per_partition["requests_total"] * factor
            per_partition["extrapolated_wall_s"] = per_partition["run_wall_s"] * factor
            strategies["per_partition_runs"] = per_partition
        out["sandbox_peak_rss_mib"] = sb.rss_mib()  # the third process: the sandbox serving the APIs
    # The whole measurement of this workload: sandbox build, every pipeline process, sandbox shut-down.
    out["workload_wall_s"] = time.perf_counter() - started
    return out


def _row(name: str, r: dict) -> str:
    return (
        f"| {name} | {r['requests_total']} ({r['requests_clockify']} C / {r['requests_linear']} L) "
        f"| {r['wall_s']:.1f} | {r['run_wall_s']:.1f} | {r['dbt_build_s']:.1f} | {r['duckdb_rows']:,} "
        f"| {(r['rows_per_s'] or 0):,.0f} | {(r['time_entries_rows_per_s'] or 0):,.0f} "
        f"| {(r.get('time_entries_commit_rows_per_s') or 0):,.0f} "
        f"| {r['peak_rss_pipeline_mib']:,.0f} | {r['peak_rss_dbt_mib']:,.0f} |"
    )


def table(results: list[dict]) -> str:
    lines = [
        "| workload / measurement | API requests (Clockify / Linear) | process wall s | run wall s "
        "| dbt build s | rows written | rows/s, all loads | rows/s, time-entry load (stage + commit) "
        "| rows/s, time-entry commit | peak RSS MiB, pipeline process | peak RSS MiB, dbt subprocess |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in results:
        head = f"{w['label']}: {w['users']} users, {w['days']} d, {w['entries']:,} entries"
        if "backfill" in w:
            lines.append(_row(f"{head}: backfill", w["backfill"]))
        if "daily" in w:
            lines.append(_row(f"{head}: daily run", w["daily"]))
        for name, r in w.get("strategies", {}).items():
            lines.append(_row(f"{head}: {name}", r))
            if "extrapolated_requests_total" in r:
                lines.append(
                    f"| {head}: per-partition runs extrapolated to {r['extrapolated_to_days']} days "
                    f"| {r['extrapolated_requests_total']:,.0f} | | {r['extrapolated_wall_s']:,.0f} "
                    "| | | | | | | |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--user"]:  # what a user waits for: `warehouse sync` processes, benchmarks/user.py
        from benchmarks.user import main as user_main  # noqa: PLC0415 - it imports this module

        return user_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="0.1,1", help="comma-separated workload scales (1 = team of 200)")
    ap.add_argument("--wide", action="store_true", help="also 10x users over 36 days (~250k entries)")
    ap.add_argument("--only", default="backfill,daily,strategies")
    ap.add_argument("--strategies-scale", default="0.1", help="scales that also run the strategy comparison")
    ap.add_argument("--partition-days", type=int, default=5, help="days measured for one-run-per-partition")
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--json", default=str(DEFAULT_JSON))
    ap.add_argument("--raw-only", action="store_true", help="raw loads only, no dbt build (smoke test)")
    ap.add_argument("--days", type=int, default=None, help="days of data per workload (default 365)")
    ap.add_argument("--rate-limits", choices=("enforced", "off"), default="enforced", help="the sandbox's")
    ap.add_argument("--note", default="", help="what else ran on the machine (recorded under load.note)")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    strategy_scales = {float(x) for x in args.strategies_scale.split(",") if x}
    anchor = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)  # a year ending yesterday
    report: dict = {
        "commit": commit(),
        "machine": machine(),
        "load": {"loadavg_start": load_now(), "loadavg_end": None, "note": args.note},
        "command": "python -m benchmarks " + " ".join(argv),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "latency_ms": args.latency_ms,
        "rate_limits": args.rate_limits,
        "workloads": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        plan = [
            (
                f"x{s:g}",
                workload(s, anchor, args.latency_ms, days=args.days, rate_limits=args.rate_limits == "enforced"),
                only if s in strategy_scales else only - {"strategies"},
            )
            for s in (float(x) for x in args.scale.split(",") if x)
        ]
        if args.wide:
            plan.append(
                ("x10-users-36d", workload(10, anchor, args.latency_ms, days=36, issues=20000), only - {"strategies"})
            )
        for label, cfg, parts in plan:
            report["workloads"].append(
                bench_workload(
                    label, cfg, parts, args.partition_days, Path(tmp), selection="raw" if args.raw_only else "all"
                )
            )
            report["load"]["loadavg_end"] = load_now()
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(
        f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"{report['machine']['memory_gib']} GiB; sandbox latency {args.latency_ms} ms, rate limits {args.rate_limits}; "
        f"load average {report['load']['loadavg_start']} -> {report['load']['loadavg_end']}"
    )
    print(table(report["workloads"]))
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
