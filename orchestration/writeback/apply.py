"""A write-back run: read Linear from the warehouse and Clockify fresh, plan, apply up to the bound, record.

The rules are in plan.py; the link table in links.py. Renames done by people in Clockify are seen because
Clockify is read fresh on every run. Link rows are committed every `LINK_BATCH` successful writes and at the
end, also when a later write fails, so a write is never forgotten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import ConfigurableResource, MetadataValue

from orchestration.clients.clockify.client import ClockifyClient
from orchestration.clients.errors import ApiError
from orchestration.settings import WritebackSettings
from orchestration.timeutil import utc_now_naive
from orchestration.warehouse.duckdb import Warehouse
from orchestration.writeback import plan as wb
from orchestration.writeback.links import (
    count_links,
    ensure_links_table,
    link_after,
    read_linear,
    read_links,
    record_links,
)

LINK_BATCH = 50  # link rows are committed after every this many successful writes, and at the end
METADATA_LINES = 200  # planned changes listed in metadata (the count is always complete)


class WritebackOptions(ConfigurableResource):
    """`Settings.writeback` as the write-back asset's resource (shown in the UI; nothing secret)."""

    enabled: bool = False
    team_keys: list[str] | None = None
    max_writes: int = WritebackSettings.max_writes

    @classmethod
    def from_settings(cls, conf: WritebackSettings) -> WritebackOptions:
        keys = sorted(conf.team_keys) if conf.team_keys else None
        return cls(enabled=conf.enabled, team_keys=keys, max_writes=conf.max_writes)

    @property
    def settings(self) -> WritebackSettings:
        keys = frozenset(self.team_keys) if self.team_keys else None
        return WritebackSettings(enabled=self.enabled, team_keys=keys, max_writes=self.max_writes)


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
    conf: WritebackSettings,
    *,
    dry_run: bool = False,
    max_writes: int | None = None,
    log: Callable[[str], None] = print,
    now: Callable[[], dt.datetime] = utc_now_naive,
) -> Outcome:
    """Plan and (unless dry run or disabled) apply. Raises WritebackError with one line on failure."""
    mode = "dry run" if dry_run else "write" if conf.enabled else "write-back disabled"
    before = clockify.requests_made
    workspace_id = clockify.workspace_id
    with warehouse.connect(read_only=False) as con:
        issues, teams = read_linear(con)
        links = read_links(con, workspace_id)
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
            outcome.link_rows = count_links(con)
        return outcome

    links_by_task = {link.task_id: link for link in links}
    pending: list[wb.Link] = []
    client_id: str | None = next((c.client_id for c in plan.changes if c.client_id), None)
    project_by_team = dict(plan.projects)

    def flush() -> None:
        with warehouse.connect() as con:
            ensure_links_table(con)
            record_links(con, pending)
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
                    pending.append(link_after(change, task, workspace_id, None, now()))
                elif change.kind == wb.UPDATE_TASK:
                    task = clockify.update_task(
                        change.project_id or "", change.task_id or "", change.name, change.status or wb.ACTIVE
                    )
                    link = links_by_task.get(task["id"])
                    links_by_task[task["id"]] = link_after(change, task, workspace_id, link, now())
                    pending.append(links_by_task[task["id"]])
                else:  # ADOPT / REFRESH: the task as Clockify has it now, no write
                    task = {
                        "id": change.task_id,
                        "name": change.name,
                        "status": change.status,
                        "projectId": change.project_id,
                    }
                    link = links_by_task.get(change.task_id or "")
                    links_by_task[task["id"]] = link_after(change, task, workspace_id, link, now())
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
        outcome.link_rows = count_links(con)
    return outcome
