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
    # Only ids: the team's key and the state's type come from the teams and workflow states (each field
    # selected costs complexity points on every issue of every page; queries.ISSUES_QUERY).
    team: LinearRef
    state: LinearRef
    cycle: LinearRef | None
    project: LinearRef | None
    assignee: LinearRef | None
