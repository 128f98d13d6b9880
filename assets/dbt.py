"""The dbt layer (dbt_project/) as Dagster assets: raw -> staging -> marts.

- One `@dbt_assets` definition, `hours_dbt_assets`, runs `dbt build` (models and data tests; the unit tests,
  which never read the warehouse's data, run in `make test`). dbt data tests appear as asset checks on the
  model they test.
- Asset keys are `[schema, model]` (`["staging", "stg_clockify__time_entries"]`,
  `["marts", "hours_per_issue"]`), groups `staging` / `marts`, kinds {dbt, duckdb}. dbt sources carry
  `meta.dagster.asset_key` = `["raw", "<table>"]`, so they resolve to the raw assets.
- Every DuckDB writer shares the Dagster concurrency pool `duckdb` (limit 1, configured on the instance).
- The project handle, the manifest's preparation, the warehouse's build directory and `--vars` are in
  orchestration/dbt_project.py; `build_dbt_assets(project)` needs a prepared manifest.
"""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from assets.checks import with_failed_rules
from assets.common import DUCKDB_POOL
from orchestration.dbt_project import build_target_path, dbt_vars
from orchestration.warehouse.duckdb import Warehouse
from orchestration.warehouse.locking import warehouse_lock

# Most of dbt's time per node is overhead that waits (compiling, writing target/ files, cursor set-up),
# not CPU, so more threads than cores overlap it: on 2 cores `dbt build` took 26 s with the profile's
# 2 threads and 17 s with 8 (benchmarks/RESULTS.md). DuckDB runs the threads' queries in one process.
DBT_THREADS = 8
# dbt's unit tests check the models' SQL on fixed fixture rows, never the warehouse's data: the same answer in
# every build. They run where the SQL changes, in `make test` (tests/test_dbt_build.py builds with them), and
# not in each run's build (dbt's own advice for production), where they took a sixth of the build's thread
# time (26 unit tests, 18 of 108 thread-seconds; benchmarks/RESULTS.md).
RUN_EXCLUDES = ["--exclude-resource-type", "unit_test"]
MODEL_TYPES = ("model", "seed", "snapshot")


def model_key(props: Mapping[str, Any]) -> AssetKey:
    return AssetKey([props["schema"], props["name"]])


class HoursDbtTranslator(DagsterDbtTranslator):
    """Models are keyed `[schema, name]` and grouped by schema; sources keep their meta asset key."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] in MODEL_TYPES:
            spec = spec.replace_attributes(key=model_key(props), group_name=props["schema"])  # staging | marts
        return spec

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        # dagster-dbt 0.29 still asks this alone in one place (observations of tests run outside the
        # selection): the same rule as get_asset_spec.
        if dbt_resource_props["resource_type"] in MODEL_TYPES:
            return model_key(dbt_resource_props)
        return super().get_asset_key(dbt_resource_props)


dbt_translator = HoursDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def build_dbt_assets(project: DbtProject) -> AssetsDefinition:
    """The dbt assets of `project` (its manifest prepared: orchestration.dbt_project.prepare)."""

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=dbt_translator,
        name="hours_dbt_assets",
        pool=DUCKDB_POOL,
    )
    def hours_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        """`dbt build`: staging views, marts tables and data tests (as asset checks); unit tests run in CI."""
        # dbt opens the DuckDB file without waiting for its lock: hold the cross-process warehouse lock for
        # the whole build so no other sync, step or reader has it open meanwhile (warehouse/locking.py).
        with warehouse_lock(warehouse.path, timeout_seconds=3600):
            invocation = dbt.cli(
                [
                    "build",
                    "--threads",
                    str(DBT_THREADS),
                    *RUN_EXCLUDES,
                    *dbt_vars(warehouse.path, warehouse.timezone, warehouse.workday_hours),
                ],
                context=context,
                # The warehouse's own directory: dbt keeps partial_parse.msgpack there for its next build.
                target_path=build_target_path(project, warehouse.path),
            )
            # raises if the build failed; a failed model_rules check names its rules (assets/checks.py)
            yield from with_failed_rules(invocation, warehouse)

    return hours_dbt_assets
