"""What loading Linear's issue history costs, per query shape: `python -m benchmarks.history_shapes`.

The history hangs off each issue (no root query), so ISSUE_HISTORY_QUERY nests `history(first: h)` and
`stateHistory(first: s)` under a page of issues picked by id; Linear prices a query by its `first`s, not by
what comes back, so larger nested pages cost points on every issue and smaller ones cost follow-up requests
(ISSUE_HISTORY_PAGE_QUERY / ISSUE_STATE_SPANS_PAGE_QUERY, `first: p`) on the issues with more. For each
shape (h, s, p) this prints, for the team-of-200 workload (SandboxConfig.team_of_200, 20,000 issues):

- the first load (every issue): requests, complexity points, hours of Linear's 250,000 points/hour budget;
- the daily run (the issues updated in the daily window, yesterday + 7 days): requests and points;

counted exactly from the sandbox's per-issue record and span counts with the client's own arithmetic
(`history_batch_size`, `queries.history_batch_points`, checked against Linear's rule in
tests/test_linear_queries.py). Then it measures the shortlisted shapes for real: the client's walk over
HTTP against the sandbox on a sample of issues, counting requests and the `x-complexity` the sandbox
charged, with wall seconds, and the prediction for that sample beside it (they must agree).

    python -m benchmarks.history_shapes [--sample 2000] [--json /tmp/history-shapes.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import time
from pathlib import Path

from orchestration.clients.linear import queries as q
from orchestration.clients.linear.client import (
    HISTORY_FIRST,
    HISTORY_PAGE_FIRST,
    SPANS_FIRST,
    LinearClient,
    history_batch_size,
)
from sandbox import Sandbox, SandboxConfig
from sandbox import history as sandbox_history

ANCHOR = dt.date(2024, 6, 30)  # pinned: the sandbox's data depends on it
HOURLY_POINTS = 250_000
DAILY_WINDOW_DAYS = 8  # schedules.daily_window: yesterday + 7 days
DAILY_REQUESTS_TODAY = 24  # benchmarks/RESULTS.md: the team-of-200 daily run before the history
DAILY_REQUEST_CAP = 40
GRID = [(h, s, p) for h in (3, 4, 5, 6, 8, 10, 13) for s in (3, 4, 5, 6, 8, 10) for p in (10, 25)]


def predict(counts: list[tuple[int, int]], h: int, s: int, p: int) -> dict:
    """Requests and points of the walk over issues with these (history records, state spans) counts."""
    size = history_batch_size(h, s)
    batches = math.ceil(len(counts) / size) if counts else 0
    points = 0.0
    for n in range(batches):
        points += q.history_batch_points(min(size, len(counts) - n * size), h, s)
    follow_h = sum(math.ceil(max(0, hc - h) / p) for hc, _ in counts)
    follow_s = sum(math.ceil(max(0, sc - s) / p) for _, sc in counts)
    points += follow_h * q.history_page_points(p) + follow_s * q.history_page_points(p, spans=True)
    return dict(batch_size=size, requests=batches + follow_h + follow_s, points=round(points, 1))


def measure(sb, issue_ids: list[str], h: int, s: int, p: int) -> dict:
    env = sb.env()
    client = LinearClient(api_key=env["LINEAR_API_KEY"], api_url=env["LINEAR_API_URL"])
    charged = []
    client.http.session.hooks["response"].append(
        lambda r, *a, **k: charged.append(float(r.headers.get("x-complexity") or 0))
    )
    started = time.perf_counter()
    # The cost, not the pacing: one sandbox serves every shape, so the walk must not stop at its budget (a
    # negative reserve: every batch fits whatever the buckets hold).
    walk = client.issue_history(issue_ids, history_first=h, spans_first=s, page_first=p, budget_reserve=-1e12)
    records = spans = 0
    for batch in walk:
        records += len(batch.history)
        spans += len(batch.spans)
    return dict(
        requests=walk.requests,
        requests_seen_by_http=len(charged),
        points_client=round(walk.points, 1),
        points_charged=round(sum(charged), 1),
        seconds=round(time.perf_counter() - started, 2),
        records=records,
        spans=spans,
        paused=walk.paused,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=2000, help="issues measured over HTTP per shortlisted shape")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    cfg = SandboxConfig.team_of_200(anchor=ANCHOR)
    with Sandbox(cfg) as sb:
        ws = sb.workspace
        issues = sorted(ws.linear_issues, key=lambda i: i["updatedAt"], reverse=True)  # the asset's order
        counts = {
            i["id"]: (len(ws.linear_issue_history.get(i["id"], [])), len(sandbox_history.state_spans(ws, i)))
            for i in issues
        }
        window_start = (ANCHOR - dt.timedelta(days=DAILY_WINDOW_DAYS - 1)).isoformat()
        daily = [i["id"] for i in issues if i["updatedAt"][:10] >= window_start]
        rows = []
        for h, s, p in GRID:
            first = predict(list(counts.values()), h, s, p)
            day = predict([counts[i] for i in daily], h, s, p)
            rows.append(
                dict(
                    history_first=h,
                    spans_first=s,
                    page_first=p,
                    first_load=first | {"budget_hours": round(first["points"] / HOURLY_POINTS, 2)},
                    daily=day,
                    daily_total_requests=DAILY_REQUESTS_TODAY + day["requests"],
                )
            )
        fits = [r for r in rows if r["daily_total_requests"] <= DAILY_REQUEST_CAP]
        fits.sort(key=lambda r: (r["first_load"]["points"], r["first_load"]["requests"]))
        chosen = (HISTORY_FIRST, SPANS_FIRST, HISTORY_PAGE_FIRST)
        print(
            f"team of 200: {len(issues):,} issues; daily window {window_start}..{ANCHOR}: {len(daily):,} updated "
            f"issues; {sum(c[0] for c in counts.values()):,} history records, "
            f"{sum(c[1] for c in counts.values()):,} state spans"
        )
        print("\nshape (h, s, p) | batch | first load: requests, points, budget hours | daily: requests, points")
        shortlist = fits[:5] + [r for r in rows if (r["history_first"], r["spans_first"], r["page_first"]) == chosen]
        for r in fits[:12] + [r for r in shortlist if r not in fits[:12]]:
            mark = (
                "  <- the client's default" if (r["history_first"], r["spans_first"], r["page_first"]) == chosen else ""
            )
            f, d = r["first_load"], r["daily"]
            print(
                f"({r['history_first']:>2}, {r['spans_first']:>2}, {r['page_first']:>2}) | {f['batch_size']:>3} | "
                f"{f['requests']:>5,} {f['points']:>11,.0f} {f['budget_hours']:>5.2f} h | "
                f"{d['requests']:>3} {d['points']:>9,.0f}{mark}"
            )
        sample = [i["id"] for i in issues[: args.sample]]
        measured = []
        print(f"\nmeasured over HTTP on the {len(sample):,} most recently updated issues:")
        print("shape | requests (predicted) | points charged (client, predicted) | seconds | records, spans")
        seen = set()
        for r in shortlist:
            shape = (r["history_first"], r["spans_first"], r["page_first"])
            if shape in seen:
                continue
            seen.add(shape)
            m = measure(sb, sample, *shape)
            pred = predict([counts[i] for i in sample], *shape)
            measured.append(dict(shape=shape, measured=m, predicted=pred))
            print(
                f"{shape} | {m['requests']} ({pred['requests']}) | {m['points_charged']:,.0f} "
                f"({m['points_client']:,.0f}, {pred['points']:,.0f}) | {m['seconds']} | "
                f"{m['records']:,}, {m['spans']:,}"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = dict(
            measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            workload=dict(issues=len(issues), daily_window_issues=len(daily), anchor=ANCHOR.isoformat()),
            chosen=chosen,
            shapes=rows,
            http=measured,
        )
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
