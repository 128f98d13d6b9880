"""What the asset modules share: owners, the DuckDB pool, group names, asset keys, the snapshot-asset
factory and load metadata. Raw assets coordinate one fetch and one load, nothing more."""

import datetime as dt
from collections.abc import Callable, Sequence

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from orchestration.warehouse.duckdb import LoadResult, Warehouse
from orchestration.warehouse.raw_tables import ALL_TABLES, CLOCKIFY_ISSUE_TASK_LINKS, RawTable, WrittenTable

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


def snapshot_asset(
    table: RawTable,
    source: str,
    client_resource: str,
    fetch: Callable[[object], Sequence[dict]],
    description: str,
    deps: Sequence[AssetKey] = (),
):
    """An unpartitioned asset whose table is replaced whole by each fetch (small dimensions)."""

    @asset(
        key=raw_key(table),
        group_name=source,
        description=description,
        kinds={source, "duckdb"},
        owners=OWNERS,
        pool=DUCKDB_POOL,
        deps=list(deps),
        required_resource_keys={client_resource, "warehouse"},
    )
    def _snapshot(context: AssetExecutionContext) -> MaterializeResult:
        client = getattr(context.resources, client_resource)
        warehouse: Warehouse = context.resources.warehouse
        before = client.requests_made  # one client instance serves every asset of a run
        records = fetch(client)
        result = warehouse.replace_snapshot(table, records)
        context.log.info("%s: %d rows loaded", table.qualified_name, result.rows)
        return MaterializeResult(metadata=load_metadata(table, result, client.requests_made - before))

    return _snapshot
