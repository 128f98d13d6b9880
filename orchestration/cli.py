"""`warehouse`: the headless command line.

warehouse demo                                   offline demo on the built-in sandbox
warehouse sync --start YYYY-MM-DD --end YYYY-MM-DD   load a date range from the configured APIs
warehouse ui                                     the Dagster UI on 127.0.0.1 (with the sandbox: --sandbox)
warehouse sandbox                                serve the sandbox APIs until Ctrl-C
warehouse writeback [--dry-run]                  mirror Linear issues into Clockify as tasks (opt-in)
warehouse metrics --metrics hours --group-by team__team_key,metric_time__week   the semantic layer
warehouse serve [--host 127.0.0.1] [--port 8000]    read-only JSON API over the published marts
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import sys
import warnings
from contextlib import contextmanager

from orchestration import settings

DEMO_DAYS = 30


def _print(line: str = "") -> None:
    print(line, flush=True)


@contextmanager
def _sandbox_env(**config):
    """Start the sandbox and point every API setting at it for the duration."""
    from sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(**config)) as sb:
        previous = {k: os.environ.get(k) for k in sb.env()}
        os.environ.update(sb.env())
        try:
            yield sb
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def raw_row_counts() -> dict[str, int]:
    from assets.raw_tables import ALL_TABLES
    from orchestration.warehouse import connect_with_lock_wait

    with connect_with_lock_wait(settings.warehouse_path(), read_only=True) as con:
        existing = {
            r[0]
            for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema='raw'").fetchall()
        }
        return {
            t.qualified_name: (
                con.execute(f"SELECT count(*) FROM {t.qualified_name}").fetchone()[0] if t.name in existing else 0
            )
            for t in ALL_TABLES
        }


def marts_summary(top: int = 5) -> tuple[list[tuple], list[tuple]]:
    """Hours per team and the top issues by hours, from the marts."""
    from orchestration.warehouse import connect_with_lock_wait

    with connect_with_lock_wait(settings.warehouse_path(), read_only=True) as con:
        teams = con.execute(
            "SELECT team_key, team_name, round(hours, 1), round(billable_hours, 1), issue_count "
            "FROM marts.hours_per_team ORDER BY hours DESC"
        ).fetchall()
        issues = con.execute(
            "SELECT issue_identifier, issue_title, round(hours, 1), estimate FROM marts.hours_per_issue "
            "ORDER BY hours DESC, issue_identifier LIMIT $top",
            {"top": top},
        ).fetchall()
    return teams, issues


def print_summary(outcome) -> None:
    _print(f"Loaded {outcome.start} .. {outcome.end} (run {outcome.run_id[:8]}).")
    counts = raw_row_counts()
    width = max(len(name) for name in counts)
    for name, count in counts.items():
        _print(f"  {name:<{width}}  {count:>9,}")
    teams, issues = marts_summary()
    _print("\nHours per team (marts.hours_per_team):")
    for key, name, total, billable, issue_count in teams:
        _print(f"  {key:<6} {name:<24} {total:>8.1f} h  ({billable:.1f} billable, {issue_count} issues)")
    _print("\nTop issues by hours (marts.hours_per_issue):")
    for identifier, title, total, estimate in issues:
        estimate_text = f"estimate {estimate:g}" if estimate is not None else "no estimate"
        _print(f"  {identifier:<9} {total:>7.1f} h  {estimate_text:<13} {title[:60]}")
    _print(f"\nWarehouse: {settings.warehouse_path()}")


def cmd_sync(args) -> int:
    try:
        # Importing the job reads WAREHOUSE_START_DATE (the partitions): a malformed one is a ConfigError.
        from orchestration import preflight
        from orchestration.sync import SyncError, parse_day, run_sync, validate_range
    except settings.ConfigError as error:
        _print(f"error: {error}")
        return 1
    try:
        start = parse_day(args.start, "--start")
        end = parse_day(args.end, "--end")
        validate_range(start, end)
        # Before anything is written: settings, URLs, keys and the workspace id, one line per problem.
        problems = preflight.check()
        if problems:
            for problem in problems:
                _print(f"error: {problem}")
            return 2
        _print(f"Syncing {start} .. {end} into {settings.warehouse_path()} ...")
        outcome = run_sync(start, end)
    except (SyncError, settings.ConfigError) as error:
        _print(f"error: {error}")
        return 1
    print_summary(outcome)
    return 0


def cmd_demo(args) -> int:
    from orchestration.sync import SyncError, run_sync

    today = dt.datetime.now(dt.timezone.utc).date()
    start = today - dt.timedelta(days=DEMO_DAYS - 1)
    _print(f"Starting the sandbox (a local stand-in for Clockify and Linear) and loading {start} .. {today} ...")
    with _sandbox_env(seed=args.seed, users=args.users, days=DEMO_DAYS * 3):
        try:
            outcome = run_sync(start, today)
        except (SyncError, settings.ConfigError) as error:
            _print(f"error: {error}")
            return 1
    print_summary(outcome)
    report_status = cmd_report(argparse.Namespace(out=None))
    _print("Open the Dagster UI on the same data and run history with: make ui")
    return report_status


def cmd_report(args) -> int:
    from orchestration.report import run_report

    try:
        path = run_report(args.out)
    except (FileNotFoundError, RuntimeError, settings.ConfigError) as error:
        _print(f"error: {error}")
        return 1
    _print(f"Report: {path}")
    return 0


def cmd_ui(args) -> int:
    from orchestration.sync import _instance

    _instance()  # the project's dagster.yaml and the duckdb pool limit are in place before the UI starts
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(settings.PROJECT_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(args.port),
    ]
    # With no Clockify key configured (the offline demo), runs launched from the UI go to a sandbox too.
    if args.sandbox or not os.environ.get("CLOCKIFY_API_KEY"):
        if not args.sandbox:
            _print("No CLOCKIFY_API_KEY set: the UI's runs will use the built-in sandbox APIs.")
        with _sandbox_env(seed=args.seed, users=args.users, days=DEMO_DAYS * 3):
            return subprocess.call(command, env=os.environ.copy())
    return subprocess.call(command)


def cmd_sandbox(args) -> int:
    with _sandbox_env(seed=args.seed, users=args.users, days=args.days) as sb:
        for key, value in sb.env().items():
            _print(f"export {key}={value}")
        _print("Sandbox serving; Ctrl-C to stop.")
        try:
            import threading

            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_writeback(args) -> int:
    """Needs a warehouse with Linear loaded (`warehouse sync`); reads Clockify fresh, then writes."""
    from assets.writeback import execute_writeback_job
    from orchestration.writeback import WritebackError, writeback_settings

    if args.max_writes is not None and args.max_writes < 1:
        _print(f"error: --max-writes {args.max_writes} must be at least 1.")
        return 2
    try:
        enabled = writeback_settings().enabled
        if not enabled and not args.dry_run:
            _print(
                "error: write-back disabled: set CLOCKIFY_WRITEBACK=1 to write to Clockify, "
                "or add --dry-run to list the planned changes."
            )
            return 2
        metadata = execute_writeback_job(dry_run=args.dry_run, max_writes=args.max_writes)
    except (WritebackError, settings.ConfigError) as error:
        _print(f"error: {error}")
        return 1
    mode = metadata["mode"].value
    _print(
        f"Write-back ({mode}): {metadata['writes'].value} write(s) made, {metadata['planned_writes'].value} "
        f"planned, {metadata['deferred_writes'].value} deferred to later runs, "
        f"{metadata['conflicts'].value} conflict(s), {metadata['links_changed'].value} link(s) recorded."
    )
    _print(metadata["plan"].value)
    return 0


def _published_marts_path(args):
    from pathlib import Path

    from orchestration.publish import default_marts_path

    return Path(args.marts).expanduser().resolve() if args.marts else default_marts_path(settings.warehouse_path())


def cmd_metrics(args) -> int:
    """MetricFlow on the published marts (orchestration/metrics.py): never waits for or blocks a sync."""
    import csv
    import shutil
    from pathlib import Path

    from orchestration.metrics import MetricsError, SemanticLayer, ensure_semantic_manifest, format_table

    dbt = str(Path(sys.executable).parent / "dbt") if (Path(sys.executable).parent / "dbt").exists() else "dbt"
    # dbt parse never opens the warehouse, but its path names the relations in semantic_manifest.json, which
    # `mf query` (on the warehouse) reads too: parse with the real one.
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false", WAREHOUSE_PATH=str(settings.warehouse_path()))
    split = lambda values: [v.strip() for value in values or [] for v in value.split(",") if v.strip()]  # noqa: E731
    try:
        manifest = ensure_semantic_manifest(settings.DBT_PROJECT_DIR, shutil.which(dbt) or dbt, env)
        with SemanticLayer(_published_marts_path(args), manifest) as layer:
            if args.list:
                for name, description, group_by in layer.list_metrics():
                    _print(f"{name}: {description.strip()}")
                    _print(f"    group by: {', '.join(group_by)} (metric_time also by __week, __month, ...)")
                return 0
            if not args.metrics:
                _print("error: name the metrics: --metrics hours,billable_hours (see --list).")
                return 2
            options = dict(where=args.where or (), order=split(args.order), limit=args.limit)
            if args.explain:
                _print(layer.explain(split(args.metrics), split(args.group_by), **options))
                return 0
            result = layer.query(split(args.metrics), split(args.group_by), **options)
    except (MetricsError, settings.ConfigError) as error:
        _print(f"error: {error}")
        return 1
    if args.csv:
        with open(args.csv, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(result.columns)
            writer.writerows(result.rows)
        _print(f"Wrote {len(result.rows)} row(s) to {args.csv}")
    else:
        _print(format_table(result.columns, result.rows, args.decimals))
    return 0


def cmd_serve(args) -> int:
    from orchestration.serve import serve

    path = _published_marts_path(args)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        _print(
            f"warning: serving on {args.host}: anyone who can reach this machine on port {args.port} "
            "can read the marts."
        )
    _print(f"Serving {path} read-only on http://{args.host}:{args.port}/marts (Ctrl-C to stop).")
    serve(path, host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warehouse", description="Clockify + Linear hours warehouse.")
    sub = parser.add_subparsers(dest="command", required=True)

    sync = sub.add_parser("sync", help="load a date range (inclusive) from the APIs, then build the marts")
    sync.add_argument("--start", required=True, help="first day, YYYY-MM-DD (UTC)")
    sync.add_argument("--end", required=True, help="last day, YYYY-MM-DD (UTC)")
    sync.set_defaults(func=cmd_sync)

    def sandbox_options(p, days=DEMO_DAYS * 3):
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--users", type=int, default=12)
        p.add_argument("--days", type=int, default=days)

    demo = sub.add_parser("demo", help=f"offline demo: sandbox APIs, last {DEMO_DAYS} days, marts")
    sandbox_options(demo)
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser("report", help="write the HTML report of the published marts (opens offline)")
    report.add_argument("--out", help="output file (default: data/report.html)")
    report.set_defaults(func=cmd_report)

    ui = sub.add_parser("ui", help="start the Dagster UI on 127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--sandbox", action="store_true", help="point the UI's runs at a sandbox it starts")
    sandbox_options(ui)
    ui.set_defaults(func=cmd_ui)

    writeback = sub.add_parser(
        "writeback",
        help="mirror Linear issues into Clockify as tasks (needs CLOCKIFY_WRITEBACK=1 and a synced warehouse)",
    )
    writeback.add_argument("--dry-run", action="store_true", help="list the planned changes, write nothing")
    writeback.add_argument(
        "--max-writes",
        type=int,
        default=None,
        help="writes this run may make (default CLOCKIFY_WRITEBACK_MAX_WRITES, 200)",
    )
    writeback.set_defaults(func=cmd_writeback)

    serve = sub.add_parser("sandbox", help="serve the sandbox APIs until Ctrl-C")
    sandbox_options(serve)
    serve.set_defaults(func=cmd_sandbox)

    marts_option = dict(help="the published marts file (default: MARTS_PATH, or marts.duckdb beside the warehouse)")
    metrics = sub.add_parser(
        "metrics", help="query the semantic layer (MetricFlow metrics) on the published marts, like `mf query`"
    )
    metrics.add_argument("--metrics", action="append", help="metrics, comma-separated (e.g. hours,billable_hours)")
    metrics.add_argument(
        "--group-by", action="append", help="dimensions, comma-separated (e.g. team__team_key,metric_time__week)"
    )
    metrics.add_argument(
        "--where", action="append", help="MetricFlow filter, e.g. \"{{ Dimension('team__team_key') }} = 'ENG'\""
    )
    metrics.add_argument("--order", action="append", help="order by these, comma-separated; -name for descending")
    metrics.add_argument("--limit", type=int)
    metrics.add_argument("--decimals", type=int, default=2)
    metrics.add_argument("--csv", help="write the result to this CSV file instead")
    metrics.add_argument("--explain", action="store_true", help="print the SQL instead of running it")
    metrics.add_argument("--list", action="store_true", help="list the metrics and what they group by")
    metrics.add_argument("--marts", **marts_option)
    metrics.set_defaults(func=cmd_metrics)

    api = sub.add_parser("serve", help="read-only HTTP JSON API over the published marts (127.0.0.1 by default)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--marts", **marts_option)
    api.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Dagster flags some stable-in-practice parameters (backfill_policy, pool) as beta on every import.
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    warnings.filterwarnings("ignore", message=".*is in preview.*")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
