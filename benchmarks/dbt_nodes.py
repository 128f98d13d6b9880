"""Where a `dbt build` spends its time, node by node: `python -m benchmarks.dbt_nodes`.

Builds the warehouse's dbt project as a run's build does (`assets/dbt.py`: its threads, no unit tests, the
warehouse's vars) on a copy of a demo warehouse, and prints from dbt's run_results.json: the nodes by kind,
the data tests (how many, their thread-seconds), the models' thread-seconds, and the slowest nodes. A
thread-second is one node's `execution_time`; with 8 threads they overlap, so they add up to more than the
build's elapsed time, which is printed too (and the wall of the dbt process, parse included).

The demo warehouse: `--warehouse PATH` (copied, never written), else one made here: the sandbox's team of
200 (`--scale`, 1 = 200 people, 20,000 issues, a year) loaded through the raw assets only
(`benchmarks.__main__.measure`, selection `raw`, no latency), then built twice: the first build makes the
models, the second is the figure of a run on a built warehouse (as a daily run's). `--keep-warehouse PATH`
saves the raw warehouse made, so another project (`--project-dir`, e.g. an older commit's dbt_project/)
can be measured on the same data.

    python -m benchmarks.dbt_nodes [--scale 1] [--warehouse PATH | --keep-warehouse PATH] [--builds 2]
                                   [--project-dir DIR] [--top 12] [--json benchmarks/results/dbt-nodes.json]
                                   [--note TEXT]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

from assets.dbt import DBT_THREADS, RUN_EXCLUDES
from benchmarks.__main__ import commit, load_now, machine, measure, workload
from benchmarks.sandbox_proc import SandboxProcess
from orchestration.dbt_project import dbt_executable, dbt_vars
from orchestration.settings import DBT_PROJECT_DIR

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "dbt-nodes.json"


def make_warehouse(scale: float, workdir: Path) -> tuple[Path, dict]:
    """The sandbox's team of 200 at `scale`, a year ending yesterday, loaded into raw (no dbt)."""
    anchor = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    cfg = workload(scale, anchor, latency_ms=0)
    path = workdir / "demo.duckdb"
    with SandboxProcess(cfg) as sb:
        start = dt.date.fromisoformat(sb.info["start_date"])
        measure(sb, [(start, anchor)], path, selection="raw", log_dir=workdir)
        return path, sb.info["summary"]


def build(warehouse: Path, workdir: Path, project_dir: Path = DBT_PROJECT_DIR) -> dict:
    """One `dbt build` as a run's, in its own target directory; its figures from run_results.json."""
    target = workdir / "target"
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [dbt_executable(), "build", "--threads", str(DBT_THREADS), *RUN_EXCLUDES, *dbt_vars(warehouse)]
    command += ["--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    command += ["--target-path", str(target), "--log-path", str(workdir / "logs")]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=project_dir, capture_output=True, text=True)
    wall = time.perf_counter() - started
    results = json.loads((target / "run_results.json").read_text())
    nodes = [
        {
            "unique_id": r["unique_id"],
            "kind": r["unique_id"].split(".", 1)[0],
            "name": r["unique_id"].split(".")[2],
            "status": r["status"],
            "seconds": round(r["execution_time"], 3),
        }
        for r in results["results"]
    ]

    def of(kind: str) -> list[dict]:
        return [n for n in nodes if n["kind"] == kind]

    return {
        "returncode": proc.returncode,
        "wall_s": round(wall, 2),
        "elapsed_s": round(results["elapsed_time"], 2),
        "nodes": {kind: len(of(kind)) for kind in sorted({n["kind"] for n in nodes})},
        "data_tests": len(of("test")),
        "data_tests_s": round(sum(n["seconds"] for n in of("test")), 2),
        "models": len(of("model")),
        "models_s": round(sum(n["seconds"] for n in of("model")), 2),
        "thread_s": round(sum(n["seconds"] for n in nodes), 2),
        "not_passed": [f"{n['name']}: {n['status']}" for n in nodes if n["status"] not in ("success", "pass")],
        "slowest": sorted(nodes, key=lambda n: -n["seconds"]),
        "output_tail": proc.stdout[-3000:] if proc.returncode else "",
    }


def show(label: str, b: dict, top: int) -> None:
    print(
        f"{label}: wall {b['wall_s']:.1f} s (dbt's elapsed {b['elapsed_s']:.1f} s), {b['thread_s']:.1f} "
        f"thread-s in {sum(b['nodes'].values())} nodes {b['nodes']}"
    )
    print(f"  data tests: {b['data_tests']}, {b['data_tests_s']:.1f} thread-s")
    print(f"  models:     {b['models']}, {b['models_s']:.1f} thread-s")
    if b["not_passed"]:
        print(f"  not passed: {', '.join(b['not_passed'])}")
    for n in b["slowest"][:top]:
        print(f"  {n['seconds']:7.2f} s  {n['kind']:<5} {n['name']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.dbt_nodes", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="workload scale of the demo warehouse (1 = team of 200)")
    ap.add_argument("--warehouse", help="an existing warehouse to build a copy of (instead of making one)")
    ap.add_argument("--keep-warehouse", help="save the raw warehouse made here to this path")
    ap.add_argument("--project-dir", default=str(DBT_PROJECT_DIR), help="the dbt project built")
    ap.add_argument("--builds", type=int, default=2, help="builds in a row on the same copy")
    ap.add_argument("--top", type=int, default=12, help="slowest nodes printed per build")
    ap.add_argument("--json", default=str(DEFAULT_JSON))
    ap.add_argument("--note", default="", help="what else ran on the machine (recorded under load.note)")
    args = ap.parse_args(argv)
    report: dict = {
        "commit": commit(),
        "machine": machine(),
        "load": {"loadavg_start": load_now(), "loadavg_end": None, "note": args.note},
        "command": "python -m benchmarks.dbt_nodes " + " ".join(argv or []),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dbt_threads": DBT_THREADS,
        "project_dir": args.project_dir,
    }
    with tempfile.TemporaryDirectory(prefix="dbt-nodes-") as tmp:
        workdir = Path(tmp)
        if args.warehouse:
            source, report["warehouse"] = Path(args.warehouse), args.warehouse
        else:
            source, summary = make_warehouse(args.scale, workdir)
            report["warehouse"] = {"scale": args.scale, "sandbox": summary}
            if args.keep_warehouse:
                shutil.copy(source, args.keep_warehouse)
        copy = workdir / "build" / "warehouse.duckdb"
        copy.parent.mkdir()
        shutil.copy(source, copy)
        con = duckdb.connect(str(copy), read_only=True)
        try:
            report["raw_rows"] = {
                table: con.execute(f"select count(*) from raw.{table}").fetchone()[0]
                for table in ("clockify_time_entries", "linear_issues")
            }
        finally:
            con.close()
        report["measurements"] = [build(copy, copy.parent, Path(args.project_dir)) for _ in range(args.builds)]
    report["load"]["loadavg_end"] = load_now()
    for i, b in enumerate(report["measurements"], 1):
        show(f"build {i}", b, args.top)
    print(f"load average {report['load']['loadavg_start']} -> {report['load']['loadavg_end']}")
    for b in report["measurements"]:
        b["slowest"] = b["slowest"][: max(args.top, 40)]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {args.json}")
    return 0 if all(b["returncode"] == 0 for b in report["measurements"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
