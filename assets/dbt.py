"""The dbt layer (dbt_project/) as Dagster assets: raw -> staging -> marts.

- One `@dbt_assets` definition, `hours_dbt_assets`, runs `dbt build` (models, data tests and unit
  tests). dbt data tests appear as asset checks on the model they test.
- Asset keys are `[schema, model]` (`["staging", "stg_clockify__time_entries"]`,
  `["marts", "hours_per_issue"]`), groups `staging` / `marts`, kinds {dbt, duckdb}. dbt sources carry
  `meta.dagster.asset_key` = `["raw", "<table>"]`, so they resolve to the raw assets.
- Every DuckDB writer shares the Dagster concurrency pool `duckdb` (limit 1, configured on the instance).
- The dbt CLI needs `WAREHOUSE_PATH` (absolute path of the DuckDB file) in the environment; the
  orchestration sets it.

The manifest: `@dbt_assets` needs `dbt_project/target/manifest.json` when this module is imported. It is
a build artifact (git-ignored), so a fresh clone has none. On import we therefore
  * under `dagster dev`, re-parse on every load (DbtProject.prepare_if_dev semantics, edits show up);
  * otherwise parse only when the manifest is missing (CI, tests, `warehouse` CLI in a fresh clone) or
    older than a .sql/.yml file of the project (a model edited since the last parse); a few stat calls.
Parsing runs `dbt parse` in a subprocess (~5 s) into a private temporary target dir and moves the
manifest into place atomically, so concurrent imports cannot read a half-written file. `dbt parse` does
not open the warehouse; a placeholder WAREHOUSE_PATH is supplied for it when none is set. Deployments
can still prepare it ahead of time (`dagster-dbt project prepare-and-package` or `dbt parse`).

Partial parsing: dagster-dbt runs every invocation in a fresh `target/<id>/` dir and seeds it with
`target/partial_parse.msgpack` when that exists. So after a successful `dbt build` (and after
`prepare_manifest`) the invocation's `partial_parse.msgpack` is copied back to `target/` (temp file +
os.replace, so concurrent runs never see half a file), and the next build re-parses only what changed.
dbt discards it ("Unable to do partial parsing because profile has changed") when the rendered profile
differs, i.e. when WAREHOUSE_PATH differs from the run that wrote it: it helps consecutive runs on one
warehouse (the daily runs), not alternating warehouses.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
DUCKDB_POOL = "duckdb"
# Most of dbt's time per node is overhead that waits (compiling, writing target/ files, cursor set-up),
# not CPU, so more threads than cores overlap it: on 2 cores `dbt build` took 26 s with the profile's
# 2 threads and 17 s with 8 (benchmarks/RESULTS.md). DuckDB runs the threads' queries in one process.
DBT_THREADS = 8
PARTIAL_PARSE_FILE = "partial_parse.msgpack"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The dbt CLI of this interpreter's environment (works without an activated venv)."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return str(beside)
    return shutil.which("dbt") or "dbt"


def prepare_manifest(project: DbtProject = dbt_project) -> Path:
    """Run `dbt parse` and atomically install target/manifest.json. Returns its path."""
    env = dict(os.environ)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # `dbt parse` renders profiles.yml but never connects: any path satisfies env_var('WAREHOUSE_PATH').
    env.setdefault("WAREHOUSE_PATH", str(Path(tempfile.gettempdir()) / "dbt-parse-placeholder.duckdb"))
    target_dir = project.project_dir / project.target_path
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".parse-") as tmp:
        result = subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--quiet",
                "--project-dir",
                str(project.project_dir),
                "--profiles-dir",
                str(project.profiles_dir),
                "--target-path",
                tmp,
                "--log-path",
                tmp,
            ],
            cwd=project.project_dir,
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dbt parse failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        os.replace(Path(tmp) / "manifest.json", project.manifest_path)
        if (Path(tmp) / PARTIAL_PARSE_FILE).exists():
            os.replace(Path(tmp) / PARTIAL_PARSE_FILE, partial_parse_path(project))
    return project.manifest_path


def partial_parse_path(project: DbtProject = dbt_project) -> Path:
    """Where dagster-dbt looks for the msgpack it seeds each invocation with (DBT_TARGET_PATH or target/)."""
    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return (target if target.is_absolute() else project.project_dir / target) / PARTIAL_PARSE_FILE


def keep_partial_parse(invocation_target: Path, project: DbtProject = dbt_project) -> Path | None:
    """Atomically install an invocation's partial_parse.msgpack as the one the next invocation starts from."""
    source = Path(invocation_target) / PARTIAL_PARSE_FILE
    if not source.exists():
        return None
    destination = partial_parse_path(project)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=".partial_parse-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out)
        shutil.copymode(source, tmp)  # mkstemp's 0600 -> dbt's own mode
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return destination


def manifest_is_stale(project: DbtProject = dbt_project) -> bool:
    """True when the manifest is missing or older than a file of the dbt project (a model was edited)."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    skip = {
        project.project_dir / project.target_path,
        project.project_dir / "logs",
        project.project_dir / "dbt_packages",
    }
    for root, dirs, files in os.walk(project.project_dir):
        dirs[:] = [d for d in dirs if Path(root, d) not in skip and not d.startswith(".")]
        if any(
            Path(root, f).stat().st_mtime > built for f in files if f.endswith((".sql", ".yml", ".yaml", ".csv", ".md"))
        ):
            return True
    return False


def _ensure_manifest() -> None:
    using_dagster_dev = bool(os.environ.get("DAGSTER_IS_DEV_CLI"))
    if using_dagster_dev or manifest_is_stale(dbt_project):
        prepare_manifest(dbt_project)


_ensure_manifest()


class HoursDbtTranslator(DagsterDbtTranslator):
    """Models are keyed `[schema, name]` and grouped by schema; sources keep their meta asset key."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dbt_resource_props["schema"]  # staging | marts
        return super().get_group_name(dbt_resource_props)


dbt_translator = HoursDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource for Definitions(resources={"dbt": dbt_resource()})."""
    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=dbt_translator,
    name="hours_dbt_assets",
    pool=DUCKDB_POOL,
)
def hours_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build`: staging views, marts tables, data tests (as asset checks) and unit tests."""
    # dbt opens the DuckDB file without waiting for its lock: hold the cross-process warehouse lock for the
    # whole build so no other sync, step or reader has it open meanwhile (orchestration/locking.py).
    from orchestration import settings
    from orchestration.warehouse.locking import warehouse_lock

    with warehouse_lock(settings.warehouse_path(), timeout_seconds=3600):
        invocation = dbt.cli(["build", "--threads", str(DBT_THREADS)], context=context)
        yield from invocation.stream()  # raises if the build failed
    try:  # the next build partially parses from it (module docstring); an optimisation, never fatal
        keep_partial_parse(invocation.target_path)
    except OSError as error:
        context.log.warning(f"could not keep dbt's {PARTIAL_PARSE_FILE} for the next build: {error}")
