"""`warehouse`: the headless command line.

warehouse demo                                   offline demo on the built-in sandbox
warehouse sync --start YYYY-MM-DD --end YYYY-MM-DD   load a date range from the configured APIs
warehouse ui                                     the Dagster UI on 127.0.0.1 (with the sandbox: --sandbox)
warehouse sandbox                                serve the sandbox APIs until Ctrl-C
warehouse writeback [--dry-run]                  mirror Linear issues into Clockify as tasks (opt-in)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

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
    """The settings with every variable the sandbox sets (its URLs, keys and workspace) taking precedence."""
    return Settings.load({**os.environ, **sandbox_env})


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


def cmd_sync(args, settings: Settings) -> int:
    from orchestration import preflight  # noqa: PLC0415 - lazy
    from orchestration.runs import SyncError, parse_day, run_sync, validate_range  # noqa: PLC0415 - lazy

    try:
        start = parse_day(args.start, "--start")
        end = parse_day(args.end, "--end")
        validate_range(start, end, settings.start_date)
        # Before anything is written: settings, URLs, keys and the workspace id, one line per problem.
        problems = preflight.check(settings)
        if problems:
            for problem in problems:
                _print(f"error: {problem}")
            return 2
        _print(f"Syncing {start} .. {end} into {settings.warehouse_path} ...")
        outcome = run_sync(settings, start, end, wait=args.wait)
    except (SyncError, ConfigError) as error:
        _print(f"error: {error}")
        return 1
    print_summary(settings, outcome)
    for line in outcome.budget_lines():  # a budget stop is not a failure: exit 0 with what is left
        _print(line)
    return 0


def cmd_demo(args, settings: Settings) -> int:
    from orchestration.runs import SyncError, run_sync  # noqa: PLC0415 - lazy

    today = dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=DEMO_DAYS - 1)
    _print(f"Starting the sandbox (a local stand-in for Clockify and Linear) and loading {start} .. {today} ...")
    with _sandbox(seed=args.seed, users=args.users, days=DEMO_DAYS * 3) as (demo, _env):
        try:
            outcome = run_sync(demo, start, today)
        except (SyncError, ConfigError) as error:
            _print(f"error: {error}")
            return 1
    print_summary(demo, outcome)
    report_status = cmd_report(argparse.Namespace(out=None), demo)
    _print("Open the Dagster UI on the same data and run history with: make ui")
    return report_status


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
    # With no Clockify key configured (the offline demo), runs launched from the UI go to a sandbox too.
    if args.sandbox or settings.clockify.api_key is None:
        if not args.sandbox:
            _print("No CLOCKIFY_API_KEY set: the UI's runs will use the built-in sandbox APIs.")
        with _sandbox(seed=args.seed, users=args.users, days=DEMO_DAYS * 3) as (_settings, sandbox_env):
            return subprocess.call(command, env={**env, **sandbox_env})
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warehouse", description="Clockify + Linear hours warehouse.")
    sub = parser.add_subparsers(dest="command", required=True)

    sync = sub.add_parser("sync", help="load a date range (inclusive) from the APIs, then build the marts")
    sync.add_argument("--start", required=True, help="first day, YYYY-MM-DD (UTC)")
    sync.add_argument("--end", required=True, help="last day, YYYY-MM-DD (UTC)")
    sync.add_argument(
        "--wait",
        action="store_true",
        help="wait for the APIs' budgets as long as it takes (e.g. Clockify's Free plan, 30 requests/hour) "
        "instead of stopping with what is loaded (API_BUDGET_WAIT_SECONDS)",
    )
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
