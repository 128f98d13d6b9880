"""``python -m sandbox serve --port 8765 [--users N --days N --seed N --latency-ms N --enforce-rate-limits
--owner-timezone ZONE --region euc1 | --subdomain NAME --plan FREE --clock simulated|frozen --clock-start ISO]``"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time

from .config import SandboxConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox", description="Local Clockify + Linear API sandbox")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve the sandbox APIs until Ctrl-C")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--users", type=int, default=12)
    s.add_argument("--teams", type=int, default=3)
    s.add_argument("--issues", type=int, default=240)
    s.add_argument("--days", type=int, default=90)
    s.add_argument(
        "--anchor", type=dt.date.fromisoformat, default=None, help="last day of data, YYYY-MM-DD (default: today UTC)"
    )
    s.add_argument("--entries-per-user-per-day", type=float, default=4.0)
    s.add_argument("--projects", type=int, default=8)
    s.add_argument("--clients", type=int, default=4)
    s.add_argument("--tags", type=int, default=6)
    s.add_argument("--latency-ms", type=int, default=0)
    s.add_argument("--enforce-rate-limits", action="store_true")
    s.add_argument("--team-of-200", action="store_true", help="the benchmark workload (overrides sizes)")
    s.add_argument("--owner-timezone", default="America/Los_Angeles", help="the API-key owner's profile zone")
    s.add_argument("--region", default=None, help="a regional workspace (euc1, use2, euw2, apse2)")
    s.add_argument("--subdomain", default=None, help="a subdomain workspace")
    s.add_argument("--plan", choices=("PAID", "FREE"), default="PAID", help="FREE: 30 Clockify requests/hour")
    s.add_argument("--clock", choices=("real", "simulated", "frozen"), default="real")
    s.add_argument(
        "--clock-start", type=dt.datetime.fromisoformat, default=None, help="simulated clock start (ISO, UTC)"
    )
    args = ap.parse_args(argv)

    from .server import Sandbox

    sizes = dict(
        seed=args.seed,
        users=args.users,
        teams=args.teams,
        issues=args.issues,
        days=args.days,
        anchor=args.anchor,
        entries_per_user_per_day=args.entries_per_user_per_day,
        projects=args.projects,
        clients=args.clients,
        tags=args.tags,
        latency_ms=args.latency_ms,
        enforce_rate_limits=args.enforce_rate_limits,
    )
    start = args.clock_start
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=dt.timezone.utc)
    knobs = dict(
        owner_timezone=args.owner_timezone,
        clockify_region=args.region,
        clockify_subdomain=args.subdomain,
        clockify_plan=args.plan,
        clock=args.clock,
        clock_start=start,
    )
    if args.team_of_200:
        cfg = SandboxConfig.team_of_200(
            seed=args.seed,
            anchor=args.anchor,
            latency_ms=args.latency_ms,
            enforce_rate_limits=args.enforce_rate_limits,
            **knobs,
        )
    else:
        cfg = SandboxConfig(**sizes, **knobs)
    t0 = time.time()
    sb = Sandbox(cfg, host=args.host, port=args.port).start()
    summary = sb.workspace.summary()
    for k, v in sb.env().items():
        print(f"export {k}={v}")
    print(
        f"# sandbox on {sb.base_url}: {summary['clockify_time_entries']} time entries, "
        f"{summary['linear_issues']} issues, built in {time.time() - t0:.1f}s; Ctrl-C to stop",
        file=sys.stderr,
    )
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
