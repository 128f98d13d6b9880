"""The code location: every asset, resource, job, schedule and sensor of the warehouse.

`build_definitions(settings)` is what the CLI's headless runs and the tests call; `defs` is what Dagster
loads (`dagster dev`, `dagster asset materialize -m orchestration.definitions`, workspace.yaml): the
settings are read from the environment and `.env` when Dagster asks, never at import. With
WAREHOUSE_SANDBOX=1 (`warehouse ui` sets it when it starts a sandbox) the code location reads that sandbox;
with nothing of a real source configured (no key, no workspace: right after `make demo`) it starts the
built-in sandbox itself, in its own process. Either way it writes the demo's own files only
(`Settings.demo()`), and says so in the job, its runs' tags and the code location's metadata. A real key
never falls back to the sandbox: a half-configured setup fails to load with one line naming what to set.
"""

from __future__ import annotations

import atexit
import datetime as dt
import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import dagster as dg

from assets.checks import raw_checks
from assets.clockify import build_clockify_assets
from assets.dbt import build_dbt_assets
from assets.linear import build_linear_assets
from assets.publish import build_published_marts
from assets.writeback import writeback_assets
from orchestration.dbt_project import dbt_project, prepare
from orchestration.executor import threads_executor
from orchestration.jobs import build_warehouse_job, writeback_job
from orchestration.partitions import daily_partitions
from orchestration.resources import build_resources
from orchestration.schedules import build_daily_schedule
from orchestration.sensors import build_writeback_sensor
from orchestration.settings import ConfigError, Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """The definitions for `settings` (the dbt manifest is prepared first when missing or stale)."""
    project = prepare(dbt_project(settings))
    partitions = daily_partitions(settings.start_date)
    dbt_assets = build_dbt_assets(project)
    warehouse_job = build_warehouse_job(
        partitions, settings.sandbox, str(settings.warehouse_path), step_threads=settings.step_threads
    )
    source = (
        "built-in sandbox (made-up data)"
        if settings.sandbox
        else f"Clockify workspace {settings.clockify.workspace_id}"
    )
    return dg.Definitions(
        metadata={"data source": source, "warehouse": str(settings.warehouse_path)},
        assets=[
            *build_clockify_assets(partitions),
            *build_linear_assets(partitions),
            dbt_assets,
            build_published_marts(dbt_assets),
            *writeback_assets,
        ],
        asset_checks=raw_checks,
        resources=build_resources(settings, project),
        jobs=[warehouse_job, writeback_job],
        schedules=[build_daily_schedule(warehouse_job, settings.resync_days, settings.start_date)],
        sensors=[build_writeback_sensor(warehouse_job, writeback_job, settings.writeback)],
        # Assets materialised from the UI's graph or `dagster asset materialize` run like the job: in threads.
        executor=threads_executor(settings.step_threads),
    )


LOOPBACK = ("127.0.0.1", "localhost", "::1")
# The built-in sandbox: the data `warehouse demo` and `warehouse ui` load (their default seed, team and days).
BUILTIN_SANDBOX = {"seed": 7, "users": 12, "days": 90}
_BUILTIN: dict = {}  # this process's built-in sandbox, started once


def builtin_sandbox_env() -> dict[str, str]:
    """Start the built-in sandbox in this process (once) on a free loopback port; its variables.

    Every process that loads the code location starts its own (a run's step processes load it again); the
    data depends only on the config and the UTC day, so all processes of a run read the same entries."""
    if "sandbox" not in _BUILTIN:
        from sandbox import Sandbox, SandboxConfig  # noqa: PLC0415 - only the sandbox mode needs it

        config = SandboxConfig(**BUILTIN_SANDBOX, anchor=dt.datetime.now(dt.UTC).date())
        _BUILTIN["sandbox"] = Sandbox(config).start()  # a daemon thread: it ends with the process
    return _BUILTIN["sandbox"].env()


def location_settings(settings: Settings) -> Settings:
    """The code location's settings: the configured workspace; or, in sandbox mode (WAREHOUSE_SANDBOX=1,
    or nothing of a real source set), the demo's files and only local URLs. Raises ConfigError (one line)
    for a half-configured setup, and for the built-in sandbox with another DAGSTER_HOME than the demo's."""
    if settings.sandbox:
        for name, url in (
            ("CLOCKIFY_API_URL", settings.clockify.api_url),
            ("LINEAR_API_URL", settings.linear.api_url),
        ):
            if urlsplit(url).hostname not in LOOPBACK:
                raise ConfigError(
                    f"WAREHOUSE_SANDBOX=1 but {name}={url} is not the sandbox: unset WAREHOUSE_SANDBOX to read "
                    "that API, or start the UI with `warehouse ui --sandbox`."
                )
        return settings.demo()
    configured = settings.configured()
    if configured:
        missing = settings.missing()
        if missing:  # never the sandbox once a real setting is there: say what else to set
            raise ConfigError(
                f"{'; '.join(line.rstrip('.') for line in missing)} (reading your workspace needs all three; "
                f"set here: {', '.join(configured)})."
            )
        return settings
    demo_home = settings.demo().dagster_home
    if settings.dagster_home is not None and Path(settings.dagster_home).resolve() != Path(demo_home).resolve():
        # The built-in sandbox's runs belong in the demo's run history, never in a real workspace's.
        raise ConfigError(
            f"no CLOCKIFY_API_KEY is set, so this reads the built-in sandbox into the demo's files: set "
            f"DAGSTER_HOME={demo_home} (the demo's run history), or set CLOCKIFY_API_KEY, CLOCKIFY_WORKSPACE_ID "
            "and LINEAR_API_KEY to read your workspace."
        )
    return settings.demo(builtin_sandbox_env())


def _loaded_by_this_command() -> bool:
    """Whether this process is a `dagster` command that loads the code location itself (`dagster asset
    materialize -m ...`), not a code server (`dagster api grpc`, what `dagster dev`, the webserver and the
    schedule and sensor commands start) that must report a load error to whoever asked."""
    argv0 = Path(sys.argv[0] if sys.argv else "")
    is_dagster = argv0.name == "dagster" or (argv0.name == "__main__.py" and argv0.parent.name == "dagster")
    return is_dagster and len(sys.argv) > 1 and sys.argv[1] not in ("api", "dev", "code-server")


def _fail_load(error: ConfigError) -> NoReturn:
    """One line, not Dagster's traceback of the load: a command that loads the code itself exits with it;
    a code server prints it first and last (its caller prints the traceback in between) and raises, so
    the UI shows the error on the code location."""
    line = f"error: {error}"
    if _loaded_by_this_command():
        raise SystemExit(line)
    print(line, file=sys.stderr, flush=True)
    atexit.register(print, line, file=sys.stderr, flush=True)
    raise error


@dg.definitions
def defs() -> dg.Definitions:
    try:
        settings = location_settings(Settings.load())
    except ConfigError as error:
        _fail_load(error)
    return build_definitions(settings)
