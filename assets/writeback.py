"""The write-back asset: Linear issues mirrored into Clockify as tasks (orchestration/writeback/: the rules
in plan.py, the run in apply.py).

The asset is the link table `raw.clockify_issue_task_links` (issue id <-> Clockify task id), which dbt
reads to match time entries by task id; creating and updating Clockify clients, projects and tasks is
the side effect that keeps it true. It only coordinates: read Linear from the warehouse's raw layer,
read Clockify fresh (renames done by people are seen), plan, apply up to the bound, record the links.

Opt-in: always visible (group `writeback`, never in `warehouse_job`), but it writes to Clockify only when
`CLOCKIFY_WRITEBACK=1`; otherwise it plans, writes nothing, and says "write-back disabled" in its
metadata. `dry_run: true` in the run config (or `warehouse writeback --dry-run`) lists the planned
changes and writes nothing, enabled or not.
"""

from dagster import AssetExecutionContext, Config, MaterializeResult, asset
from pydantic import Field

from assets.common import DUCKDB_POOL, LINKS_KEY, OWNERS, WRITEBACK_GROUP, raw_key
from orchestration.clients.clockify.client import ClockifyClient
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse
from orchestration.writeback.apply import WritebackOptions, run_writeback


class WritebackConfig(Config):
    dry_run: bool = Field(default=False, description="List the planned changes; write nothing to Clockify.")
    max_writes: int | None = Field(
        default=None, ge=1, description="Writes (POST/PUT) this run may make; default CLOCKIFY_WRITEBACK_MAX_WRITES."
    )


@asset(
    key=LINKS_KEY,
    group_name=WRITEBACK_GROUP,
    description="Write-back (opt-in, CLOCKIFY_WRITEBACK=1): a Clockify project per Linear team in "
    "LINEAR_TEAM_KEYS and a task per open issue named 'IDENTIFIER: title' (renamed when the issue is, DONE "
    "when it is closed), and this table of issue id <-> task id links that dbt prefers over identifiers in "
    "text. Creates and updates through the Clockify API, never deletes; at most CLOCKIFY_WRITEBACK_MAX_WRITES "
    "writes a run. Without CLOCKIFY_WRITEBACK=1, or with dry_run, it only lists the planned changes.",
    kinds={"clockify", "linear", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    deps=[raw_key(t.LINEAR_ISSUES), raw_key(t.LINEAR_TEAMS), raw_key(t.LINEAR_WORKFLOW_STATES)],
)
def clockify_issue_task_links(
    context: AssetExecutionContext,
    config: WritebackConfig,
    clockify: ClockifyClient,
    warehouse: Warehouse,
    writeback: WritebackOptions,
) -> MaterializeResult:
    outcome = run_writeback(
        clockify,
        warehouse,
        writeback.settings,
        dry_run=config.dry_run,
        max_writes=config.max_writes,
        log=context.log.info,
    )
    if outcome.mode == "write-back disabled":
        context.log.warning("write-back disabled: set CLOCKIFY_WRITEBACK=1 to write these changes to Clockify")
    return MaterializeResult(metadata=outcome.metadata())


writeback_assets = [clockify_issue_task_links]
