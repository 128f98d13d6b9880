"""Clockify API client: workspace lists from the main API, time entries from the detailed report or per user.

Both time-entry strategies return entries in the main API's shape (normalize.py), so downstream code does
not care which one ran. "report" needs few requests (1000 entries each, whole workspace); "per_user" needs
one request per user and also sees running timers (whether the report lists them is an open fact: the
marts never count a running timer, so it does not matter which). The writes write-back makes are in
writes.py, mixed into the client.

Time zones (api-notes.md): the report reads its bounds as wall-clock time in the body's `timeZone` (by
default the key owner's profile zone), so every report request says `"timeZone": "UTC"`. The per-user
endpoint re-reads `start`/`end` in the account's zone with no opt-out, so it is asked for a day more on
each side and the entries are kept by their returned UTC start.

Whose time a key reads (api-notes: open): a key whose owner is no workspace admin is not refused, and reads
everyone's time or only the owner's own, as the workspace's "who can see all time" setting says. A read
that comes back with at most one person's entries asks who the key belongs to (`key_access`: GET /user,
GET /workspaces?roles=WORKSPACE_ADMIN&roles=OWNER, and for a member the workspace's settings) and fails in
one line (`PartialVisibility`) when it may hold only the owner's own time while others are members: nothing
of it is loaded. Reads with several people's entries cost no request more.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

import dagster as dg
import requests
from pydantic import Field, PrivateAttr

from orchestration.clients.base import ApiClientResource
from orchestration.clients.budget import ClockifyBudget
from orchestration.clients.clockify.normalize import (
    format_api_timestamp,
    format_report_timestamp,
    normalise_entry,
    report_entry_count,
    report_row_to_entry,
    report_rows,
    row_id,
)
from orchestration.clients.clockify.records import (
    ClockifyClientRecord,
    ClockifyProject,
    ClockifyTag,
    ClockifyTask,
    ClockifyTimeEntry,
    ClockifyUser,
    ClockifyWorkspace,
)
from orchestration.clients.clockify.writes import ClockifyWrites
from orchestration.clients.errors import ApiError, AuthenticationError, ConfigurationError, QueryError
from orchestration.clients.http import (
    Pacer,
    Service,
    Transient,
    is_transient_status,
    parse_json,
    parse_retry_after,
    redact,
)
from orchestration.settings import CLOCKIFY_REGIONS
from orchestration.timeutil import as_utc, parse_timestamp, split_range

logger = dg.get_dagster_logger(__name__)

CLOCKIFY = Service(name="Clockify", status_page="https://status.clockify.me")

MAX_PAGE_SIZE = 5000  # main API; larger answers HTTP 400
MAX_REPORT_PAGE_SIZE = 1000
# Free plans refuse report ranges longer than this; per-user reads use the same windows for simplicity.
MAX_RANGE = timedelta(days=366)
# The report's bounds and timestamps in UTC, whatever the key owner's profile zone.
REPORT_TIME_ZONE = "UTC"
# A unique sort column: with DATE (the default) equal start times may reorder between pages, and paging
# would then repeat some entries and miss others.
REPORT_SORT_COLUMN = "ID"
# Per-user windows are re-read in the account's zone (offsets lie within +-14 h): a day each side covers it.
PER_USER_MARGIN = timedelta(days=1)
# Every account status /users knows: without `account-statuses` it leaves LIMITED (and DELETED) accounts
# out, and their time would have no name or membership.
USER_ACCOUNT_STATUSES = ("ACTIVE", "PENDING_EMAIL_VERIFICATION", "NOT_REGISTERED", "LIMITED", "DELETED")
# Both task states, asked one at a time: which one each endpoint gives by default is an open fact.
TASK_STATES = ("true", "false")  # `is-active`
T = TypeVar("T")


def _no_pace() -> None:
    """One request at a time needs no pace beyond the budget's."""


# Under a limited budget (the Free plan's 30 requests an hour) the report is read in start order instead,
# so a read the budget stops midway has delivered whole days (ReadProgress) and the next run goes on
# from there; ties of equal start may reorder across pages there (api-notes), which the count check reports.
START_ORDER_SORT_COLUMN = "DATE"


@dataclass
class ReadProgress:
    """How far a read of time entries got: every entry starting before `complete_before` has been yielded.

    A read stopped midway (the API budget ran out: BudgetExhausted) has therefore delivered whole UTC days
    up to the day before `complete_before`, which the time-entry asset commits and the next run resumes
    after. It only moves on when the answer's order proves it (a read in start order), else at each
    window's end.
    """

    complete_before: datetime


@dataclass
class TaskRead:
    """Tasks read (`read_tasks`), and the projects whose DONE tasks this read asked the API for (from the
    hydrated listing, when it evidently holds them, or from each project's own endpoint)."""

    tasks: list[ClockifyTask]
    done_read: list[str]


class IncompleteReport(ApiError):
    """The detailed report gave fewer entries than it announced, also when read a second time."""


class PartialVisibility(ConfigurationError):
    """The key's owner is no workspace admin and may see only their own time: a read would be partial."""


# Roles that see every member's time (GET /workspaces?roles=...: owners are not counted as admins there).
ADMIN_ROLES = ("WORKSPACE_ADMIN", "OWNER")


@dataclass(frozen=True)
class KeyAccess:
    """Whose time the API key reads: its owner's role in the workspace and, for a member, the workspace's
    "who can see all time" setting (`workspaceSettings.onlyAdminsSeeAllTimeEntries` and
    `onlyAdminsSeePublicProjectsEntries`); `sees_all_time` is None when the answer does not say."""

    owner_id: str
    owner: str  # "name <email>"
    admin: bool
    sees_all_time: bool | None

    def describe(self) -> str:
        if self.admin:
            return f"the key's owner {self.owner} is a workspace admin: a sync reads everyone's time"
        if self.sees_all_time:
            return (
                f"the key's owner {self.owner} is no workspace admin, and everyone may see all time here: "
                "a sync reads everyone's time, as an admin's key would"
            )
        setting = (
            "only admins see everyone's time here"
            if self.sees_all_time is False
            else ("the workspace does not say who may see all time")
        )
        return (
            f"the key's owner {self.owner} is no workspace admin and {setting}: a sync would read only their "
            "own time and refuses; set CLOCKIFY_API_KEY to an admin's key, or let everyone see all time "
            "(Clockify: Workspace settings > Permissions)"
        )


def members_see_all_time(workspace: dict[str, Any]) -> bool | None:
    settings = workspace.get("workspaceSettings")
    if not isinstance(settings, dict) or "onlyAdminsSeeAllTimeEntries" not in settings:
        return None
    return not (settings.get("onlyAdminsSeeAllTimeEntries") or settings.get("onlyAdminsSeePublicProjectsEntries"))


class ClockifyClient(ClockifyWrites, ApiClientResource):
    """Reads one Clockify workspace. Every list method pages to the end; nothing is silently truncated."""

    api_key: str = Field(repr=False, description="Clockify API key (Clockify > Profile settings > API).")
    workspace_id: str = Field(description="The workspace to read (GET /workspaces lists the key's ones).")
    api_url: str = "https://api.clockify.me/api/v1"
    reports_url: str = "https://reports.api.clockify.me/v1"
    time_entries_strategy: Literal["report", "per_user"] = "report"
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Main API page size.")
    report_page_size: int = Field(default=MAX_REPORT_PAGE_SIZE, ge=1, le=MAX_REPORT_PAGE_SIZE)
    report_concurrency: int = Field(
        default=4, ge=1, le=8, description="Detailed-report pages requested at a time (1 = one by one)."
    )
    max_requests_per_second: float = Field(
        default=40.0, gt=0, description="Pace of concurrent report requests; Clockify allows 50 per second."
    )
    refresh_days: int = Field(
        default=7,
        ge=1,
        description="CLOCKIFY_REFRESH_DAYS: days within which a run reads each rarely changing list (workspaces, "
        "clients, tags, holidays, user groups) again (rotation.py).",
    )
    record_refresh_days: int = Field(
        default=28,
        ge=1,
        description="CLOCKIFY_RECORD_REFRESH_DAYS: days within which a run reads each member profile and each "
        "project's DONE-task listing again (one request each; new members' and projects' at once).",
    )
    plan: Literal["paid", "free"] = Field(
        default="paid",
        description="CLOCKIFY_PLAN: paid (50 requests/s per key) or free (30 requests/hour for the workspace); "
        "a paid setting switches to free when 429s show the Free plan's budget.",
    )

    def _service(self):
        return CLOCKIFY

    def _make_budget(self, clock, allowance, store) -> ClockifyBudget:
        return ClockifyBudget(
            workspace_id=self.workspace_id, plan=self.plan, clock=clock, allowance=allowance, store=store
        )

    _access: KeyAccess | None = PrivateAttr(default=None)
    _owner: ClockifyUser | None = PrivateAttr(default=None)

    def _headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key, "Accept": "application/json"}

    def key_access(self) -> KeyAccess:
        """Whose time this key reads (asked once per client): 2 requests for an admin's key, 3 for a member's."""
        if self._access is None:
            owner = self.current_user()
            name, email = owner.get("name") or "(no name)", owner.get("email")
            admin_of = {w.get("id") for w in self._pages("/workspaces", {"roles": list(ADMIN_ROLES)})}
            admin = self.workspace_id in admin_of
            self._access = KeyAccess(
                owner_id=str(owner.get("id") or ""),
                owner=f"{name} <{email}>" if email else name,
                admin=admin,
                sees_all_time=True if admin else members_see_all_time(self.workspace()),
            )
        return self._access

    def require_everyones_time(self, users_seen: set[str]) -> None:
        """After a read holding at most one person's entries (`users_seen`): raise PartialVisibility when the
        key may see only its owner's own time while the workspace has other members."""
        access = self.key_access()
        if access.admin or access.sees_all_time or not (users_seen <= {access.owner_id}):
            return
        others = [u for u in self.users() if u.get("id") != access.owner_id]
        if others:
            raise PartialVisibility(
                f"Clockify: {access.describe()} (the read held no entry of the {len(others)} other members); "
                "nothing was loaded.",
                service="Clockify",
            )

    # --- lists -----------------------------------------------------------------------------------

    def workspaces(self) -> list[ClockifyWorkspace]:
        # Paged like the others: harmless if the API ignores the parameters and answers all at once.
        return cast(list[ClockifyWorkspace], self._pages("/workspaces"))

    def current_user(self) -> ClockifyUser:
        """The API key's owner (GET /user), with their profile time zone in `settings.timeZone`; asked once per
        client (the checks and the access rule both need it)."""
        if self._owner is None:
            self._owner = cast(ClockifyUser, self._get(self._api_url("/user"), "CLOCKIFY_API_URL"))
        return self._owner

    def workspace(self) -> ClockifyWorkspace:
        """The configured workspace itself (GET /workspaces/{id}): name, plan (`featureSubscriptionType`)."""
        return cast(ClockifyWorkspace, self._get(self._api_url(self._ws_path("")), "CLOCKIFY_API_URL"))

    def users(self) -> list[ClockifyUser]:
        """Every member, whatever their account status, each with this workspace's membership
        (`memberships[0].membershipStatus`: ACTIVE, INACTIVE when deactivated here, ...): the top-level
        `status` is the account's, which stays ACTIVE for someone deactivated in this workspace."""
        params = {
            "account-statuses": ",".join(USER_ACCOUNT_STATUSES),
            "status": "ALL",  # membership status: every one
            "memberships": "WORKSPACE",
        }
        return cast(list[ClockifyUser], self._pages(self._ws_path("/users"), params))

    def clients(self) -> list[ClockifyClientRecord]:
        return cast(list[ClockifyClientRecord], self._pages(self._ws_path("/clients")))

    def projects(self, hydrated: bool = False) -> list[ClockifyProject]:
        """Every project; `hydrated`: each with its `tasks` embedded (which states: an open fact, see read_tasks)."""
        params = {"hydrated": "true"} if hydrated else None
        return cast(list[ClockifyProject], self._pages(self._ws_path("/projects"), params))

    def tags(self) -> list[ClockifyTag]:
        return cast(list[ClockifyTag], self._pages(self._ws_path("/tags")))

    def tasks(self, project_ids: Iterable[str]) -> list[ClockifyTask]:
        """Every task of the given projects, ACTIVE and DONE: GET /projects/{id}/tasks once per state
        (`is-active=true`, then `false`) per project, since which states the endpoint lists without the
        parameter is an open fact. Per project ACTIVE tasks first, then DONE ones, each in the API's order."""
        wanted = list(dict.fromkeys(project_ids))  # de-duplicated, order kept

        def read(project_id: str, pace: Callable[[], None]) -> list[ClockifyTask]:
            records: list[dict[str, Any]] = []
            for state in TASK_STATES:
                records += self._pages(self._ws_path(f"/projects/{project_id}/tasks"), {"is-active": state}, pace)
            return _project_tasks(project_id, records)

        by_project = self._per_project(read, wanted)
        return [task for project_id in wanted for task in by_project[project_id]]

    def _per_project(self, read: Callable[[str, Callable[[], None]], T], project_ids: list[str]) -> dict[str, T]:
        """`read(project_id, pace)` for every project, `report_concurrency` projects at a time with every request
        paced under Clockify's rate limit (`pace` before each), as the report's pages: a workspace of 100
        projects costs the same requests as one by one, with their latency overlapped. One by one on the Free
        plan's budget (a read ahead of a budget stop is a request wasted). The first error is raised."""
        if self.report_concurrency == 1 or len(project_ids) < 2 or self._budget_limited():
            return {project_id: read(project_id, _no_pace) for project_id in project_ids}
        pacer = Pacer(self.max_requests_per_second)
        with ThreadPoolExecutor(self.report_concurrency, thread_name_prefix="clockify-projects") as pool:
            futures = {project_id: pool.submit(read, project_id, pacer.wait) for project_id in project_ids}
            try:
                return {project_id: future.result() for project_id, future in futures.items()}
            finally:  # an error: drop what has not started
                for future in futures.values():
                    future.cancel()

    def hydrated_tasks(self, project_ids: Iterable[str] | None = None) -> list[ClockifyTask]:
        """Tasks of the given projects (default: every listed project) from one paged
        GET /projects?hydrated=true, which embeds each project's `tasks`: requests grow with pages of
        projects, not with projects. Same records and order as `tasks(project_ids)`. Every project's DONE
        tasks are read (see `read_tasks`)."""
        return self.read_tasks(project_ids).tasks

    def read_tasks(
        self,
        project_ids: Iterable[str] | None = None,
        *,
        previous: Mapping[str, Sequence[dict[str, Any]]] | None = None,
        done_due: Iterable[str] | None = None,
        hydrated_projects: Sequence[dict[str, Any]] | None = None,
    ) -> TaskRead:
        """Tasks of the given projects (default: every listed project) from the hydrated project list.

        Whether the embedded lists hold DONE tasks is an open fact. When some embedded task is DONE, the
        listing evidently includes them and nothing more is asked. When none is, the listing may be hiding
        them, and a project's DONE tasks (`is-active=false`, one request) are read when it is in `done_due`
        (None: every project), or when a task `previous` held as not DONE is no longer listed (it may have
        become DONE, or been deleted). Otherwise its DONE tasks are the ones `previous` (the last read, by
        project) holds, minus those listed again (made ACTIVE again). A project whose hydrated record has
        no `tasks` list, or that the listing lacks, is read from its own tasks endpoint instead (both
        states), so an API that hydrates differently costs requests, never tasks. `hydrated_projects`: the
        hydrated list as read before (the raw projects' records), instead of reading it again.
        """
        if hydrated_projects is None:
            hydrated_projects = self.projects(hydrated=True)
        listed = {p["id"]: p for p in hydrated_projects if p.get("id")}
        wanted = list(listed) if project_ids is None else list(dict.fromkeys(project_ids))
        due = None if done_due is None or previous is None else set(done_due)
        before = previous or {}
        embedded: dict[str, list[dict[str, Any]]] = {}
        fallback: list[str] = []
        for project_id in wanted:
            records = listed.get(project_id, {}).get("tasks")
            if isinstance(records, list):
                embedded[project_id] = [r for r in records if isinstance(r, dict)]
            else:
                fallback.append(project_id)
        lists_done = any(t.get("status") == "DONE" for records in embedded.values() for t in records)
        if fallback:
            logger.warning(
                "Clockify GET /projects?hydrated=true gave no task list for %d project(s) (%s); "
                "reading their tasks from each project's own endpoint", len(fallback), ", ".join(fallback[:5]),
            )  # fmt: skip

        def vanished(project_id: str) -> bool:
            listed_ids = {r.get("id") for r in embedded[project_id]}
            return any(r.get("status") != "DONE" and r.get("id") not in listed_ids for r in before.get(project_id, ()))

        read_done = set() if lists_done else {p for p in embedded if due is None or p in due or vanished(p)}

        def read(project_id: str, pace: Callable[[], None]) -> list[ClockifyTask]:
            records = embedded.get(project_id)
            path = self._ws_path(f"/projects/{project_id}/tasks")
            if records is None:  # the fallback: the project's own tasks in both states
                records = []
                for state in TASK_STATES:
                    records += self._pages(path, {"is-active": state}, pace)
            elif project_id in read_done:
                records = records + self._pages(path, {"is-active": "false"}, pace)
            elif not lists_done:  # the DONE tasks of the last read, but those listed again (ACTIVE again)
                listed_ids = {r.get("id") for r in records}
                records = records + [
                    r for r in before.get(project_id, ()) if r.get("status") == "DONE" and r.get("id") not in listed_ids
                ]
            return _project_tasks(project_id, records)

        needed = list(embedded) + fallback  # the embedded ones first, then the fallback (the requests' order)
        requested = [p for p in needed if p in read_done or p in fallback]
        by_project = self._per_project(read, requested) if requested else {}
        by_project.update({p: read(p, _no_pace) for p in needed if p not in by_project})  # no request
        done_read = read_done | set(fallback) | (set(embedded) if lists_done else set())
        return TaskRead(
            tasks=[task for project_id in wanted for task in by_project.get(project_id, [])],
            done_read=[p for p in wanted if p in done_read],
        )

    # --- time entries ----------------------------------------------------------------------------

    def time_entries(self, start: datetime, end: datetime) -> list[ClockifyTimeEntry]:
        """Every entry whose start lies in [start, end), in the main API's shape, oldest first, one per id
        (a later read of the same id is the fresher one). Naive datetimes are taken as UTC."""
        entries: dict[str, ClockifyTimeEntry] = {}
        for entry in self.iter_time_entries(start, end):
            entries[entry["id"]] = entry
        return sorted(entries.values(), key=lambda e: (e["timeInterval"]["start"], e["id"]))

    def iter_time_entries(
        self, start: datetime, end: datetime, progress: ReadProgress | None = None
    ) -> Iterator[ClockifyTimeEntry]:
        """The entries of [start, end) as their pages arrive, so a year need not sit in memory at once.

        An id may come twice (an entry edited while the report was paged, or a window read again): the
        later one is the fresher, which is how `Warehouse` de-duplicates. Each window keeps the entries
        whose UTC start lies in it: the APIs' bounds are inclusive and the per-user ones are widened, so
        entries starting exactly at `end` (or outside) are dropped here and adjacent partitions never
        both count one.
        `progress`, when given, says how far the read got (for a read a budget stops midway).
        """
        start, end = as_utc(start), as_utc(end)
        if progress is not None:
            progress.complete_before = start
        if end <= start:
            return
        user_ids = [u["id"] for u in self.users()] if self.time_entries_strategy == "per_user" else []
        users_seen: set[str] = set()
        for window_start, window_end in split_range(start, end, MAX_RANGE):
            if self.time_entries_strategy == "report" and progress is not None and self._budget_limited():
                batch = self._report_entries_in_start_order(window_start, window_end, progress)
            elif self.time_entries_strategy == "report":
                batch = self._report_entries(window_start, window_end)
            else:
                batch = self._per_user_entries(user_ids, window_start, window_end)
            for entry in batch:
                started = parse_timestamp(entry.get("timeInterval", {}).get("start"))
                if started is None:
                    logger.warning("Clockify time entry %s has no readable start; skipped", entry.get("id"))
                elif window_start <= started < window_end:
                    if len(users_seen) < 2:
                        users_seen.add(entry.get("userId") or "")
                    yield entry
            if progress is not None:
                progress.complete_before = window_end
        if len(users_seen) < 2:  # one person's time or none: is that all this key may see? (module docstring)
            self.require_everyones_time(users_seen)

    def detailed_report_page(
        self,
        start: datetime,
        end: datetime,
        page: int = 1,
        page_size: int | None = None,
        sort_column: str = REPORT_SORT_COLUMN,
    ) -> dict[str, Any]:
        """One page of the detailed report of entries started in [start, end) (UTC), as the reports API
        answers it (`timeentries` and `totals`). Also the cheapest proof that the reports host knows the
        workspace."""
        body = {
            # Wall-clock bounds in `timeZone`: UTC, so they mean what they say (the default would be the
            # key owner's zone and shift every window by their offset).
            "dateRangeStart": format_report_timestamp(start),
            # Inclusive on the API's side: stop just before `end`, the next window's start.
            "dateRangeEnd": format_report_timestamp(max(start, end - timedelta(milliseconds=1))),
            "timeZone": REPORT_TIME_ZONE,
            "detailedFilter": {
                "page": page,
                "pageSize": page_size or self.report_page_size,
                "sortColumn": sort_column,
            },
            "sortOrder": "ASCENDING",
        }
        url = f"{self.reports_url.rstrip('/')}/workspaces/{self.workspace_id}/reports/detailed"
        return self.http.request("POST", url, json=body, check=self._check, url_setting="CLOCKIFY_REPORTS_URL")

    def _report_entries(self, start: datetime, end: datetime) -> Iterator[ClockifyTimeEntry]:
        """Every entry of one report window, or an IncompleteReport: never fewer entries than announced.

        A read that falls short of `totals[0].entriesCount` is repeated once (entries deleted while the
        report was paged shift the later pages, so a live entry can be missed; the second read is checked
        on its own). What the first read yielded stays yielded: an entry deleted meanwhile is then loaded
        as if deleted just after the load, and the next reload of its day removes it.
        """
        counts: list[tuple[int, int]] = []
        for attempt in (1, 2):
            read = _ReportRead()
            yield from self._read_report_window(start, end, read)
            if read.complete:
                return
            counts.append((read.announced or 0, len(read.ids)))
            if attempt == 1:
                logger.warning(
                    "Clockify detailed report for %s announced %d entries but %d were read; reading it again",
                    _window_text(start, end), *counts[-1],
                )  # fmt: skip
        (first_announced, first_read), (announced, got) = counts
        raise IncompleteReport(
            f"Clockify detailed report for {_window_text(start, end)} announced {announced} entries but gave "
            f"{got} (first read: {first_read} of {first_announced}); the load stopped so no day is written "
            "incomplete. Retry the run; if it persists, set CLOCKIFY_TIME_ENTRIES_STRATEGY=per_user.",
            service="Clockify",
        )

    def _budget_limited(self) -> bool:
        """The Free plan's budget (configured, or learned from its 429s): pages one by one, in start order."""
        return self.budget is not None and self.budget.plan() != "paid"

    def _report_entries_in_start_order(
        self, start: datetime, end: datetime, progress: ReadProgress
    ) -> Iterator[ClockifyTimeEntry]:
        """One report window read in start order, one page at a time, `progress` moved after each page to the
        page's last start (ties with it may continue on the next page: only what starts before it is whole).
        A budget stop between pages then leaves whole days behind it. Equal start times may reorder across
        pages (an open fact): fewer entries than announced then fails the read loudly (IncompleteReport, so
        no day of the window is committed short) rather than re-reading it on the Free plan's budget."""
        read = _ReportRead()
        in_order = True
        page = 1
        while True:
            answer = self.detailed_report_page(start, end, page, sort_column=START_ORDER_SORT_COLUMN)
            rows = report_rows(answer)
            if page == 1:
                read.announced = report_entry_count(answer)
            if page > 1 and not read.has_new(rows):
                break
            last_start = None
            for entry in read.take(rows, self.workspace_id):
                started = parse_timestamp(entry["timeInterval"].get("start"))
                if started is not None and last_start is not None and started < last_start:
                    in_order = False  # not in start order after all: only the window's end says "complete"
                last_start = started or last_start
                yield entry
            if in_order and last_start is not None and last_start > progress.complete_before:
                progress.complete_before = min(last_start, end)
            if not rows or (read.announced is not None and len(read.ids) >= read.announced):
                break
            page += 1
        if not read.complete:
            raise IncompleteReport(
                f"Clockify detailed report for {_window_text(start, end)} announced {read.announced} entries but "
                f"gave {len(read.ids)} in start order (the Free plan's read); the load stopped so no day is "
                "written incomplete. Run the sync again (it resumes at the first day not committed).",
                service="Clockify",
            )

    def _read_report_window(self, start: datetime, end: datetime, read: _ReportRead) -> Iterator[ClockifyTimeEntry]:
        """One read of a window: page 1, then the pages its announced count implies, then on (one page at
        a time) while fewer entries than announced were read and pages still bring new ones.

        The page size is what page 1 shows: the API may serve fewer rows per page than asked (and then
        count its pages with that size), so a short page is not taken to be the last one. The implied
        pages are requested `report_concurrency` at a time (paced under Clockify's rate limit).
        """
        pacer = Pacer(self.max_requests_per_second)

        def fetch(page: int) -> Any:
            pacer.wait()
            return self.detailed_report_page(start, end, page)

        first = fetch(1)
        rows = report_rows(first)
        read.announced = report_entry_count(first)
        yield from read.take(rows, self.workspace_id)
        if read.announced is None:  # no count to page to: read on until a page brings nothing new
            read.announced_missing = True
        elif read.announced <= len(rows) or not rows:
            return
        per_page = len(rows) or self.report_page_size
        planned = -(-(read.announced or 0) // per_page)
        for _page, answer in self._report_pages(fetch, 2, planned):
            yield from read.take(report_rows(answer), self.workspace_id)
        page = max(planned, 1) + 1
        while read.announced_missing or len(read.ids) < (read.announced or 0):
            rows = report_rows(fetch(page))
            if not read.has_new(rows):
                break
            yield from read.take(rows, self.workspace_id)
            page += 1

    def _report_pages(self, fetch: Callable[[int], Any], first: int, last: int) -> Iterator[tuple[int, Any]]:
        """(page number, answer) for pages first..last in order, `report_concurrency` requests at a time
        while earlier pages are processed: the same requests as one by one, with the latency overlapped."""
        if last < first:
            return
        # On the Free plan's 30 requests an hour a page fetched ahead of a budget stop is a request wasted.
        if self.report_concurrency == 1 or self._budget_limited():
            for page in range(first, last + 1):
                yield page, fetch(page)
            return
        with ThreadPoolExecutor(self.report_concurrency, thread_name_prefix="clockify-report") as pool:
            pending: deque = deque()
            page = first
            try:
                while page <= last or pending:
                    while page <= last and len(pending) < self.report_concurrency:
                        pending.append((page, pool.submit(fetch, page)))
                        page += 1
                    number, future = pending.popleft()
                    yield number, future.result()
            finally:  # the caller stopped early (an error): drop what is still queued
                for _number, future in pending:
                    future.cancel()

    def _per_user_entries(self, user_ids: list[str], start: datetime, end: datetime) -> Iterator[ClockifyTimeEntry]:
        # The API reads `start`/`end` as wall-clock time in the account's zone: a day more on each side
        # covers any offset; the caller keeps [start, end) by the returned UTC start.
        params = {
            "start": format_api_timestamp(start - PER_USER_MARGIN),
            "end": format_api_timestamp(end + PER_USER_MARGIN),
        }
        for user_id in user_ids:
            for record in self._pages(self._ws_path(f"/user/{user_id}/time-entries"), params):
                yield normalise_entry(record, self.workspace_id)

    # --- plumbing --------------------------------------------------------------------------------

    def _api_url(self, path: str) -> str:
        return self.api_url.rstrip("/") + path

    def _ws_path(self, path: str) -> str:
        return f"/workspaces/{self.workspace_id}{path}"

    def _get(self, url: str, url_setting: str, params: dict[str, Any] | None = None) -> Any:
        return self.http.request("GET", url, params=params, check=self._check, url_setting=url_setting)

    def _pages(
        self, path: str, params: dict[str, Any] | None = None, pace: Callable[[], None] | None = None
    ) -> list[dict[str, Any]]:
        """All records of a page-numbered main-API list; a short page is the last one. `pace()` before each
        request (concurrent reads share one pace)."""
        url = self._api_url(path)
        records: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
            if pace is not None:
                pace()
            batch = self._get(url, "CLOCKIFY_API_URL", {**(params or {}), "page": page, "page-size": self.page_size})
            if not isinstance(batch, list):
                raise ApiError(
                    f"Clockify answered GET {path} with a JSON {type(batch).__name__} where a list was expected.",
                    service="Clockify",
                )
            new = 0
            for record in batch:
                key = record.get("id") or f"#{len(records)}"
                new += key not in records
                records[key] = record  # data may shift between pages: keep each id once
            if len(batch) < self.page_size:
                return list(records.values())
            if not new:
                raise ApiError(
                    f"Clockify GET {path} page {page} repeated earlier records; paging is not advancing, "
                    "so the list would be incomplete.",
                    service="Clockify",
                )
            page += 1

    def check_unless_refused(self, refused: Callable[[int], ApiError]) -> Callable[[requests.Response], Any]:
        """The response check of an endpoint some plans or keys lack (time off, holidays, user groups, member
        profiles, the changes feed): HTTP 403 or 404 raise `refused(status)` (which of the two such a plan
        answers is open: both are read the same), every other answer goes through `_check`."""

        def check(response: requests.Response) -> Any:
            if response.status_code in (403, 404):
                raise refused(response.status_code)
            return self._check(response)

        return check

    def _check(self, response: requests.Response) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            return parse_json(response)
        if is_transient_status(status):
            # A 429 is refused before anything happens; a 5xx may have taken effect (writes.py cares).
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise Transient(f"HTTP {status}", retry_after, refused=status == 429)
        method, url = response.request.method, response.request.url or ""
        path = urlsplit(url).path
        if status == 401:
            raise self._key_refused(response, urlsplit(url).netloc)
        if status in (403, 404) and (path.rstrip("/") + "/").find(f"/workspaces/{self.workspace_id}/") >= 0:
            on_reports = url.startswith(self.reports_url.rstrip("/") + "/")
            raise self._workspace_refused(status, method or "", path, on_reports)
        detail = redact(_server_message(response), self.api_key)
        if status == 400:
            raise QueryError(
                f"Clockify rejected {method} {path} as invalid (HTTP 400: {detail}); "
                "the client sent a request the API does not accept.",
                service="Clockify",
                status=status,
            )
        raise ApiError(
            f"Clockify answered HTTP {status} to {method} {path} ({detail}).", service="Clockify", status=status
        )

    # --- the wrong host ----------------------------------------------------------------------------
    # Regional and subdomain workspaces live on their own hosts (https://<region>.clockify.me/api/v1 and
    # .../report/v1). On another host a key answers like an unknown workspace (403 "Access Denied",
    # GET /workspaces lists nothing) or, for a key made on a subdomain, like an unknown key (401 code 4003).
    # The errors below decide from what the API answered which one it is and name the settings to change.

    def _key_refused(self, response: requests.Response, host: str) -> AuthenticationError:
        if _server_code(response) == 1000:  # no key reached the API at all
            return AuthenticationError(
                f"Clockify on {host} got no API key (HTTP 401, code 1000): set CLOCKIFY_API_KEY to your key "
                "(Clockify > Profile settings > API).",
                service="Clockify",
                status=401,
            )
        return AuthenticationError(
            f"Clockify on host {host} does not know this API key (HTTP 401"
            + (", code 4003" if _server_code(response) == 4003 else "")
            + "): set CLOCKIFY_API_KEY to a valid key (Clockify > Profile settings > API). A key made on a "
            "subdomain or regional workspace works only on that workspace's host: set CLOCKIFY_REGION "
            f"({', '.join(CLOCKIFY_REGIONS)}) or CLOCKIFY_SUBDOMAIN (acme for https://acme.clockify.me), or "
            "CLOCKIFY_API_URL and CLOCKIFY_REPORTS_URL (https://<subdomain>.clockify.me/api/v1 and .../report/v1).",
            service="Clockify",
            status=401,
        )

    def _workspace_refused(self, status: int, method: str, path: str, on_reports: bool) -> ConfigurationError:
        """The workspace was refused (by the reports API if `on_reports`): ask the main API which workspaces
        the key sees on its host."""
        try:
            listed = [w.get("id") for w in self.workspaces() if isinstance(w, dict)]
        except ApiError:
            listed = None  # the list itself fails: say what was refused, with every setting that may cause it
        answered = f"HTTP {status} on {method} {path}"
        other_host = (
            f"if the workspace is regional, set CLOCKIFY_REGION ({', '.join(CLOCKIFY_REGIONS)}); "
            "on a subdomain, set CLOCKIFY_SUBDOMAIN (or CLOCKIFY_API_URL and CLOCKIFY_REPORTS_URL to "
            "https://<subdomain>.clockify.me/api/v1 and .../report/v1)"
        )
        main_host = urlsplit(self.api_url).netloc
        if listed is not None and self.workspace_id in listed:
            if on_reports:  # the main API knows it: the reports host is the wrong one
                host = urlsplit(self.reports_url).netloc
                message = (
                    f"Clockify's reports host {host} refused workspace {self.workspace_id!r} ({answered}) that the "
                    f"main API on {main_host} lists: CLOCKIFY_REPORTS_URL points at the wrong host; set it to the "
                    "reports API of the workspace's host (https://reports.api.clockify.me/v1 globally, "
                    "https://<region>.clockify.me/report/v1 for a region), or set only CLOCKIFY_REGION."
                )
            else:
                message = (
                    f"Clockify lists workspace {self.workspace_id!r} for this API key but refused {answered}: "
                    "the key's owner may lack the rights (use the key of a workspace admin to read everyone's time)."
                )
        elif listed == []:
            message = (
                f"Clockify on host {main_host} accepts the API key but lists no workspace for it, so workspace "
                f"{self.workspace_id!r} is not on this host ({answered}): {other_host}."
            )
        elif listed:
            ids = ", ".join(repr(i) for i in sorted(i for i in listed if i)[:10])
            message = (
                f"Clockify has no workspace {self.workspace_id!r} for this API key on host {main_host} ({answered}): "
                f"set CLOCKIFY_WORKSPACE_ID to one it lists ({ids}); {other_host}."
            )
        else:
            message = (
                f"Clockify has no workspace {self.workspace_id!r} for this API key on host {main_host} ({answered}): "
                f"check CLOCKIFY_WORKSPACE_ID and CLOCKIFY_API_KEY; {other_host}."
            )
        return ConfigurationError(message, service="Clockify", status=status)


def _server_code(response: requests.Response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


@dataclass
class _ReportRead:
    """What one read of a report window has seen: the announced count and the ids read."""

    announced: int | None = None
    announced_missing: bool = False
    ids: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return self.announced_missing or len(self.ids) >= (self.announced or 0)

    def has_new(self, rows: list[dict[str, Any]]) -> bool:
        return any(row_id(row) not in self.ids for row in rows)

    def take(self, rows: list[dict[str, Any]], workspace_id: str) -> Iterator[ClockifyTimeEntry]:
        for row in rows:
            entry = report_row_to_entry(row, workspace_id)
            self.ids.add(entry["id"])
            yield entry


def _window_text(start: datetime, end: datetime) -> str:
    """[start, end) as the days (or instants) a person asked for: 2024-06-01 .. 2024-06-07 (UTC)."""
    last = end - timedelta(microseconds=1)
    if start.time() == end.time() == datetime.min.time():
        return f"{start.date()} .. {last.date()} (UTC)"
    return f"{start.isoformat()} .. {end.isoformat()}"


def _project_tasks(project_id: str, records: Iterable[dict[str, Any]]) -> list[ClockifyTask]:
    """One project's tasks, each id once (the first copy), ACTIVE ones first then DONE ones, otherwise
    in the API's order: the same list whichever listings (and in which order) they came from."""
    unique: dict[str, dict[str, Any]] = {}
    for record in records:
        key = record.get("id") or f"#{len(unique)}"
        if key not in unique:
            task = dict(record)
            task.setdefault("projectId", project_id)
            unique[key] = task
    ordered = sorted(unique.values(), key=lambda t: t.get("status") == "DONE")  # stable
    return cast(list[ClockifyTask], ordered)


def _server_message(response: requests.Response) -> str:
    try:
        body = response.json()
        text = str(body.get("message") or body) if isinstance(body, dict) else str(body)
    except ValueError:
        text = response.text or response.reason or "no body"
    text = " ".join(text.split())
    return text[:200] + ("..." if len(text) > 200 else "")
