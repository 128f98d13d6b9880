"""Write-back: mirror Linear issues into Clockify as tasks, so people log time against the right issue.

Matching time to issues by identifiers typed into descriptions is only as good as people's habits; a
Clockify task per Linear issue is a reliable link: people pick the task and the time lands on the issue.
This module holds the pure planning (`plan_writeback`, unit-tested without any I/O); links.py the
warehouse side (the link table of the raw contract); apply.py the run: it reads the warehouse and Clockify,
plans, applies up to the bound through `ClockifyClient` and records the links. The settings
(CLOCKIFY_WRITEBACK, LINEAR_TEAM_KEYS, CLOCKIFY_WRITEBACK_MAX_WRITES) are `Settings.writeback`.

What the plan does, per run:

- **Scope.** The Linear teams in `LINEAR_TEAM_KEYS` (comma-separated keys, case-insensitive; all teams
  when empty). An unknown key is a configuration error (one line naming the known keys). Issues that
  already have a linked task are kept up to date even after they move to a team outside the scope:
  what write-back created, it maintains.
- **Client and projects.** One Clockify client `Linear` and, per team in scope, a project
  `Linear · <TEAM KEY>` under it (`PROJECT_PREFIX`). Both are found by name (Clockify names are unique
  per workspace ignoring case), created when missing, never renamed, archived or deleted. A project
  that exists under another client, or archived, is used as it is.
- **Tasks.** One task per *open* issue, named `IDENTIFIER: title` (whitespace collapsed, cut to
  `MAX_TASK_NAME_LENGTH` characters with an ellipsis). Open = the state type is backlog, unstarted or
  started and the issue is neither archived, trashed nor deleted. Closed = completed, canceled or duplicate,
  or archived, trashed, or deleted (Linear no longer returns it: staging's `is_deleted`): a closed issue gets
  no new task and its linked task is set DONE (an issue
  reopened in Linear sets its task ACTIVE again). **Triage** issues (not yet accepted by the team) get
  no task, and a linked task of an issue moved back to triage keeps its status; it is still renamed.
  Issues without a known state are treated like triage.
- **Renames.** When the title or the identifier changes (a team move gives a new identifier) the linked
  task is renamed in place: Clockify cannot move a task to another project, and a new task would split
  the issue's time in two. Linear is the source of truth: a task renamed or re-opened by hand in
  Clockify is set back on the next run.
- **Links.** `raw.clockify_issue_task_links` remembers issue id <-> task id, so later runs match by id,
  never by name. A linked task that no longer exists in Clockify (deleted by hand) is created again
  (if the issue is open) and linked anew; the old link row stays, because time entries may still
  carry the old task id (dbt maps every linked task id to its issue).
- **Adoption.** An issue without a live link adopts an unlinked task of its team's Linear project
  named exactly `IDENTIFIER: title` or starting with `IDENTIFIER:` (ignoring case) instead of creating
  a duplicate. This is how a run that crashed between creating a task and recording its link heals,
  and how tasks made by hand in those projects are taken over. Adopting writes nothing to Clockify.
- **Conflicts.** A rename or create whose name another task of the same project already has (Clockify
  would answer 400) is skipped and reported, not attempted: one odd task must not stop the rest.
- **Bound.** At most `max_writes` API writes (POST/PUT) per run; the rest are listed as deferred and
  done by the next runs (the plan is recomputed from fresh reads each time). Changes come in dependency
  order (client, projects, then tasks by team key and issue number), so a cut never leaves a task
  without its project. Link-only changes (adopt, refresh) cost no write and are never deferred.
- **Idempotent.** A second run with nothing changed in Linear or Clockify plans nothing: zero writes,
  zero link changes.

Failures: a write Clockify rejects (HTTP 400, e.g. a name over its limit) stops the run with one line
naming the change and Clockify's message; the links of the writes that succeeded before it are recorded
(in the same transaction as every other link change of the run), nothing else is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

CLIENT_NAME = "Linear"
PROJECT_PREFIX = "Linear · "  # + team key
MAX_TASK_NAME_LENGTH = 1000  # Clockify rejects longer task names (HTTP 400); cut with an ellipsis

OPEN_STATE_TYPES = frozenset({"backlog", "unstarted", "started"})
CLOSED_STATE_TYPES = frozenset({"completed", "canceled", "duplicate"})

ACTIVE, DONE = "ACTIVE", "DONE"

# Change kinds. The first three and UPDATE_TASK are API writes; ADOPT and REFRESH only touch the links.
CREATE_CLIENT = "create_client"
CREATE_PROJECT = "create_project"
CREATE_TASK = "create_task"
UPDATE_TASK = "update_task"
ADOPT = "adopt"
REFRESH = "refresh_link"
WRITES = frozenset({CREATE_CLIENT, CREATE_PROJECT, CREATE_TASK, UPDATE_TASK})


class WritebackError(RuntimeError):
    """Write-back cannot run or stopped; the message is one line naming the problem and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


# --- plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    id: str
    identifier: str
    title: str
    team_id: str
    number: float | None = None
    state_type: str | None = None  # the state's type; None when unknown
    archived: bool = False
    trashed: bool = False
    deleted: bool = False  # Linear no longer returns it (the reconcile walk's listing)

    @property
    def is_open(self) -> bool:
        return self.state_type in OPEN_STATE_TYPES and not (self.archived or self.trashed or self.deleted)

    @property
    def is_closed(self) -> bool:
        return self.state_type in CLOSED_STATE_TYPES or self.archived or self.trashed or self.deleted


@dataclass(frozen=True)
class Team:
    id: str
    key: str
    name: str = ""


@dataclass(frozen=True)
class Link:
    issue_id: str
    task_id: str
    project_id: str | None
    workspace_id: str
    task_name: str | None = None
    status: str | None = None
    issue_identifier: str | None = None
    linked_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Change:
    kind: str
    name: str  # the client's, project's or task's name after the change
    team_key: str | None = None
    team_id: str | None = None
    issue_id: str | None = None
    identifier: str | None = None
    project_id: str | None = None  # None for a task of a project this run creates first
    client_id: str | None = None  # None for a project of a client this run creates first
    task_id: str | None = None
    status: str | None = None  # the task's status after the change
    old_name: str | None = None
    old_status: str | None = None

    @property
    def writes(self) -> bool:
        return self.kind in WRITES

    def describe(self) -> str:
        """One line for metadata, logs and the CLI (names cut to 80 characters)."""
        self = replace(self, name=_short(self.name), old_name=_short(self.old_name))
        if self.kind == CREATE_CLIENT:
            return f"create client {self.name!r}"
        if self.kind == CREATE_PROJECT:
            return f"create project {self.name!r} for team {self.team_key}"
        if self.kind == CREATE_TASK:
            return f"create task {self.name!r}"
        if self.kind == UPDATE_TASK:
            parts = []
            if self.old_name != self.name:
                parts.append(f"rename {self.old_name!r} -> {self.name!r}")
            if self.old_status != self.status:
                parts.append(f"{self.old_status or '?'} -> {self.status}")
            return f"update task of {self.identifier}: " + ", ".join(parts)
        if self.kind == ADOPT:
            return f"adopt existing task {self.name!r} for {self.identifier} (no write)"
        return f"record link of {self.identifier} to task {self.name!r} ({self.status}) (no write)"


@dataclass
class Plan:
    changes: list[Change]  # to apply this run, in order (writes within the bound, and link-only changes)
    deferred: list[Change] = field(default_factory=list)  # writes beyond the bound: next runs
    conflicts: list[str] = field(default_factory=list)  # skipped, with the reason
    projects: dict[str, str] = field(default_factory=dict)  # team id -> existing project id

    @property
    def writes(self) -> int:
        return sum(c.writes for c in self.changes)

    def lines(self) -> list[str]:
        out = [c.describe() for c in self.changes]
        out += [f"deferred (write bound): {c.describe()}" for c in self.deferred]
        out += [f"skipped: {text}" for text in self.conflicts]
        return out


def _short(text: str | None, limit: int = 80) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def task_name(identifier: str, title: str | None) -> str:
    """`ENG-42: Fix login`, whitespace collapsed, at most MAX_TASK_NAME_LENGTH characters."""
    title = " ".join((title or "").split())
    name = f"{identifier}: {title}" if title else f"{identifier}:"
    if len(name) > MAX_TASK_NAME_LENGTH:
        name = name[: MAX_TASK_NAME_LENGTH - 1].rstrip() + "…"
    return name


def project_name(team_key: str) -> str:
    return f"{PROJECT_PREFIX}{team_key}"


def _key(name: Any) -> str:
    return str(name or "").strip().casefold()


def _named(records: Iterable[dict], name: str) -> dict | None:
    wanted = _key(name)
    return next((r for r in records if _key(r.get("name")) == wanted), None)


def plan_writeback(
    issues: Sequence[Issue],
    teams: Sequence[Team],
    existing_links: Sequence[Link],
    clockify_clients: Sequence[dict],
    clockify_projects: Sequence[dict],
    clockify_tasks: Sequence[dict],
    team_keys: Iterable[str] | None,
    max_writes: int,
) -> Plan:
    """The changes that bring Clockify in line with Linear (see the module docstring). Pure: no I/O.

    `issues` carry their state's type; `existing_links` are this workspace's link rows; the Clockify
    records are fresh reads in the API's shapes (`clockify_tasks` of every project that matters: the
    teams' Linear projects and the projects of linked tasks, each with `projectId`).
    """
    if max_writes < 1:
        raise ValueError("max_writes must be at least 1")
    teams_by_key = {t.key.upper(): t for t in teams}
    wanted = {k.strip().upper() for k in team_keys or () if k.strip()}
    unknown = sorted(wanted - set(teams_by_key))
    if unknown:
        raise WritebackError(
            f"LINEAR_TEAM_KEYS names {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not "
            f"a Linear team in the warehouse (teams: {', '.join(sorted(teams_by_key)) or 'none loaded'}): "
            "fix the keys or leave LINEAR_TEAM_KEYS empty for all teams."
        )
    scope = [teams_by_key[k] for k in sorted(wanted or teams_by_key)]
    scope_ids = {t.id for t in scope}
    teams_by_id = {t.id: t for t in teams}

    changes: list[Change] = []
    conflicts: list[str] = []

    # Client and projects, created in this order when missing.
    client = _named(clockify_clients, CLIENT_NAME)
    projects: dict[str, str] = {}  # team id -> project id (existing)
    for team in scope:
        project = _named(clockify_projects, project_name(team.key))
        if project is not None:
            projects[team.id] = project["id"]
        else:
            if client is None and not any(c.kind == CREATE_CLIENT for c in changes):
                changes.append(Change(CREATE_CLIENT, CLIENT_NAME))
            changes.append(
                Change(
                    CREATE_PROJECT,
                    project_name(team.key),
                    team_key=team.key,
                    team_id=team.id,
                    client_id=client["id"] if client else None,
                )
            )

    tasks_by_id = {t["id"]: t for t in clockify_tasks}
    tasks_by_project: dict[str, list[dict]] = {}
    for t in clockify_tasks:
        tasks_by_project.setdefault(t.get("projectId") or "", []).append(t)
    linked_task_ids = {link.task_id for link in existing_links}
    # Live link per issue: the most recent one whose task still exists in Clockify.
    live: dict[str, Link] = {}
    for link in sorted(existing_links, key=lambda link: (link.linked_at or dt.datetime.min, link.task_id)):
        if link.task_id in tasks_by_id:
            live[link.issue_id] = link
    taken: set[str] = set()  # task ids adopted this run

    def name_clash(project_id: str | None, name: str, own_task_id: str | None) -> dict | None:
        return next(
            (
                t
                for t in tasks_by_project.get(project_id or "", [])
                if _key(t.get("name")) == _key(name) and t["id"] != own_task_id
            ),
            None,
        )

    def update(issue: Issue, task: dict, desired: str, link: Link | None) -> None:
        current_name, current_status = task.get("name"), task.get("status")
        status = ACTIVE if issue.is_open else DONE if issue.is_closed else current_status
        if current_name != desired or current_status != status:
            clash = (
                name_clash(task.get("projectId"), desired, task["id"]) if _key(current_name) != _key(desired) else None
            )
            if clash is not None:
                conflicts.append(
                    f"{issue.identifier}: cannot rename task {current_name!r} to {desired!r}, another "
                    f"task of its project (id {clash['id']}) already has that name; rename or "
                    "archive that task in Clockify"
                )
                return
            changes.append(
                Change(
                    UPDATE_TASK,
                    desired,
                    team_key=_team_key(issue),
                    team_id=issue.team_id,
                    issue_id=issue.id,
                    identifier=issue.identifier,
                    project_id=task.get("projectId"),
                    task_id=task["id"],
                    status=status,
                    old_name=current_name,
                    old_status=current_status,
                )
            )
        elif link is not None and (
            link.task_name != current_name or link.status != current_status or link.issue_identifier != issue.identifier
        ):
            changes.append(
                Change(
                    REFRESH,
                    current_name,
                    team_key=_team_key(issue),
                    team_id=issue.team_id,
                    issue_id=issue.id,
                    identifier=issue.identifier,
                    project_id=task.get("projectId"),
                    task_id=task["id"],
                    status=current_status,
                )
            )

    def _team_key(issue: Issue) -> str | None:
        team = teams_by_id.get(issue.team_id)
        return team.key if team else None

    def order(issue: Issue) -> tuple:
        return (_team_key(issue) or "", issue.number if issue.number is not None else float("inf"), issue.identifier)

    for issue in sorted(issues, key=order):
        desired = task_name(issue.identifier, issue.title)
        link = live.get(issue.id)
        if link is not None:
            update(issue, tasks_by_id[link.task_id], desired, link)
            continue
        if issue.team_id not in scope_ids:
            continue
        project_id = projects.get(issue.team_id)
        prefix = _key(f"{issue.identifier}:")
        candidates = [
            t
            for t in tasks_by_project.get(project_id or "", [])
            if t["id"] not in linked_task_ids
            and t["id"] not in taken
            and (_key(t.get("name")) == _key(desired) or _key(t.get("name")).startswith(prefix))
        ]
        if candidates:
            task = min(candidates, key=lambda t: (_key(t.get("name")) != _key(desired), t["id"]))
            taken.add(task["id"])
            changes.append(
                Change(
                    ADOPT,
                    task.get("name") or "",
                    team_key=_team_key(issue),
                    team_id=issue.team_id,
                    issue_id=issue.id,
                    identifier=issue.identifier,
                    project_id=project_id,
                    task_id=task["id"],
                    status=task.get("status"),
                )
            )
            update(issue, task, desired, None)
            continue
        if not issue.is_open:
            continue
        clash = name_clash(project_id, desired, None) if project_id else None
        if clash is not None:
            conflicts.append(
                f"{issue.identifier}: cannot create task {desired!r}, a task of that name (id "
                f"{clash['id']}) is linked to another issue; rename it in Clockify"
            )
            continue
        changes.append(
            Change(
                CREATE_TASK,
                desired,
                team_key=_team_key(issue),
                team_id=issue.team_id,
                issue_id=issue.id,
                identifier=issue.identifier,
                project_id=project_id,
                status=ACTIVE,
            )
        )

    # The write bound: keep order; link-only changes are free and never deferred.
    kept: list[Change] = []
    deferred: list[Change] = []
    budget = max_writes
    for change in changes:
        if not change.writes:
            # An adopt/refresh whose follow-up update is deferred is still fine on its own.
            kept.append(change)
        elif budget > 0:
            kept.append(change)
            budget -= 1
        else:
            deferred.append(change)
    return Plan(changes=kept, deferred=deferred, conflicts=conflicts, projects=projects)
