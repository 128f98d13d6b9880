"""The flow marts against their Python recomputation on the team-of-200 workload:
`python -m benchmarks.flow_oracle [--scale 1] [--json benchmarks/results/flow-oracle-x1.json]`.

tests/test_marts_vs_python.py checks every flow mart against the oracle (`FlowReference`) on the sandbox's
demo in pytest; this checks the same at the scale a team of 200 has (SandboxConfig.team_of_200: ~250k
entries, 20,000 issues with their generated history), where a whole `make test` would not afford it. The
sandbox's records are loaded straight into raw (tests/test_dbt_harness.py `load_raw_direct`, the harness's
"direct" loader), `dbt build` runs on them, and each mart is compared with the oracle row by row:

- hours_per_issue_state, issue_flow, cycle_scope, estimate_accuracy: same keys, every field equal (numbers
  within 0.001 h; days within 1e-6), reported as rows, mismatching fields and the largest difference;
- hours_per_issue_state summed per issue equals hours_per_issue; cycle_scope's planned + added + outside
  hours equal hours_per_cycle (largest difference reported).

It exits 1 when anything differs (or dbt build fails); the JSON records the result with the commit measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb

import benchmarks.__main__ as bench
from sandbox import generate_workspace
from tests.test_dbt_harness import SourceData, load_raw_direct, run_dbt, workspace_tables
from tests.test_marts_vs_python import DAYS_TOL, FLOW_FIELDS, TOL, FlowReference, Reference

ANCHOR = dt.date(2024, 6, 30)  # pinned, as every team-of-200 benchmark: the data depends on it


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def compare(actual: dict, expected: dict, fields: list[str], tolerance: dict[str, float] | None = None) -> dict:
    """What tests/test_marts_vs_python.py `_compare` asserts, counted instead of asserted."""
    missing, extra = sorted(map(str, set(expected) - set(actual))), sorted(map(str, set(actual) - set(expected)))
    bad, max_diff = [], 0.0
    for key in set(actual) & set(expected):
        for f in fields:
            a, e = actual[key][f], expected[key][f]
            numeric = isinstance(e, (int, float)) or isinstance(a, (int, float))
            if numeric and a is not None and e is not None:
                diff = abs(float(a) - float(e))
                max_diff = max(max_diff, diff)
                ok = diff <= (tolerance or {}).get(f, TOL)
            else:
                ok = a == e
            if not ok:
                bad.append([str(key), f, str(a), str(e)])
    return {
        "rows": len(actual),
        "expected_rows": len(expected),
        "missing_rows": len(missing),
        "extra_rows": len(extra),
        "mismatched_fields": len(bad),
        "max_difference": max_diff,
        "examples": bad[:5] + [["missing", k] for k in missing[:3]] + [["extra", k] for k in extra[:3]],
        "equal": not (missing or extra or bad),
    }


def check(con, flow: FlowReference) -> dict:
    out = {}
    state = {
        (r["issue_id"], r["state_id"], r["state_type"]): r
        for r in _rows(con, "select * from marts.hours_per_issue_state")
    }
    out["hours_per_issue_state"] = compare(
        state, flow.hours_per_issue_state(), ["hours", "time_entry_count", "history_loaded"]
    )
    issue_flow = {r["issue_id"]: r for r in _rows(con, "select * from marts.issue_flow")}
    out["issue_flow"] = compare(
        issue_flow, flow.issue_flow(), FLOW_FIELDS, tolerance={f: DAYS_TOL for f in FLOW_FIELDS if "days" in f}
    )
    scope = {r["cycle_id"]: r for r in _rows(con, "select * from marts.cycle_scope")}
    expected_scope = flow.cycle_scope()
    out["cycle_scope"] = compare(scope, expected_scope, list(next(iter(expected_scope.values()))))
    accuracy = {(r["team_id"], r["estimate"]): r for r in _rows(con, "select * from marts.estimate_accuracy")}
    expected_accuracy = flow.estimate_accuracy()
    out["estimate_accuracy"] = compare(accuracy, expected_accuracy, list(next(iter(expected_accuracy.values()))))

    per_issue = defaultdict(float)
    for (issue_id, *_), r in state.items():
        per_issue[issue_id] += r["hours"]
    totals = {r["issue_id"]: r["hours"] for r in _rows(con, "select issue_id, hours from marts.hours_per_issue")}
    diffs = [abs(per_issue.get(i, 0.0) - totals.get(i, 0.0)) for i in set(per_issue) | set(totals)]
    out["state_hours_sum_to_hours_per_issue"] = {
        "issues": len(totals),
        "same_issues": set(per_issue) == set(totals),
        "max_difference": max(diffs, default=0.0),
        "equal": set(per_issue) == set(totals) and all(d <= TOL for d in diffs),
    }
    per_cycle = {r["cycle_id"]: r["hours"] for r in _rows(con, "select cycle_id, hours from marts.hours_per_cycle")}
    diffs = [
        abs(r["planned_hours"] + r["added_hours"] + r["outside_hours"] - per_cycle.get(cycle_id, 0.0))
        for cycle_id, r in scope.items()
    ]
    out["cycle_scope_hours_sum_to_hours_per_cycle"] = {
        "cycles": len(scope),
        "cycles_with_hours": len(per_cycle),
        "all_cycles_scoped": set(per_cycle) <= set(scope),
        "max_difference": max(diffs, default=0.0),
        "equal": set(per_cycle) <= set(scope) and all(d <= TOL for d in diffs),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--note", default="", help="the machine's load, e.g. 'busy machine: 5 helpers'")
    args = ap.parse_args(argv)
    started, timings = time.perf_counter(), {}
    load_start, measured = bench.load_now(), bench.commit()  # the checkout as it is when the run starts
    cfg = bench.workload(args.scale, ANCHOR, 0)
    work = Path(tempfile.mkdtemp(prefix="flow_oracle_"))
    try:
        t = time.perf_counter()
        ws = generate_workspace(cfg)
        data = SourceData(workspace_tables(ws))
        timings["generate_s"] = round(time.perf_counter() - t, 1)
        counts = {
            name: len(data.tables[name])
            for name in ("clockify_time_entries", "linear_issues", "linear_issue_history", "linear_issue_state_spans")
        }
        print(f"workload x{args.scale:g}: {counts}", flush=True)
        t = time.perf_counter()
        path = work / "warehouse.duckdb"
        load_raw_direct(path, data)
        timings["load_raw_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        build = run_dbt(["build"], path, work)
        timings["dbt_build_s"] = round(time.perf_counter() - t, 1)
        if build.returncode != 0:
            print(build.output[-5000:])
            print("dbt build failed")
            return 1
        t = time.perf_counter()
        flow = FlowReference(Reference(data.tables), data.tables)
        with duckdb.connect(str(path), read_only=True) as con:
            results = check(con, flow)
        timings["oracle_and_compare_s"] = round(time.perf_counter() - t, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    timings["wall_s"] = round(time.perf_counter() - started, 1)
    equal = all(r["equal"] for r in results.values())
    print("\n| check | rows | equal | mismatching fields | max difference |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        rows = r.get("rows", r.get("issues", r.get("cycles")))
        print(f"| {name} | {rows:,} | {r['equal']} | {r.get('mismatched_fields', '-')} | {r['max_difference']:.6g} |")
    print(f"\nall equal: {equal}; {timings}")
    if args.json:
        out = {
            "kind": "flow_oracle",
            "command": "python -m benchmarks.flow_oracle " + " ".join(argv or []),
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": measured,
            "machine": bench.machine(),
            "load": {"loadavg_start": load_start, "loadavg_end": bench.load_now(), "note": args.note},
            "scale": args.scale,
            "anchor": ANCHOR.isoformat(),
            "workload": counts,
            "equal": equal,
            "checks": results,
            "timings": timings,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
