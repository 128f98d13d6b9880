"""`warehouse`: the headless command line.

warehouse demo                                   offline demo on the built-in sandbox (its own files)
warehouse check                                  test the settings against the APIs; writes nothing
warehouse prepare                                the dbt manifest and run history ahead of a first sync
warehouse sync --start YYYY-MM-DD --end YYYY-MM-DD   load a date range from the configured APIs
warehouse ui                                     the Dagster UI on 127.0.0.1 (with the sandbox: --sandbox)
warehouse sandbox                                serve the sandbox APIs until Ctrl-C
warehouse writeback [--dry-run]                  mirror Linear issues into Clockify as tasks (opt-in)
warehouse metrics --metrics hours --group-by team__team_key,metric_time__week   the semantic layer
warehouse serve [--host 127.0.0.1] [--port 8000]    read-only JSON API over the published marts
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from orchestration.settings import PROJECT_ROOT, ConfigError, Settings

# The commands import the pipeline (Dagster, dbt: seconds) only when they run, so `warehouse --help` and
# `warehouse sandbox` start at once: those function-level imports say `lazy`.

DEMO_DAYS = 30


def _print(line: str = "") -> None:
    print(line, flush=True)


@contextmanager
def _sandbox(**config) -> Iterator[tuple[Settings, dict[str, str]]]:
    """Start the sandbox; the settings pointed at it (URLs and keys), and its variables."""
    from sandbox import Sandbox, SandboxConfig  # noqa: PLC0415 - lazy

    with Sandbox(SandboxConfig(**config)) as sb:
        yield sandbox_settings(sb.env()), sb.env()


def sandbox_settings(sandbox_env: dict[str, str]) -> Settings:
    """The demo's settings: the sandbox's URLs, keys and workspace, and the demo's own files (data/demo/,
    WAREHOUSE_DEMO_DIR), whatever WAREHOUSE_PATH, MARTS_PATH and DAGSTER_HOME say."""
    return Settings.load({**os.environ, **sandbox_env}).demo(sandbox_env)


def raw_row_counts(settings: Settings) -> dict[str, int]:
    from orchestration.warehouse.duckdb import connect_with_lock_wait  # noqa: PLC0415 - lazy
    from orchestration.warehouse.raw_tables import ALL_TABLES  # noqa: PLC0415 - lazy

    with connect_with_lock_wait(settings.warehouse_path, read_only=True) as con:
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


def marts_summary(settings: Settings, top: int = 5) -> tuple[list[tuple], list[tuple]]:
    """Hours per team and the top issues by hours, from the marts."""
    from orchestration.warehouse.duckdb import connect_with_lock_wait  # noqa: PLC0415 - lazy

    with connect_with_lock_wait(settings.warehouse_path, read_only=True) as con:
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


def print_summary(settings: Settings, outcome) -> None:
    _print(f"Loaded {outcome.start} .. {outcome.end} (run {outcome.run_id[:8]}).")
    counts = raw_row_counts(settings)
    width = max(len(name) for name in counts)
    for name, count in counts.items():
        _print(f"  {name:<{width}}  {count:>9,}")
    teams, issues = marts_summary(settings)
    _print("\nHours per team (marts.hours_per_team):")
    for key, name, total, billable, issue_count in teams:
        _print(f"  {key:<6} {name:<24} {total:>8.1f} h  ({billable:.1f} billable, {issue_count} issues)")
    _print("\nTop issues by hours (marts.hours_per_issue):")
    for identifier, title, total, estimate in issues:
        estimate_text = f"estimate {estimate:g}" if estimate is not None else "no estimate"
        _print(f"  {identifier:<9} {total:>7.1f} h  {estimate_text:<13} {title[:60]}")
    _print(f"\nWarehouse: {settings.warehouse_path}")


def print_checks(findings) -> None:
    width = max((len(c.name) for c in findings.checks), default=0)
    for check in findings.checks:
        _print(check.line(width))


def cmd_check(args, settings: Settings) -> int:
    """`warehouse check`: every check of preflight.py, one line each; writes nothing."""
    from orchestration import preflight  # noqa: PLC0415 - lazy

    findings = preflight.run_checks(settings)
    print_checks(findings)
    if not findings.ok:
        failed = len(findings.problems)
        _print(f"{failed} check(s) failed: change the settings named above, then run `warehouse check` again.")
        return 2
    _print("Ready: `warehouse sync --start YYYY-MM-DD --end YYYY-MM-DD` loads a range.")
    return 0


def cmd_prepare(args, settings: Settings) -> int:
    """`warehouse prepare` (`make install` runs it): for the settings and for the demo, what their first run
    would do before its first asset (the dbt manifest, the run history's storage), so that run need not."""
    from orchestration.runs import prepare_ahead  # noqa: PLC0415 - lazy

    try:
        # The settings' own warehouse last: with another file name than the demo's (dbt-duckdb names the
        # manifest's relations after it), the manifest it leaves is that warehouse's, what `sync` loads.
        for prepared, seed_only in ((settings.demo(), True), (settings, False)):
            for line in prepare_ahead(prepared, seed_only=seed_only):
                _print(line)
    except (RuntimeError, ConfigError) as error:  # a model dbt cannot parse: its message, as dbt printed it
        _print(f"error: {error}")
        return 1
    return 0


def cmd_sync(args, settings: Settings) -> int:
    from orchestration import preflight  # noqa: PLC0415 - lazy
    from orchestration.runs import RunLog, SyncError, parse_day, run_sync, validate_range  # noqa: PLC0415 - lazy

    try:
        start = parse_day(args.start, "--start")
        end = parse_day(args.end, "--end")
        validate_range(start, end, settings.start_date)
        # Before anything is written: the checks of `warehouse check`, one line each.
        findings = preflight.run_checks(settings)
        print_checks(findings)
        if not findings.ok:
            return 2
        # The organization the checks found goes into the warehouse's source marker.
        settings = replace(settings, linear=replace(settings.linear, organization_id=findings.linear_organization_id))
        _print(f"Syncing {start} .. {end} into {settings.warehouse_path} ...")
        log = RunLog.for_settings(settings, "sync", verbose=args.verbose)
        try:
            outcome = run_sync(settings, start, end, log=log, wait=args.wait, full_reread=args.full_reread)
        finally:
            _print(f"Full log: {log.path}")
    except (SyncError, ConfigError) as error:
        _print(f"error: {error}")
        return 1
    print_summary(settings, outcome)
    for line in outcome.budget_lines():  # a budget stop is not a failure: exit 0 with what is left
        _print(line)
    return 0


def cmd_demo(args, settings: Settings) -> int:
    from orchestration.runs import RunLog, SyncError, run_sync  # noqa: PLC0415 - lazy

    today = dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=DEMO_DAYS - 1)
    _print(f"Starting the sandbox (a local stand-in for Clockify and Linear) and loading {start} .. {today} ...")
    with _sandbox(seed=args.seed, users=args.users, days=DEMO_DAYS * 3) as (demo, _env):
        _print(f"The demo writes only its own files, in {demo.demo_dir} (never WAREHOUSE_PATH).")
        log = RunLog.for_settings(demo, "demo", verbose=args.verbose)
        try:
            outcome = run_sync(demo, start, today, log=log)
        except (SyncError, ConfigError) as error:
            _print(f"error: {error}")
            _print(f"Full log: {log.path}")
            return 1
    print_summary(demo, outcome)
    report_status = cmd_report(argparse.Namespace(out=None), demo)
    _print(f"Full log: {log.path}")
    print_next_steps(demo)
    return report_status


def print_next_steps(demo: Settings) -> None:
    """What to run next, each command as it works right after the demo."""
    bin_dir = os.path.relpath(PROJECT_ROOT / ".venv" / "bin")
    steps = [
        ("make ui", "the Dagster UI on this demo's warehouse and run history (runs use a sandbox)"),
        (
            f"DAGSTER_HOME={demo.dagster_home} {bin_dir}/dagster run list --limit 5",
            "the demo's runs on the command line",
        ),
        (f"{bin_dir}/warehouse check", "then your own workspace: it says which settings to set (README)"),
        (f"{bin_dir}/warehouse sync --start YYYY-MM-DD --end YYYY-MM-DD", "load your workspace's days"),
    ]
    _print("\nNext:")
    width = max(len(command) for command, _ in steps)
    for command, meaning in steps:
        _print(f"  {command:<{width}}  {meaning}")


def cmd_report(args, settings: Settings) -> int:
    from orchestration.report.render import run_report  # noqa: PLC0415 - lazy

    try:
        path = run_report(settings, args.out)
    except (FileNotFoundError, RuntimeError, ConfigError) as error:
        _print(f"error: {error}")
        return 1
    _print(f"Report: {path}")
    return 0


def cmd_ui(args, settings: Settings) -> int:
    from orchestration.runs import open_instance  # noqa: PLC0415 - lazy

    open_instance(settings)  # the project's dagster.yaml and the duckdb pool limit are in place before the UI starts
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(args.port),
    ]
    # The UI's processes read their settings themselves (the environment and .env, as here).
    env = dict(os.environ)
    if settings.dagster_home is not None:
        env["DAGSTER_HOME"] = str(settings.dagster_home)
    # With nothing of a real source configured (the offline demo), runs launched from the UI go to a sandbox
    # too, and read and write the demo's files (WAREHOUSE_SANDBOX=1: definitions.location_settings). A key
    # set without the rest is no demo: the code location then fails to load, naming what else to set.
    if args.sandbox or not settings.configured():
        if not args.sandbox:
            _print("No CLOCKIFY_API_KEY set: the UI's runs will use the built-in sandbox APIs.")
        with _sandbox(seed=args.seed, users=args.users, days=DEMO_DAYS * 3) as (demo, sandbox_env):
            _print(f"Sandbox mode: the UI shows and writes the demo's warehouse {demo.warehouse_path} only.")
            open_instance(demo)
            ui_env = {**env, **sandbox_env, "WAREHOUSE_SANDBOX": "1", "DAGSTER_HOME": str(demo.dagster_home)}
            return subprocess.call(command, env=ui_env)
    return subprocess.call(command, env=env)


def cmd_sandbox(args, settings: Settings) -> int:
    with _sandbox(seed=args.seed, users=args.users, days=args.days) as (_settings, sandbox_env):
        for key, value in sandbox_env.items():
            _print(f"export {key}={value}")
        _print("Sandbox serving; Ctrl-C to stop.")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def cmd_writeback(args, settings: Settings) -> int:
    """Needs a warehouse with Linear loaded (`warehouse sync`); reads Clockify fresh, then writes."""
    from orchestration.runs import run_writeback_job  # noqa: PLC0415 - lazy
    from orchestration.writeback.plan import WritebackError  # noqa: PLC0415 - lazy

    if args.max_writes is not None and args.max_writes < 1:
        _print(f"error: --max-writes {args.max_writes} must be at least 1.")
        return 2
    if not settings.writeback.enabled and not args.dry_run:
        _print(
            "error: write-back disabled: set CLOCKIFY_WRITEBACK=1 to write to Clockify, "
            "or add --dry-run to list the planned changes."
        )
        return 2
    try:
        metadata = run_writeback_job(settings, dry_run=args.dry_run, max_writes=args.max_writes)
    except (WritebackError, ConfigError) as error:
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


def _published_marts_path(args, settings: Settings) -> Path:
    """--marts when given, else the published file of the settings (MARTS_PATH, or beside the warehouse)."""
    return Path(args.marts).expanduser().resolve() if args.marts else settings.marts_path


def _split(values: list[str] | None) -> list[str]:
    """Repeated, comma-separated options as one list: --metrics a,b --metrics c -> [a, b, c]."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def cmd_metrics(args, settings: Settings) -> int:
    """MetricFlow on the published marts (orchestration/metrics.py): never waits for or blocks a sync."""
    from orchestration.metrics import (  # noqa: PLC0415 - lazy (MetricFlow: seconds to import)
        MetricsError,
        SemanticLayer,
        ensure_semantic_manifest,
        format_table,
    )

    try:
        manifest = ensure_semantic_manifest(settings)
        with SemanticLayer(_published_marts_path(args, settings), manifest) as layer:
            if args.list:
                for name, description, group_by in layer.list_metrics():
                    _print(f"{name}: {description.strip()}")
                    _print(f"    group by: {', '.join(group_by)} (metric_time also by __week, __month, ...)")
                return 0
            if not args.metrics:
                _print("error: name the metrics: --metrics hours,billable_hours (see --list).")
                return 2
            options = dict(where=args.where or (), order=_split(args.order), limit=args.limit)
            if args.explain:
                _print(layer.explain(_split(args.metrics), _split(args.group_by), **options))
                return 0
            result = layer.query(_split(args.metrics), _split(args.group_by), **options)
    except (MetricsError, ConfigError) as error:
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


def cmd_serve(args, settings: Settings) -> int:
    from orchestration.serve import serve  # noqa: PLC0415 - lazy (FastAPI, uvicorn)

    path = _published_marts_path(args, settings)
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

    check = sub.add_parser("check", help="check the keys, workspace, hosts and Linear organization; writes nothing")
    check.set_defaults(func=cmd_check)

    prepare = sub.add_parser(
        "prepare", help="parse the dbt manifest and create the run history's storage ahead of a first sync"
    )
    prepare.set_defaults(func=cmd_prepare)

    sync = sub.add_parser("sync", help="load a date range (inclusive) from the APIs, then build the marts")
    sync.add_argument("--start", required=True, help="first day, YYYY-MM-DD (UTC)")
    sync.add_argument("--end", required=True, help="last day, YYYY-MM-DD (UTC)")
    sync.add_argument("--verbose", action="store_true", help="show the full log (always written to a file)")
    sync.add_argument(
        "--wait",
        action="store_true",
        help="wait for the APIs' budgets as long as it takes (e.g. Clockify's Free plan, 30 requests/hour) "
        "instead of stopping with what is loaded (API_BUDGET_WAIT_SECONDS)",
    )
    sync.add_argument(
        "--full-reread",
        action="store_true",
        help="read every Linear issue updated since --start, not only those updated since the last load",
    )
    sync.set_defaults(func=cmd_sync)

    def sandbox_options(p, days=DEMO_DAYS * 3):
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--users", type=int, default=12)
        p.add_argument("--days", type=int, default=days)

    demo = sub.add_parser("demo", help=f"offline demo: sandbox APIs, last {DEMO_DAYS} days, marts")
    sandbox_options(demo)
    demo.add_argument("--verbose", action="store_true", help="show the full log (always written to a file)")
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
    try:  # the settings are read once, here: the environment over .env
        settings = Settings.load()
    except ConfigError as error:
        _print(f"error: {error}")
        return 1
    return args.func(args, settings)


if __name__ == "__main__":
    sys.exit(main())
