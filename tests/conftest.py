"""Shared fixtures: a sandbox serving both APIs, and an environment pointing the pipeline at it.

The test process is its own: before any test runs, every variable the pipeline reads is removed from the
environment (a developer's shell or `.env` never reaches a test), `.env` files are switched off
(WAREHOUSE_DOTENV=0), and the warehouse, the published marts and dbt's target directory default to a
temporary directory of the session, so a test that sets nothing can never write a real warehouse, a real
MARTS_PATH or the checkout's dbt_project/target/. `pytest_sessionfinish` fails the session if the checkout's
dbt_project/target/ or data/ changed anyway (tests/test_isolation.py tests each of these).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Every variable the pipeline reads (orchestration/settings.py), plus DBT_PROFILES_DIR which dbt reads.
PIPELINE_VARIABLES = (
    "CLOCKIFY_API_KEY",
    "CLOCKIFY_WORKSPACE_ID",
    "CLOCKIFY_API_URL",
    "CLOCKIFY_REPORTS_URL",
    "CLOCKIFY_REGION",
    "CLOCKIFY_SUBDOMAIN",
    "CLOCKIFY_HOST_TEMPLATE",
    "LINEAR_API_KEY",
    "LINEAR_API_URL",
    "WAREHOUSE_PATH",
    "MARTS_PATH",
    "MARTS_STORAGE_VERSION",
    "MARTS_PARQUET_DIR",
    "WAREHOUSE_START_DATE",
    "WAREHOUSE_RESYNC_DAYS",
    "API_MAX_RETRY_SECONDS",
    "API_MAX_ATTEMPTS",
    "CLOCKIFY_WRITEBACK",
    "LINEAR_TEAM_KEYS",
    "CLOCKIFY_WRITEBACK_MAX_WRITES",
    "DBT_TARGET_PATH",
    "DBT_PROFILES_DIR",
    "DAGSTER_HOME",
    "WAREHOUSE_DOTENV",
    "WAREHOUSE_DEMO_DIR",
    "WAREHOUSE_SANDBOX",
)
SESSION_DIR = Path(tempfile.mkdtemp(prefix="warehouse-tests-"))
# One directory for the whole run, shared by pytest-xdist's workers (they inherit the controller's
# environment): what is read-only and costly is built there once for all of them (tests/reliability.py).
SHARED_VARIABLE = "WAREHOUSE_TESTS_SHARED_DIR"
if "PYTEST_XDIST_WORKER" not in os.environ:  # the controller, or a run without workers
    os.environ[SHARED_VARIABLE] = str(SESSION_DIR / "shared")
SHARED_DIR = Path(os.environ[SHARED_VARIABLE])
SHARED_DIR.mkdir(parents=True, exist_ok=True)
# What the tests see when they set nothing: nothing real, nothing from .env.
TEST_DEFAULTS = {
    "WAREHOUSE_DOTENV": "0",
    "WAREHOUSE_PATH": str(SESSION_DIR / "default" / "warehouse.duckdb"),
    "MARTS_PATH": str(SESSION_DIR / "default" / "marts.duckdb"),
    "WAREHOUSE_DEMO_DIR": str(SESSION_DIR / "demo"),  # the demo's files, and the sandbox-mode code location's
    "DBT_TARGET_PATH": str(SESSION_DIR / "dbt-target"),  # the manifest and every build's artifacts
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}
for _name in PIPELINE_VARIABLES:
    os.environ.pop(_name, None)
os.environ.update(TEST_DEFAULTS)
# The checkout's files no test may change (compared at the end of the session).
GUARDED = (REPO / "dbt_project" / "target", REPO / "data")


def _snapshot(paths=GUARDED) -> dict[str, tuple[int, int]]:
    found = {}
    for root in paths:
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.is_file():
                stat = path.stat()
                found[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return found


CHECKOUT_AT_START = _snapshot()


def pytest_sessionfinish(session, exitstatus):
    changed = sorted(set(_snapshot().items()) ^ set(CHECKOUT_AT_START.items()))
    if changed:
        names = sorted({path for path, _ in changed})
        print(f"\nerror: the tests wrote into the checkout: {', '.join(names[:10])}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# End-to-end tests (they start processes, build with dbt or run whole syncs) carry the marker `slow`, so
# `make check` (-m "not slow") runs the rest in under a minute; `make test` runs everything. Whole modules,
# then single tests of otherwise fast modules; a test may also say @pytest.mark.slow itself.
SLOW_MODULES = {
    "test_benchmarks_smoke.py",
    "test_bi_readers.py",
    "test_concurrency.py",
    "test_crash_recovery.py",
    "test_dbt_build.py",
    "test_dbt_checks.py",
    "test_fault_matrix.py",
    "test_isolation.py",
    "test_marts_vs_python.py",
    "test_metrics.py",
    "test_multiprocess_run.py",
    "test_pipeline.py",
    "test_secrets.py",
    "test_timezones.py",
    "test_webserver.py",
    "test_writeback.py",
}
SLOW_TESTS = {
    "test_bad_input.py::test_odd_records_from_the_api_are_loaded_and_flagged_not_dropped",
    "test_bad_input.py::test_a_malformed_start_date_setting_is_one_line_not_a_traceback",
    "test_publish.py::test_readers_in_other_processes_see_whole_snapshots_and_never_block_publishing",
    "test_publish_formats.py::test_readers_of_the_export_see_whole_publishes_while_it_is_replaced",
    "test_publish_formats.py::test_the_dagster_asset_publishes_with_the_settings",
    "test_report.py::test_report_renders_in_chromium",
    "test_sandbox.py::test_team_of_200_has_the_benchmarks_shape",
    "test_sandbox.py::test_detailed_report_paging_and_limits",
    "test_sensors.py::test_the_sensor_is_in_the_code_location_launches_the_write_back_job_and_starts_off",
    "test_serve.py::test_reads_during_publishes_see_old_or_new_marts_never_an_error",
    "test_serve.py::test_warehouse_serve_binds_to_loopback_by_default",
    "test_warehouse.py::test_staging_beyond_its_memory_limit_spills_instead_of_failing",
}


# `make test` spreads the tests over pytest-xdist's workers with --dist loadgroup: a group runs whole on one
# worker. A file is a group (its fixtures are set up once), but each test of the long files below is its own
# group, except the tests sharing a module- or session-scoped fixture of their file: those stay together.
SPLIT_MODULES = {
    "test_budget_runs.py",
    "test_fault_matrix.py",
    "test_timezones.py",  # and its syncs' tests in two groups of their own
}
# The longest groups, longest first (`make test`'s --durations summed per group, on a quiet 2-core machine);
# the others follow in file order. Sent first, they do not leave one worker finishing a long file alone.
LONGEST_GROUPS = (
    "test_timezones.py::report",
    "test_concurrency.py",
    "test_marts_vs_python.py",
    "test_timezones.py::per_user",
    "test_budget_runs.py::test_a_budget_stop_builds_the_marts_from_what_is_committed_and_leaves_the_rest_as_it_was",
    "test_budget_runs.py::test_a_free_plan_backfill_stops_in_whole_days_resumes_and_ends_equal_to_an_unlimited_run",
    "test_dbt_build.py",
    "test_metrics.py",
    "test_source.py",
    "test_multiprocess_run.py",
    "test_bad_input.py",
    "test_crash_recovery.py",
    "test_fault_matrix.py::test_faults_repeats_overlaps_and_changes_end_like_a_clean_run",
    "test_budget_runs.py::test_old_deletes_and_moves_reach_every_mart_after_the_next_daily_run(off_404)",
    "test_report.py",
    "test_operations.py",
    "test_benchmarks_smoke.py",
)


def _group(item) -> str | None:
    """The item's group; None when the test names its own (an `xdist_group` mark, e.g. tests/test_timezones.py)."""
    if item.get_closest_marker("xdist_group"):
        return None
    module = item.path.name
    if module not in SPLIT_MODULES:
        return module
    for defs in item._fixtureinfo.name2fixturedefs.values():
        if any(d.scope != "function" and d.baseid == item.nodeid.split("::")[0] for d in defs):
            return module
    # xdist reads the group after the last "@" unless a "]" follows it: no brackets in the name
    return f"{module}::{item.name}".replace("[", "(").replace("]", ")")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.path.name
        if module in SLOW_MODULES or f"{module}::{item.originalname}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
    if getattr(config.option, "loadgroup", False):  # an xdist worker of `--dist loadgroup`
        groups = {}
        for item in items:
            group = _group(item)
            if group:
                item.add_marker(pytest.mark.xdist_group(group))
            groups[item] = group or item.get_closest_marker("xdist_group").args[0]
        rank = {group: i for i, group in enumerate(LONGEST_GROUPS)}
        items.sort(key=lambda item: rank.get(groups[item], len(rank)))  # stable: file order otherwise


from sandbox import Sandbox, SandboxConfig  # noqa: E402  (after the environment is cleaned)

# A fixed anchor keeps every test's data identical from day to day.
ANCHOR = dt.date(2024, 6, 28)
SMALL = dict(seed=11, users=6, teams=3, issues=90, days=40, anchor=ANCHOR, projects=5, clients=3, tags=4)


@pytest.fixture
def sandbox():
    """A fresh sandbox per test: tests mutate its data and inject faults."""
    with Sandbox(SandboxConfig(**SMALL)) as sb:
        yield sb


@pytest.fixture
def pipeline_env(sandbox, tmp_path, monkeypatch):
    """Point every setting at the sandbox and a temp warehouse file (tests build Settings from it:
    `Settings.from_env(os.environ)`, or the CLI reads it)."""
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("MARTS_PATH", raising=False)  # marts.duckdb beside the temp warehouse
    monkeypatch.setenv("API_MAX_RETRY_SECONDS", "60")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return sandbox


class Budget:
    """What is left of a test's pytest timeout (pyproject: `timeout`, or the test's `timeout` marker), less a
    margin: the test's own waits stay inside it, so a hang fails with the test's message and output instead of
    pytest-timeout's stack dump, and no internal timeout can outlast pytest's."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        """Seconds left (at most `cap`), at least 1 so a wait still happens once."""
        left = max(1.0, self.deadline - time.monotonic())
        return min(left, cap) if cap is not None else left


@pytest.fixture
def budget(request) -> Budget:
    marker = request.node.get_closest_marker("timeout")
    timeout = float(marker.args[0]) if marker and marker.args else float(request.config.getini("timeout") or 0)
    assert timeout > 0, "tests run with a pytest timeout (pyproject.toml [tool.pytest.ini_options] timeout)"
    return Budget(timeout - 30)  # 30 s for the test's own clean-up and assertions
