"""Typed views of Linear's GraphQL records, as the queries in queries.py select them.

Plain dicts at run time (camelCase, nested objects as dicts such as {"team": {"id": ...}}); `total=False`
so a field added to a query needs no change here to flow through.
"""

from __future__ import annotations

from typing import TypedDict


class LinearRef(TypedDict, total=False):
    id: str


class LinearTeamRef(TypedDict, total=False):
    id: str
    key: str


class LinearStateRef(TypedDict, total=False):
    id: str
    type: str  # triage|backlog|unstarted|started|completed|canceled|duplicate


class LinearUser(TypedDict, total=False):
    id: str
    name: str
    displayName: str
    email: str
    active: bool
    admin: bool
    guest: bool
    createdAt: str
    updatedAt: str
    archivedAt: str | None


class LinearTeam(TypedDict, total=False):
    id: str
    key: str
    name: str
    timezone: str
    cyclesEnabled: bool
    private: bool
    createdAt: str
    updatedAt: str
    archivedAt: str | None


class LinearCycle(TypedDict, total=False):
    id: str
    number: float
    name: str | None
    startsAt: str
    endsAt: str
    completedAt: str | None
    createdAt: str
    updatedAt: str
    archivedAt: str | None
    team: LinearRef


class LinearProjectStatus(TypedDict, total=False):
    id: str
    name: str
    type: str  # backlog|planned|started|paused|completed|canceled


class LinearProject(TypedDict, total=False):
    id: str
    name: str
    status: LinearProjectStatus
    startDate: str | None  # a date, 2024-05-01
    targetDate: str | None
    startedAt: str | None
    completedAt: str | None
    canceledAt: str | None
    createdAt: str
    updatedAt: str
    archivedAt: str | None


class LinearWorkflowState(TypedDict, total=False):
    id: str
    name: str
    type: str
    position: float
    createdAt: str
    updatedAt: str
    archivedAt: str | None
    team: LinearRef


class LinearCustomer(TypedDict, total=False):
    id: str
    name: str
    domains: list[str]
    revenue: float | None
    size: float | None
    createdAt: str
    updatedAt: str
    archivedAt: str | None


class LinearLabel(TypedDict, total=False):
    id: str
    name: str
    color: str
    isGroup: bool
    createdAt: str
    updatedAt: str
    archivedAt: str | None
    parent: LinearRef | None
    team: LinearRef | None  # None: a workspace label


class LinearCustomerNeed(TypedDict, total=False):
    id: str
    priority: float  # 1 = important
    createdAt: str
    updatedAt: str
    archivedAt: str | None
    customer: LinearRef | None
    issue: LinearRef | None
    project: LinearRef | None


class LinearIssue(TypedDict, total=False):
    id: str
    identifier: str  # ENG-123
    number: float
    title: str
    estimate: float | None
    priority: float
    previousIdentifiers: list[str]  # identifiers it had before moving team
    createdAt: str
    updatedAt: str
    startedAt: str | None
    completedAt: str | None
    canceledAt: str | None
    archivedAt: str | None
    trashed: bool | None
    labelIds: list[str]  # the labels applied (a list of ids, not a nested connection)
    # Only ids: the team's key and the state's type come from the teams and workflow states (each field
    # selected costs complexity points on every issue of every page; queries.ISSUES_QUERY).
    team: LinearRef
    state: LinearRef
    cycle: LinearRef | None
    project: LinearRef | None
    assignee: LinearRef | None


class LinearIssueVersion(TypedDict, total=False):
    """Which issue a history record or state span belongs to, and its updatedAt when they were read: added
    by the client from the enclosing issue (a span has no `issue` field; selecting it on each record would
    cost a point per record)."""

    id: str
    updatedAt: str


class LinearIssueHistory(TypedDict, total=False):
    """One IssueHistory record: what changed together at `createdAt`. A `from`/`to` pair that is null on
    both sides did not change; one null side means "none" (e.g. toCycleId null: taken out of its cycle)."""

    id: str
    createdAt: str
    fromStateId: str | None
    toStateId: str | None
    fromCycleId: str | None
    toCycleId: str | None
    fromTeamId: str | None
    toTeamId: str | None
    fromEstimate: float | None
    toEstimate: float | None
    fromAssigneeId: str | None
    toAssigneeId: str | None
    fromProjectId: str | None
    toProjectId: str | None
    fromPriority: float | None
    toPriority: float | None
    addedLabelIds: list[str] | None
    removedLabelIds: list[str] | None
    archived: bool | None
    trashed: bool | None
    actorId: str | None
    issue: LinearIssueVersion


class LinearIssueStateSpan(TypedDict, total=False):
    """One IssueStateSpan: the issue sat in `stateId` from `startedAt` until `endedAt` (null: still)."""

    id: str
    stateId: str
    startedAt: str
    endedAt: str | None
    issue: LinearIssueVersion
