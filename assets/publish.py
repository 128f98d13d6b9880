"""Publishing the marts for BI tools: `marts/published_marts`, downstream of every dbt mart model.

After a successful `dbt build` (the asset is skipped when dbt fails) it copies schema `marts` of the
warehouse into `data/marts.duckdb` (or `MARTS_PATH`) and swaps that file in atomically
(`orchestration.warehouse.publish`). BI tools read that file; they never open the warehouse, so they never block a
run and never see a half-built state.

Metadata: the published file, row counts per table and a preview of the first rows of each mart, both on
this asset's materialisation and as an observation on each mart's own asset (dbt's materialisations carry
no row counts: counting while `dbt build` still holds the DuckDB file is impossible).
"""

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.common import DUCKDB_POOL, OWNERS
from orchestration.warehouse.duckdb import Warehouse
from orchestration.warehouse.publish import MARTS_SCHEMA, PUBLISHED_SCHEMA, PUBLISHED_TABLE, publish_marts

PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 40
PUBLISHED_MARTS_KEY = AssetKey([MARTS_SCHEMA, "published_marts"])


def mart_keys(dbt_assets: AssetsDefinition) -> list[AssetKey]:
    """The dbt models of schema `marts`, the tables that are published."""
    return sorted((k for k in dbt_assets.keys if k.path[0] == MARTS_SCHEMA), key=lambda k: k.path)


def _cell(value) -> str:
    if value is None:
        return ""
    text = f"{value:.2f}" if isinstance(value, float) else str(value)
    if len(text) > PREVIEW_CELL_CHARS:
        text = text[: PREVIEW_CELL_CHARS - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: list[str], rows: list[tuple]) -> str:
    """A Markdown table (the UI renders MetadataValue.md); cells are shortened and `|` escaped."""
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def read_previews(published_path, tables: list[str], rows: int = PREVIEW_ROWS) -> dict[str, str]:
    """The first `rows` rows of each table of the published file, as Markdown."""
    con = duckdb.connect(str(published_path), read_only=True)
    try:
        (catalog,) = con.execute("SELECT current_database()").fetchone()
        previews = {}
        for table in tables:
            relation = f'"{catalog}".{PUBLISHED_SCHEMA}."{table}"'
            result = con.execute(f"SELECT * FROM {relation} LIMIT {int(rows)}")
            columns = [d[0] for d in result.description]
            previews[table] = markdown_table(columns, result.fetchall())
        return previews
    finally:
        con.close()


def build_published_marts(dbt_assets: AssetsDefinition) -> AssetsDefinition:
    """`marts/published_marts`, downstream of every mart model of `dbt_assets`."""
    marts = mart_keys(dbt_assets)

    @asset(
        key=PUBLISHED_MARTS_KEY,
        group_name=MARTS_SCHEMA,
        description="The marts copied to a read-only DuckDB file for BI tools (data/marts.duckdb, or "
        "MARTS_PATH), swapped in atomically after each successful dbt build: readers see the old or the new "
        f"marts, never a mix, and never block a run. Table `{PUBLISHED_TABLE}` in that file records "
        "when each table was published and its row count. Written in DuckDB storage v1.0.0 "
        "(MARTS_STORAGE_VERSION) so DuckDB 1.x readers open it, with the dbt descriptions as comments; with "
        "MARTS_PARQUET_DIR also as Parquet.",
        kinds={"duckdb"},
        owners=OWNERS,
        pool=DUCKDB_POOL,
        deps=marts,
    )
    def published_marts(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
        result = publish_marts(
            warehouse.path,
            warehouse.marts_path or None,
            lock_timeout_seconds=warehouse.lock_timeout_seconds,
            storage_version=warehouse.marts_storage_version or None,
            parquet_dir=warehouse.marts_parquet_dir or None,
        )
        context.log.info(
            "Published %d mart tables (%d rows) to %s", len(result.tables), sum(result.tables.values()), result.path
        )
        previews = read_previews(result.path, sorted(result.tables))
        for key in marts:
            table = key.path[-1]
            if table in result.tables:
                context.log_event(
                    AssetObservation(
                        asset_key=key,
                        metadata={
                            "dagster/row_count": result.tables[table],
                            "preview": MetadataValue.md(previews[table]),
                            "published_to": MetadataValue.path(str(result.path)),
                        },
                    )
                )
        metadata = {
            "path": MetadataValue.path(str(result.path)),
            "published_at": MetadataValue.text(f"{result.published_at:%Y-%m-%d %H:%M:%S} UTC"),
            "dagster/row_count": sum(result.tables.values()),
            "tables": MetadataValue.md(
                markdown_table(
                    ["table", "rows"], [(name, f"{count:,}") for name, count in sorted(result.tables.items())]
                )
            ),
            "seconds": round(result.seconds, 2),
        }
        if result.parquet_dir is not None:
            metadata["parquet_dir"] = MetadataValue.path(str(result.parquet_dir))
        for table in sorted(result.tables):
            metadata[f"preview_{table}"] = MetadataValue.md(previews[table])
        return MaterializeResult(metadata=metadata)

    return published_marts
