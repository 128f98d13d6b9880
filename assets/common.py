"""What the asset modules share: owners, the DuckDB pool, group names, asset keys, the snapshot-asset
factory and load metadata, and how a raw asset says a budget stopped it. Raw assets coordinate one fetch and
one load, nothing more."""

import datetime as dt
from collections.abc import Callable, Iterator, Sequence

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from orchestration.clients.budget import iso
from orchestration.clients.errors import BudgetExhausted, FeatureNotAccessible
from orchestration.warehouse import ledger
from orchestration.warehouse.duckdb import LoadResult, Warehouse
from orchestration.warehouse.raw_tables import (
    ALL_TABLES,
    CLOCKIFY_ISSUE_TASK_LINKS,
    CLOCKIFY_TIME_ENTRIES,
    LINEAR_ISSUES,
    RawTable,
    WrittenTable,
)

OWNERS = ["team:data-platform"]
# Every DuckDB writer (raw loads and dbt) shares this pool; dagster.yaml gives it a limit of 1.
DUCKDB_POOL = "duckdb"
# Group of the Clockify write-back asset (assets/writeback.py): never part of warehouse_job, so a sync
# never writes to Clockify; it runs as its own job (clockify_writeback_job, `warehouse writeback`).
WRITEBACK_GROUP = "writeback"


def raw_key(table: RawTable | WrittenTable) -> AssetKey:
    return AssetKey(["raw", table.name])


# Every raw asset loaded from an API (what a sync of the raw layer selects), and the write-back asset.
API_RAW_KEYS: list[AssetKey] = [raw_key(t) for t in ALL_TABLES]
LINKS_KEY = raw_key(CLOCKIFY_ISSUE_TASK_LINKS)


def load_metadata(
    table: RawTable,
    result: LoadResult,
    requests_made: int,
    window: tuple[dt.date, dt.date] | None = None,
) -> dict:
    metadata = {
        "dagster/row_count": result.rows,
        "api_requests": requests_made,
        "table": MetadataValue.text(table.qualified_name),
    }
    if window:
        metadata["date_range"] = MetadataValue.text(f"{window[0]} .. {window[1]}")
    if result.unplaceable:
        metadata["unplaceable_records"] = result.unplaceable
    return metadata


# A run stopped by an API budget says so in this run tag (the UI's run list, `warehouse sync`).
BUDGET_STOP_TAG = "warehouse/budget_stop"
# The partitioned asset whose backlog makes a run of the source a continuation (see refresh_snapshot).
BACKLOG_OF = {"clockify": CLOCKIFY_TIME_ENTRIES.name, "linear": LINEAR_ISSUES.name}


def api_now(client) -> dt.datetime:
    """Now on the client's API clock, naive UTC (how the ledger stores times)."""
    return dt.datetime.fromtimestamp(client.clock.time(), dt.UTC).replace(tzinfo=None)


def tag_run(context: AssetExecutionContext, text: str) -> None:
    """Add `text` to the run's budget-stop tag."""
    try:
        # The instance's copy: context.run's tags are those the run started with, not those added since.
        run = context.instance.get_run_by_id(context.run_id)
        previous = dict(run.tags if run else context.run.tags).get(BUDGET_STOP_TAG)
        context.instance.add_run_tags(context.run_id, {BUDGET_STOP_TAG: f"{previous}; {text}" if previous else text})
    except Exception:  # invoked directly (tests): no run to tag
        pass


def refresh_snapshot(
    context: AssetExecutionContext,
    client,
    warehouse: Warehouse,
    table: RawTable,
    source: str,
    fetch: Callable[[], Sequence[dict]],
    plan_feature: bool = False,
    unavailable_note: str | None = None,
    also_write: Callable[[object], None] | None = None,
    keep: Callable[[object], str | None] | None = None,
) -> Iterator[MaterializeResult]:
    """Replace a dimension's table with a fresh read (and run `also_write(con)` in its transaction), except:

    - when `keep(con)` says why the table loaded before serves this run (a list read in turn, rotation.py):
      nothing is fetched, the table stays;

    - in a run that continues a backlog a budget stop left (its source's partitioned asset has pending
      days) when the table was refreshed since that backlog opened: nothing is fetched again;
    - when the budget stops the read: the previous table stays, and the metadata says so (with no previous
      table there is no output, so nothing downstream reads a missing table);
    - `plan_feature` records the plan lacks (FeatureNotAccessible): the table is loaded empty and the
      metadata's `feature_not_accessible` says why (`feature_available` says whether it answered, `note`
      what an empty table means for the marts, when given).
    """
    key = f"snapshot:{table.name}"
    now = api_now(client)

    def read(con):
        backlog = ledger.pending(con, BACKLOG_OF[source]).get(BACKLOG_OF[source], [])
        return (min((p.requested_at for p in backlog), default=None), ledger.get_state(con, key))

    opened, refreshed = warehouse.read(read)
    kept = warehouse.read(keep) if keep is not None and refreshed else None
    if not kept and opened is not None and refreshed and dt.datetime.fromisoformat(refreshed) >= opened:
        kept = "this run continues a stopped load"
    if kept:  # the loaded table stands: no request
        context.log.info("%s: refreshed %s, not read again: %s", table.name, refreshed, kept)
        yield MaterializeResult(
            metadata={
                "api_requests": 0,
                "refreshed": MetadataValue.text(f"{refreshed} UTC ({kept})"),
                "table": MetadataValue.text(table.qualified_name),
            }
        )
        return
    before = client.requests_made  # one client instance serves every asset of a run
    unavailable = None
    try:
        records = fetch()
    except FeatureNotAccessible as error:
        if not plan_feature:
            raise
        records, unavailable = [], str(error)
        context.log.warning("%s: loaded empty: %s", table.qualified_name, unavailable_note or unavailable)
    except BudgetExhausted as stopped:
        tag_run(context, f"{table.name}: not refreshed, budget back at {iso(stopped.resume_at)}")
        if warehouse.row_count(table) == 0 and not refreshed:
            context.log.warning("%s: not loaded: %s", table.qualified_name, stopped)
            return  # no output: downstream steps skip rather than read a table that does not exist
        yield MaterializeResult(
            metadata={
                "api_requests": client.requests_made - before,
                "refreshed": MetadataValue.text(f"not refreshed: {stopped}; the table loaded {refreshed} UTC stays"),
                "table": MetadataValue.text(table.qualified_name),
            }
        )
        return

    def also(con, _window, _rows):
        ledger.set_state(con, key, now.isoformat(), now)
        if also_write is not None:
            also_write(con)

    result = warehouse.replace_snapshot(table, records, also=also)
    context.log.info("%s: %d rows loaded", table.qualified_name, result.rows)
    metadata = load_metadata(table, result, client.requests_made - before)
    if plan_feature:
        metadata["feature_available"] = unavailable is None
    if unavailable is not None:
        metadata["feature_not_accessible"] = MetadataValue.text(unavailable)
        if unavailable_note:
            metadata["note"] = MetadataValue.text(unavailable_note)
    yield MaterializeResult(metadata=metadata)


def snapshot_asset(
    table: RawTable,
    source: str,
    client_resource: str,
    fetch: Callable[[object], Sequence[dict]],
    description: str,
    deps: Sequence[AssetKey] = (),
    plan_feature: bool = False,
    unavailable_note: str | None = None,
):
    """An unpartitioned asset whose table is replaced whole by each fetch (small dimensions).

    `plan_feature`: the records are a feature some plans lack (Linear customers). When the API says the
    plan lacks it, the table is loaded empty and the metadata says why, instead of failing every run."""

    @asset(
        key=raw_key(table),
        group_name=source,
        description=description,
        kinds={source, "duckdb"},
        owners=OWNERS,
        pool=DUCKDB_POOL,
        deps=list(deps),
        required_resource_keys={client_resource, "warehouse"},
        output_required=False,  # a first load stopped by the budget has no table to offer
    )
    def _snapshot(context: AssetExecutionContext):
        client = getattr(context.resources, client_resource)
        yield from refresh_snapshot(
            context,
            client,
            context.resources.warehouse,
            table,
            source,
            lambda: fetch(client),
            plan_feature,
            unavailable_note,
        )

    return _snapshot
