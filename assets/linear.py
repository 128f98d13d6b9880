"""Raw Linear assets: teams, cycles and the other dimensions, and issues by day of last update."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.common import DUCKDB_POOL, OWNERS, load_metadata, raw_key, snapshot_asset
from orchestration.clients.errors import FeatureNotAccessible
from orchestration.clients.linear.client import LinearClient
from orchestration.partitions import window_dates
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
linear_labels = snapshot_asset(
    t.LINEAR_LABELS,
    "linear",
    "linear",
    lambda c: c.labels(),
    "Linear issue labels (workspace and team labels, groups with their children); issues name theirs in label_ids.",
)

NO_CUSTOMERS_NOTE = (
    "This Linear plan does not include customers (FEATURE_NOT_ACCESSIBLE): no customer needs were loaded, "
    "and marts.hours_per_customer stays empty."
)


@asset(
    key=raw_key(t.LINEAR_CUSTOMER_NEEDS),
    group_name="linear",
    description="Linear customer needs (requests): which customer asked for which issue or project. Customers are "
    "a plan feature: without it the asset says so in its metadata and loads nothing (the table is left empty).",
    kinds={"linear", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
)
def linear_customer_needs(context: AssetExecutionContext, linear: LinearClient, warehouse: Warehouse):
    before = linear.requests_made
    try:
        records = linear.customer_needs()
        available = True
    except FeatureNotAccessible:
        records, available = [], False
        context.log.warning(NO_CUSTOMERS_NOTE)
    result = warehouse.replace_snapshot(t.LINEAR_CUSTOMER_NEEDS, records)
    metadata = load_metadata(t.LINEAR_CUSTOMER_NEEDS, result, linear.requests_made - before)
    metadata["feature_available"] = available
    if not available:
        metadata["note"] = MetadataValue.text(NO_CUSTOMERS_NOTE)
    return MaterializeResult(metadata=metadata)


def build_linear_issues(partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    """The issues asset on the daily partitions of the run's Settings (WAREHOUSE_START_DATE)."""

    @asset(
        key=raw_key(t.LINEAR_ISSUES),
        group_name="linear",
        description="Linear issues (archived included), partitioned by the UTC date of their last update. "
        "The first load brings the full history so every issue a time entry names is present; later loads "
        "fetch issues updated since the start of the requested range. Raw keeps each issue's latest version.",
        kinds={"linear", "duckdb"},
        owners=OWNERS,
        pool=DUCKDB_POOL,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
    )
    def linear_issues(context: AssetExecutionContext, linear: LinearClient, warehouse: Warehouse):
        start, end = context.partition_time_window
        window = window_dates(start, end)
        first_load = warehouse.row_count(t.LINEAR_ISSUES) == 0
        # No upper bound: an issue updated after the range still is the latest version, and time entries
        # in the range may name it. Issues are never deleted upstream, so nothing older is lost.
        updated_from = None if first_load else start
        context.log.info(
            "Fetching Linear issues %s",
            "(full history, first load)" if first_load else f"updated since {start:%Y-%m-%d}",
        )
        before = linear.requests_made
        records = linear.iter_issues(updated_from=updated_from)  # staged page by page (bounded memory)
        result = warehouse.upsert_by_id(t.LINEAR_ISSUES, records)
        metadata = load_metadata(t.LINEAR_ISSUES, result, linear.requests_made - before, window)
        metadata["full_history"] = first_load
        return MaterializeResult(metadata=metadata)

    return linear_issues


LINEAR_SNAPSHOTS = [
    linear_users,
    linear_teams,
    linear_cycles,
    linear_projects,
    linear_workflow_states,
    linear_customers,
    linear_labels,
    linear_customer_needs,
]


def build_linear_assets(partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    return [*LINEAR_SNAPSHOTS, build_linear_issues(partitions)]
