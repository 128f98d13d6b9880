"""Raw Linear assets: teams, cycles and the other dimensions, issues by day of last update, and the issues'
history (records and state spans)."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Config,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from pydantic import Field

from assets.common import DUCKDB_POOL, OWNERS, api_now, raw_key, snapshot_asset, tag_run
from assets.reconcile import linear_issue_ids
from assets.resume import load_issues
from orchestration.clients.budget import iso
from orchestration.clients.linear.client import IssueHistoryBatch, LinearClient
from orchestration.warehouse import ledger
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
linear_customers = snapshot_asset(
    t.LINEAR_CUSTOMERS,
    "linear",
    "linear",
    lambda c: c.customers(),
    "Linear customers; empty (metadata `feature_not_accessible` says why) where the plan lacks customers.",
    plan_feature=True,
)
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


linear_customer_needs = snapshot_asset(
    t.LINEAR_CUSTOMER_NEEDS,
    "linear",
    "linear",
    lambda c: c.customer_needs(),
    "Linear customer needs (requests): which customer asked for which issue or project. Customers are a plan "
    "feature: without it the asset says so in its metadata and loads nothing (the table is left empty).",
    plan_feature=True,
    unavailable_note=NO_CUSTOMERS_NOTE,
)


class LinearIssuesConfig(Config):
    full_reread: bool = Field(
        default=False,
        description="Read every issue updated since the start of the requested range, not only those updated "
        "since the last load's watermark (`warehouse sync --full-reread`).",
    )


def build_linear_issues(partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    """The issues asset on the daily partitions of the run's Settings (WAREHOUSE_START_DATE)."""

    @asset(
        key=raw_key(t.LINEAR_ISSUES),
        group_name="linear",
        description="Linear issues (archived included), partitioned by the UTC date of their last update. "
        "The first load brings the full history so every issue a time entry names is present; later loads "
        "fetch the issues updated since the newest updatedAt the last load read, less an hour (whatever the "
        "requested range; config `full_reread: true` reads everything updated since the range's start). "
        "Raw keeps each issue's latest version. "
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
    def linear_issues(
        context: AssetExecutionContext, config: LinearIssuesConfig, linear: LinearClient, warehouse: Warehouse
    ):
        # staged page by page (bounded memory)
        yield from load_issues(context, linear, warehouse, full_reread=config.full_reread)

    return linear_issues


# Issues whose history is committed together: a stopped or failed walk keeps what it committed, and the next
# run reads only the issues still missing (the commits are whole issues: never half a history).
HISTORY_CHECKPOINT_ISSUES = 2_500
HISTORY_TABLES = (t.LINEAR_ISSUE_HISTORY, t.LINEAR_ISSUE_STATE_SPANS)
HISTORY_STATE = ledger.HISTORY_STATE  # ops.state: the issues a budget stop left, until the history is whole
# After the reconcile walk too: it queues the issues whose history changed without an updatedAt bump.
HISTORY_DEPS = [raw_key(t.LINEAR_ISSUES), raw_key(t.LINEAR_ISSUE_IDS)]


@multi_asset(
    name="linear_issue_history",
    specs=[
        AssetSpec(
            raw_key(t.LINEAR_ISSUE_HISTORY),
            group_name="linear",
            deps=HISTORY_DEPS,
            description="Linear issue history (`Issue.history`): one row per IssueHistory record, what changed "
            "together (state, cycle, team, estimate, assignee, project, priority, labels, archived/trashed).",
            kinds={"linear", "duckdb"},
            owners=OWNERS,
        ),
        AssetSpec(
            raw_key(t.LINEAR_ISSUE_STATE_SPANS),
            group_name="linear",
            deps=HISTORY_DEPS,
            description="Linear issue state spans (`Issue.stateHistory`): the workflow state an issue was in, "
            "from when until when.",
            kinds={"linear", "duckdb"},
            owners=OWNERS,
        ),
    ],
    pool=DUCKDB_POOL,
)
def linear_issue_history(context: AssetExecutionContext, linear: LinearClient, warehouse: Warehouse):
    """The history of every issue in raw whose history is missing or older than its updatedAt: all of them on
    the first load, then the ones the run's issue load brought changed (and any left over by an earlier
    run). The history is the lowest-priority Linear read (HISTORY_BUDGET_RESERVE in the client): it stops,
    committed in whole issues and reported (metadata, the run's budget-stop tag, the ledger), when Linear's
    hourly budget cannot pay for the next batch and still leave the reserve; the next run goes on with what
    is left. The marts are built in the same run from what is committed."""
    pending = warehouse.issues_without_current_history(t.LINEAR_ISSUES, *HISTORY_TABLES)
    first_load = warehouse.row_count(t.LINEAR_ISSUE_STATE_SPANS) == 0
    previous, reread = warehouse.read(
        lambda con: (ledger.get_state(con, HISTORY_STATE), ledger.get_state(con, ledger.HISTORY_REREAD) or [])
    )
    # The queued issues first: the changes of the last day, like the most recently updated ones.
    current = set(pending)
    pending = [i for i in reread if i not in current] + pending
    context.log.info(
        "Fetching the Linear history of %d issue(s)%s",
        len(pending),
        f" (continuing the history a budget stop left at {previous['stopped_at']})"
        if previous
        else " (first load)"
        if first_load
        else "",
    )
    before = linear.requests_made
    walk = linear.issue_history(pending)
    loaded = {table.name: 0 for table in HISTORY_TABLES}
    found = 0
    held: list[IssueHistoryBatch] = []

    def commit() -> None:
        if not held:
            return
        issue_ids = [issue_id for batch in held for issue_id in batch.found]
        history = [r for batch in held for r in batch.history]
        spans = [r for batch in held for r in batch.spans]
        # History first, spans last: the spans carry the "read at" mark, so a crash in between re-reads.
        loaded[t.LINEAR_ISSUE_HISTORY.name] += warehouse.replace_for_keys(
            t.LINEAR_ISSUE_HISTORY, history, "issue_id", issue_ids
        ).rows
        loaded[t.LINEAR_ISSUE_STATE_SPANS.name] += warehouse.replace_for_keys(
            t.LINEAR_ISSUE_STATE_SPANS, spans, "issue_id", issue_ids
        ).rows
        held.clear()

    for batch in walk:
        held.append(batch)
        found += len(batch.found)
        if sum(len(b.requested) for b in held) >= HISTORY_CHECKPOINT_ISSUES:
            commit()
    commit()
    if found == 0:
        # A first load the budget stops before its first batch (the issues' own first load spent the hour
        # down to the reserve) still creates both raw tables: dbt's staging reads them in the same run.
        for table in HISTORY_TABLES:
            warehouse.replace_for_keys(table, [], "issue_id", [])
    left = len(walk.remaining)
    stopped = walk.stopped
    now = api_now(linear)

    def record(con) -> None:
        # What the ledger says is a report (the run's outcome, the next run's log): the checkpoint itself is
        # the raw tables, whose committed histories carry the updatedAt they were read at, so the next run
        # asks only for the issues left (issues_without_current_history), in the same order.
        if reread:
            left_ids = set(walk.remaining)
            ledger.set_state(con, ledger.HISTORY_REREAD, [i for i in reread if i in left_ids] or None, now)
        if stopped is None:
            ledger.set_state(con, HISTORY_STATE, None, now)
            return
        ledger.set_state(
            con,
            HISTORY_STATE,
            {"issues_pending": left, "stopped_at": now.isoformat(), "resume_at": iso(stopped.resume_at)},
            now,
        )

    warehouse.write(record)
    if stopped is not None:
        context.log.warning(
            "Linear issue history: %d of %d issue(s) left for the next run; what was read is committed and the "
            "flow marts count the issues without history as 'history not loaded'. %s",
            left,
            len(pending),
            stopped,
        )
        tag_run(context, f"{HISTORY_STATE}: {left:,} issues left, budget back at {iso(stopped.resume_at)}")
    requests = linear.requests_made - before
    common = {
        "complexity_points": round(walk.points),
        "issues_read": found,
        "issues_pending": left,
        "issues_not_returned": walk.done - found,  # e.g. purged from Linear's trash
        "full_history": first_load,
        "budget_reserve": MetadataValue.text(f"{walk.budget_reserve:.0%} of each hourly bucket left to other reads"),
        "paused": MetadataValue.text(walk.paused or "no"),
    }
    if stopped is not None:
        common["budget_stop"] = MetadataValue.text(str(stopped))
        common["resumes_at"] = MetadataValue.text(iso(stopped.resume_at))
    for table in HISTORY_TABLES:
        yield MaterializeResult(
            asset_key=raw_key(table),
            metadata={
                **common,
                # One walk reads both tables: its requests are counted once, on the history records.
                "api_requests": requests if table is HISTORY_TABLES[0] else 0,
                "rows_written": loaded[table.name],
                "table": MetadataValue.text(table.qualified_name),
            },
        )


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
    return [*LINEAR_SNAPSHOTS, build_linear_issues(partitions), linear_issue_history, linear_issue_ids]
