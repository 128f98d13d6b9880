"""Raw Linear assets: teams, cycles and the other dimensions, and issues by day of last update."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    asset,
)

from assets.common import DUCKDB_POOL, OWNERS, raw_key, snapshot_asset
from assets.reconcile import linear_issue_ids
from assets.resume import load_issues
from orchestration.clients.linear.client import LinearClient
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse

linear_users = snapshot_asset(
    t.LINEAR_USERS, "linear", "linear", lambda c: c.users(), "Linear users (assignees, creators)."
)
linear_teams = snapshot_asset(
    t.LINEAR_TEAMS, "linear", "linear", lambda c: c.teams(), "Linear teams; the key prefixes issue identifiers."
)
linear_cycles = snapshot_asset(
    t.LINEAR_CYCLES,
    "linear",
    "linear",
    lambda c: c.cycles(),
    "Linear cycles (sprints) of every team, with their start and end.",
)
linear_projects = snapshot_asset(t.LINEAR_PROJECTS, "linear", "linear", lambda c: c.projects(), "Linear projects.")
linear_workflow_states = snapshot_asset(
    t.LINEAR_WORKFLOW_STATES,
    "linear",
    "linear",
    lambda c: c.workflow_states(),
    "Workflow states of every team; `type` says whether an issue is open, done or canceled.",
)
linear_customers = snapshot_asset(t.LINEAR_CUSTOMERS, "linear", "linear", lambda c: c.customers(), "Linear customers.")


def build_linear_issues(partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    """The issues asset on the daily partitions of the run's Settings (WAREHOUSE_START_DATE)."""

    @asset(
        key=raw_key(t.LINEAR_ISSUES),
        group_name="linear",
        description="Linear issues (archived included), partitioned by the UTC date of their last update. "
        "The first load brings the full history so every issue a time entry names is present; later loads "
        "fetch issues updated since the start of the requested range. Raw keeps each issue's latest version. "
        "The read is a walk, checkpointed every 40 pages: a walk the complexity budget stops (a large "
        "organisation's first load needs hours) resumes in the next run where it stopped; issues Linear "
        "deletes are found by raw/linear_issue_ids.",
        kinds={"linear", "duckdb"},
        owners=OWNERS,
        pool=DUCKDB_POOL,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        output_required=False,  # a budget stop materialises only the partitions it read whole (assets/resume.py)
    )
    def linear_issues(context: AssetExecutionContext, linear: LinearClient, warehouse: Warehouse):
        yield from load_issues(context, linear, warehouse)  # staged page by page (bounded memory)

    return linear_issues


LINEAR_SNAPSHOTS = [
    linear_users,
    linear_teams,
    linear_cycles,
    linear_projects,
    linear_workflow_states,
    linear_customers,
]


def build_linear_assets(partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    return [*LINEAR_SNAPSHOTS, build_linear_issues(partitions), linear_issue_ids]
