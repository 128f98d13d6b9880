"""The semantic layer: MetricFlow metrics (dbt_project/models/semantic/) queried on the published marts.

The semantic models and metrics are dbt yml (`semantic_models:` / `metrics:`, dbt-core 1.11 spec); `dbt
parse` compiles them into `target/semantic_manifest.json`. MetricFlow (`dbt-metricflow`) turns a request
(metrics, group-by items, filters) into SQL. `mf query` would run that SQL through the dbt profile, i.e. on
the warehouse file, which a sync holds locked; so `warehouse metrics` runs it on the published marts file
instead (what every other BI reader opens): the semantic manifest's relations, `"<db>"."marts"."<model>"`,
are pointed at `"main"."<model>"` of that file, and a small MetricFlow SqlClient executes the SQL on one
read-only DuckDB connection. A query never waits for or blocks a sync, and reads one published snapshot.

Everything is passed in (the Settings, paths, names); nothing here reads the environment.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
from metricflow.data_table.mf_table import MetricFlowDataTable
from metricflow.engine.metricflow_engine import MetricFlowEngine, MetricFlowQueryRequest
from metricflow.protocols.sql_client import SqlEngine
from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer
from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup
from metricflow_semantics.sql.sql_bind_parameters import SqlBindParameterSet

from orchestration.dbt_project import (
    SEMANTIC_MANIFEST_FILE,
    dbt_parse,
    dbt_project,
    manifest_is_stale,
    parse_stamp,
    write_stamp,
)
from orchestration.settings import Settings

log = logging.getLogger(__name__)


class MetricsError(RuntimeError):
    """A metric query cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class MetricsResult:
    columns: list[str]
    rows: list[tuple]
    sql: str

    def as_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _published_relation(node_relation: dict, source_schema: str, published_schema: str, owner: str) -> None:
    if node_relation.get("schema_name") != source_schema:
        raise MetricsError(
            f"{owner} reads {node_relation.get('relation_name')}, which is not a mart: only schema "
            f"{source_schema!r} is published, so point it at a mart model."
        )
    alias = node_relation["alias"]
    node_relation.update(
        schema_name=published_schema,
        database=None,
        relation_name=f'"{published_schema}"."' + alias.replace('"', '""') + '"',
    )


def load_semantic_manifest(semantic_manifest_path: Path, source_schema: str = "marts", published_schema: str = "main"):
    """dbt's semantic_manifest.json with every relation pointed at the published file's schema."""
    path = Path(semantic_manifest_path)
    if not path.exists():
        raise MetricsError(f"{path} does not exist: run `dbt parse` in dbt_project/ (the warehouse CLI does).")
    raw = json.loads(path.read_text())
    for model in raw.get("semantic_models", []):
        _published_relation(model["node_relation"], source_schema, published_schema, f"semantic model {model['name']}")
    for spine in raw.get("project_configuration", {}).get("time_spines", []):
        _published_relation(spine["node_relation"], source_schema, published_schema, "the time spine")
    return parse_manifest_from_dbt_generated_manifest(manifest_json_string=json.dumps(raw))


class DuckDbPublishedClient:
    """MetricFlow's SqlClient protocol over one read-only DuckDB connection to the published marts file.

    The file is ATTACHed into a private in-memory database (not `duckdb.connect(path)`, whose per-process
    cache could hand back an instance of a file that has since been replaced), so each client reads the
    file that is published when it is created, whole, until it is closed.
    """

    def __init__(self, marts_path: Path):
        path = Path(marts_path)
        if not path.exists():
            raise MetricsError(f"Published marts file {path} does not exist: run a sync (or `make demo`) first.")
        self._engine = SqlEngine.DUCKDB
        self._renderer = DuckDbSqlPlanRenderer()
        self._con = duckdb.connect(":memory:", config={"python_enable_replacements": False})  # tables only
        quoted = str(path).replace("'", "''")
        self._con.execute(f"ATTACH '{quoted}' AS published (READ_ONLY)")
        self._con.execute("USE published")

    @property
    def sql_engine_type(self):
        return self._engine

    @property
    def sql_plan_renderer(self):
        return self._renderer

    def _run(self, stmt: str, sql_bind_parameter_set):
        params = dict(sql_bind_parameter_set.param_dict or {}) or None
        try:
            return self._con.execute(stmt, params) if params else self._con.execute(stmt)
        except duckdb.Error as error:
            raise MetricsError(f"the metric query failed in DuckDB: {error}") from error

    def query(self, stmt, sql_bind_parameter_set=None):
        cursor = self._run(stmt, sql_bind_parameter_set or SqlBindParameterSet())
        columns = [d[0] for d in cursor.description]
        return MetricFlowDataTable.create_from_rows(column_names=columns, rows=cursor.fetchall())

    def execute(self, stmt, sql_bind_parameter_set=None):
        self._run(stmt, sql_bind_parameter_set or SqlBindParameterSet())

    def dry_run(self, stmt, sql_bind_parameter_set=None):
        self._run(f"EXPLAIN {stmt}", sql_bind_parameter_set or SqlBindParameterSet())

    def close(self) -> None:
        self._con.close()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f"${bind_parameter_key}"


def _plain(value):
    """MetricFlow's table holds ints as Decimal: give callers ints and floats back."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class SemanticLayer:
    """A MetricFlow engine over the published marts; `query()` as often as needed, then `close()`."""

    def __init__(self, marts_path: Path, semantic_manifest_path: Path, published_schema: str = "main"):
        manifest = load_semantic_manifest(semantic_manifest_path, published_schema=published_schema)
        self._client = DuckDbPublishedClient(marts_path)
        try:
            self._engine = MetricFlowEngine(
                semantic_manifest_lookup=SemanticManifestLookup(manifest), sql_client=self._client
            )
        except BaseException:
            self._client.close()
            raise

    def __enter__(self) -> SemanticLayer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _request(self, metrics, group_by, where, order, limit, start, end):
        return MetricFlowQueryRequest.create(
            metric_names=list(metrics),
            group_by_names=list(group_by) or None,
            where_constraints=list(where) or None,
            order_by_names=list(order) or None,
            limit=limit,
            time_constraint_start=start,
            time_constraint_end=end,
        )

    def query(
        self,
        metrics: Sequence[str],
        group_by: Sequence[str] = (),
        *,
        where: Sequence[str] = (),
        order: Sequence[str] = (),
        limit: int | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> MetricsResult:
        """e.g. query(["hours"], ["team__team_key", "metric_time__week"]); `order` items take a `-` for desc."""
        request = self._request(metrics, group_by, where, order, limit, start, end)
        try:
            result = self._engine.query(request)
        except MetricsError:
            raise
        except Exception as error:  # MetricFlow's own errors: unknown metric, bad group-by, ...
            raise MetricsError(_first_lines(error)) from error
        table = result.result_df
        rows = [tuple(_plain(v) for v in row) for row in table.rows] if table is not None else []
        return MetricsResult(list(table.column_names) if table is not None else [], rows, result.sql)

    def explain(self, metrics: Sequence[str], group_by: Sequence[str] = (), **options) -> str:
        request = self._request(
            metrics,
            group_by,
            options.get("where", ()),
            options.get("order", ()),
            options.get("limit"),
            options.get("start"),
            options.get("end"),
        )
        try:
            return self._engine.explain(request).sql_statement.without_descriptions.sql
        except Exception as error:
            raise MetricsError(_first_lines(error)) from error

    def list_metrics(self) -> list[tuple[str, str, list[str]]]:
        """(name, description, group-by items) of every metric."""
        out = []
        for metric in self._engine.list_metrics():
            names = sorted({d.dunder_name for d in metric.dimensions} | {"metric_time"})
            out.append((metric.name, metric.description or "", names))
        return sorted(out)


def _first_lines(error: Exception) -> str:
    """MetricFlow's multi-line message on one line: the problem and its suggestions, not the trace."""
    text = str(error).strip() or type(error).__name__
    for marker in ("Query Input:", "Issue Location:"):
        text = text.split(marker, 1)[0]
    text = re.sub(r"\s+", " ", text).replace("[ '", "['").replace(", ]", "]").strip()
    return text.replace("Got error(s) during query resolution. Error #1: Message: ", "")


def _parsed_for(semantic_manifest_path: Path, warehouse_path: Path) -> bool:
    """Whether the manifest's relations name this warehouse's database (dbt-duckdb: the file's stem)."""
    try:
        raw = json.loads(Path(semantic_manifest_path).read_text())
    except (OSError, ValueError):
        return False
    return all(m["node_relation"].get("database") == warehouse_path.stem for m in raw.get("semantic_models", []))


def ensure_semantic_manifest(settings: Settings) -> Path:
    """`semantic_manifest.json` in dbt's target path (DBT_TARGET_PATH), from a `dbt parse` (~10 s) when it
    is missing, not current (its stamp: orchestration/dbt_project.py) or parsed for another warehouse; the
    manifest's own parse (`warehouse prepare`, any sync) leaves a current one.

    The parse gets the warehouse as dbt's `--vars` (orchestration.dbt_project), like every build: it names
    the database of the manifest's relations, as `mf query` on the warehouse reads them (SemanticLayer
    points them at the published file instead). dbt parse never opens the warehouse. It parses into a
    private directory and moves the result into place atomically (concurrent callers are safe).
    """
    project = dbt_project(settings)
    target = project.project_dir / project.target_path
    path = target / SEMANTIC_MANIFEST_FILE
    if not manifest_is_stale(project, path) and _parsed_for(path, settings.warehouse_path):
        return path
    target.mkdir(parents=True, exist_ok=True)
    stamp = parse_stamp(project)  # of the files this parse reads
    with tempfile.TemporaryDirectory(dir=target, prefix=".semantic-parse-") as tmp:
        result = dbt_parse(project, Path(tmp), settings.warehouse_path, settings.dbt_executable, settings.timezone)
        produced = Path(tmp) / SEMANTIC_MANIFEST_FILE
        if result.returncode != 0 or not produced.exists():
            output = (result.stdout + result.stderr).strip().splitlines()[-5:]
            raise MetricsError(f"dbt parse failed ({result.returncode}): {' '.join(output)}")
        os.replace(produced, path)
    write_stamp(path, stamp)
    return path


def format_table(columns: list[str], rows: list[tuple], decimals: int = 2) -> str:
    """A plain aligned text table."""

    def cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:,.{decimals}f}"
        if isinstance(value, dt.datetime) and value.time() == dt.time(0):
            return value.date().isoformat()
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in text]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(columns))]

    def line(values):
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in text)])
