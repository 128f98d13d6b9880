"""The write-back asset: Linear issues mirrored into Clockify as tasks (rules in orchestration/writeback.py).

The asset is the link table `raw.clockify_issue_task_links` (issue id <-> Clockify task id), which dbt
reads to match time entries by task id; creating and updating Clockify clients, projects and tasks is
the side effect that keeps it true. It only coordinates: read Linear from the warehouse's raw layer,
read Clockify fresh (renames done by people are seen), plan, apply up to the bound, record the links.

Opt-in: always visible (group `writeback`, never in `warehouse_job`), but it writes to Clockify only when
`CLOCKIFY_WRITEBACK=1`; otherwise it plans, writes nothing, and says "write-back disabled" in its
metadata. `dry_run: true` in the run config (or `warehouse writeback --dry-run`) lists the planned
changes and writes nothing, enabled or not.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)
from pydantic import Field

from assets.common import DUCKDB_POOL, OWNERS, raw_key
from orchestration.clients.clockify.client import ClockifyClient
from orchestration.clients.errors import ApiError
from orchestration.jobs import WRITEBACK_GROUP
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse
from orchestration.writeback import plan as wb

LINKS_KEY = AssetKey(["raw", "clockify_issue_task_links"])
LINK_BATCH = 50  # link rows are committed after every this many successful writes, and at the end
METADATA_LINES = 200  # planned changes listed in metadata (the count is always complete)


class WritebackConfig(Config):
    dry_run: bool = Field(default=False, description="List the planned changes; write nothing to Clockify.")
    max_writes: int | None = Field(
        default=None, ge=1, description="Writes (POST/PUT) this run may make; default CLOCKIFY_WRITEBACK_MAX_WRITES."
    )


@dataclass
class Outcome:
    mode: str  # "write", "dry run" or "write-back disabled"
    plan: wb.Plan
    writes: int = 0
    links_changed: int = 0
    link_rows: int = 0
    api_requests: int = 0
    applied: list[str] = field(default_factory=list)

    def metadata(self) -> dict:
        lines = self.plan.lines()
        shown = lines[:METADATA_LINES] + (
            [f"... and {len(lines) - METADATA_LINES} more"] if len(lines) > METADATA_LINES else []
        )
        return {
            "mode": MetadataValue.text(self.mode),
            "writes": self.writes,
            "planned_writes": self.plan.writes,
            "deferred_writes": len(self.plan.deferred),
            "links_changed": self.links_changed,
            "conflicts": len(self.plan.conflicts),
            "api_requests": self.api_requests,
            "dagster/row_count": self.link_rows,
            "plan": MetadataValue.md("\n".join(f"- {line}" for line in shown) or "nothing to do"),
        }


def run_writeback(
    clockify: ClockifyClient,
    warehouse: Warehouse,
    *,
    dry_run: bool = False,
    max_writes: int | None = None,
    log: Callable[[str], None] = print,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None),
) -> Outcome:
    """Plan and (unless dry run or disabled) apply. Raises WritebackError with one line on failure."""
    conf = wb.writeback_settings()
    mode = "dry run" if dry_run else "write" if conf.enabled else "write-back disabled"
    before = clockify.requests_made
    workspace_id = clockify.workspace_id
    with warehouse.connect(read_only=False) as con:
        issues, teams = wb.read_linear(con)
        links = wb.read_links(con, workspace_id)
    try:
        clients, projects = clockify.clients(), clockify.projects()
        wanted = {wb.project_name(team.key).casefold() for team in teams}
        project_ids = {p["id"] for p in projects if str(p.get("name") or "").strip().casefold() in wanted}
        existing_project_ids = {p["id"] for p in projects}
        project_ids |= {link.project_id for link in links if link.project_id in existing_project_ids}
        tasks = clockify.tasks(sorted(project_ids))
    except ApiError as error:
        raise wb.WritebackError(f"write-back could not read Clockify: {error}") from error
    plan = wb.plan_writeback(
        issues, teams, links, clients, projects, tasks, conf.team_keys, max_writes or conf.max_writes
    )
    outcome = Outcome(mode=mode, plan=plan)
    log(
        f"write-back ({mode}): {plan.writes} write(s) planned, {len(plan.deferred)} deferred, "
        f"{len(plan.conflicts)} conflict(s), {len(plan.changes) - plan.writes} link-only change(s)"
    )
    for line in plan.lines():
        log(f"  {line}")
    if mode != "write":
        outcome.api_requests = clockify.requests_made - before
        with warehouse.connect(read_only=False) as con:
            outcome.link_rows = _count_links(con)
        return outcome

    links_by_task = {link.task_id: link for link in links}
    pending: list[wb.Link] = []
    client_id: str | None = next((c.client_id for c in plan.changes if c.client_id), None)
    project_by_team = dict(plan.projects)

    def flush() -> None:
        with warehouse.connect() as con:
            wb.ensure_links_table(con)
            wb.record_links(con, pending)
        outcome.links_changed += len(pending)
        pending.clear()

    try:
        for change in plan.changes:
            try:
                if change.kind == wb.CREATE_CLIENT:
                    client_id = clockify.create_client(change.name)["id"]
                elif change.kind == wb.CREATE_PROJECT:
                    project = clockify.create_project(change.name, change.client_id or client_id)
                    project_by_team[change.team_id or ""] = project["id"]
                elif change.kind == wb.CREATE_TASK:
                    project_id = change.project_id or project_by_team[change.team_id or ""]
                    task = clockify.create_task(project_id, change.name)
                    pending.append(wb.link_after(change, task, workspace_id, None, now()))
                elif change.kind == wb.UPDATE_TASK:
                    task = clockify.update_task(
                        change.project_id or "", change.task_id or "", change.name, change.status or wb.ACTIVE
                    )
                    link = links_by_task.get(task["id"])
                    links_by_task[task["id"]] = wb.link_after(change, task, workspace_id, link, now())
                    pending.append(links_by_task[task["id"]])
                else:  # ADOPT / REFRESH: the task as Clockify has it now, no write
                    task = {
                        "id": change.task_id,
                        "name": change.name,
                        "status": change.status,
                        "projectId": change.project_id,
                    }
                    link = links_by_task.get(change.task_id or "")
                    links_by_task[task["id"]] = wb.link_after(change, task, workspace_id, link, now())
                    pending.append(links_by_task[task["id"]])
            except ApiError as error:
                raise wb.WritebackError(
                    f"write-back stopped at {change.describe()}: {error} {outcome.writes} earlier write(s) "
                    "succeeded and their links are recorded; nothing else was written. Fix the cause and run "
                    "again (the plan is recomputed)."
                ) from error
            if change.writes:
                outcome.writes += 1
                outcome.applied.append(change.describe())
                if outcome.writes % LINK_BATCH == 0:
                    flush()
    finally:
        flush()  # the links of every write that succeeded, even when a later one failed
        outcome.api_requests = clockify.requests_made - before
    with warehouse.connect(read_only=True) as con:
        outcome.link_rows = _count_links(con)
    return outcome


def _count_links(con) -> int:
    if not wb.links_table_exists(con):
        return 0
    return int(con.execute(f"SELECT count(*) FROM {wb.LINKS_TABLE}").fetchone()[0])


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
    context: AssetExecutionContext, config: WritebackConfig, clockify: ClockifyClient, warehouse: Warehouse
) -> MaterializeResult:
    outcome = run_writeback(
        clockify, warehouse, dry_run=config.dry_run, max_writes=config.max_writes, log=context.log.info
    )
    if outcome.mode == "write-back disabled":
        context.log.warning("write-back disabled: set CLOCKIFY_WRITEBACK=1 to write these changes to Clockify")
    return MaterializeResult(metadata=outcome.metadata())


writeback_assets = [clockify_issue_task_links]

writeback_job = define_asset_job(
    name="clockify_writeback_job",
    selection=AssetSelection.groups(WRITEBACK_GROUP),
    description="Mirror Linear issues into Clockify as tasks (needs CLOCKIFY_WRITEBACK=1 to write; "
    "dry_run lists the changes). Run it after warehouse_job has loaded Linear.",
)


def execute_writeback_job(dry_run: bool = False, max_writes: int | None = None, log_level: str = "WARNING"):
    """Run clockify_writeback_job in process (what `warehouse writeback` calls); the asset's metadata.

    Raises WritebackError (one line) when settings are missing or the run fails. Runs are recorded in
    DAGSTER_HOME when it is set, like `warehouse sync`.
    """
    import os

    from orchestration.definitions import build_definitions
    from orchestration.runs import PROCESS_TAG, _instance, first_failure, process_tag

    missing = [name for name in ("CLOCKIFY_API_KEY", "CLOCKIFY_WORKSPACE_ID") if not os.environ.get(name)]
    if missing:
        raise wb.WritebackError(f"{' and '.join(missing)} not set: set them in the environment or in .env.")
    op_config: dict = {"dry_run": dry_run}
    if max_writes is not None:
        op_config["max_writes"] = max_writes
    job = build_definitions().resolve_job_def(writeback_job.name)
    result = job.execute_in_process(
        run_config={
            "ops": {"raw__clockify_issue_task_links": {"config": op_config}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        instance=_instance(),
        tags={PROCESS_TAG: process_tag()},
        raise_on_error=False,
    )
    if not result.success:
        raise wb.WritebackError(f"write-back failed at {first_failure(result)}")
    (event,) = result.get_asset_materialization_events()
    return event.materialization.metadata
