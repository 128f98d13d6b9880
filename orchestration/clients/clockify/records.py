"""Typed views of Clockify's JSON records (main-API shape), for editors and type checkers.

They are plain dicts at run time: `total=False` because the API omits fields freely, and unknown fields
pass through untouched so the raw layer keeps everything.
"""

from __future__ import annotations

from typing import TypedDict


class ClockifyRate(TypedDict, total=False):
    """A billable (or cost) rate; null on a level where none is set (sandbox/README.md "Rates")."""

    amount: int  # cents of `currency` per hour
    currency: str  # the workspace's currency (ISO code)


class ClockifyWorkspace(TypedDict, total=False):
    id: str
    name: str
    hourlyRate: ClockifyRate | None
    memberships: list[dict]  # {userId, hourlyRate, costRate, membershipType: WORKSPACE, ...}
    currencies: list[dict]  # {id, code, isDefault}


class ClockifyUser(TypedDict, total=False):
    id: str
    name: str
    email: str
    status: str  # ACTIVE | PENDING_EMAIL_VERIFICATION | DELETED | NOT_REGISTERED | LIMITED | INACTIVE
    activeWorkspace: str
    defaultWorkspace: str
    memberships: list[dict]  # with memberships=WORKSPACE: this workspace's, with its hourlyRate


class ClockifyClientRecord(TypedDict, total=False):
    """A Clockify "client" (customer); named so it can't be confused with the API client class."""

    id: str
    name: str
    workspaceId: str
    archived: bool


class ClockifyProject(TypedDict, total=False):
    id: str
    name: str
    clientId: str | None
    workspaceId: str
    billable: bool
    archived: bool
    hourlyRate: ClockifyRate | None
    memberships: list[dict]  # project members {userId, hourlyRate, membershipType: PROJECT, ...}


class ClockifyTask(TypedDict, total=False):
    id: str
    name: str
    projectId: str
    status: str  # ACTIVE | DONE
    estimate: str | None  # ISO-8601 duration, e.g. PT4H
    billable: bool
    hourlyRate: ClockifyRate | None


class ClockifyTag(TypedDict, total=False):
    id: str
    name: str
    workspaceId: str
    archived: bool


class ClockifyTimeInterval(TypedDict, total=False):
    start: str  # UTC, "2024-05-01T09:00:00Z"
    end: str | None  # None while the timer runs
    duration: str | None  # ISO-8601, e.g. PT1H30M; None while the timer runs


class ClockifyTimeEntry(TypedDict, total=False):
    """A time entry in the main API's shape; entries read from the detailed report carry its extra
    fields too (userName, userEmail, projectName, clientId, clientName, taskName, tags..., and the price
    Clockify recorded: `rate` in cents and `amount`, whose unit is an open fact)."""

    id: str
    description: str | None
    userId: str
    projectId: str | None
    taskId: str | None
    tagIds: list[str]
    billable: bool
    isLocked: bool
    type: str  # REGULAR | BREAK | HOLIDAY | TIME_OFF
    workspaceId: str
    timeInterval: ClockifyTimeInterval
    hourlyRate: ClockifyRate | None  # main API; often null even where rates are set
