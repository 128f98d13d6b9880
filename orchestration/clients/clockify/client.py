"""Clockify API client: workspace lists from the main API, time entries from the detailed report or per user.

Both time-entry strategies return entries in the main API's shape (normalize.py), so downstream code does
not care which one ran. "report" needs few requests (1000 entries each, whole workspace); "per_user" needs
one request per user and also sees running timers, which reports leave out. The writes write-back makes
are in writes.py, mixed into the client.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import dagster as dg
import requests
from pydantic import Field

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
from orchestration.timeutil import as_utc, parse_timestamp, split_range

logger = dg.get_dagster_logger(__name__)

CLOCKIFY = Service(name="Clockify", status_page="https://status.clockify.me")

MAX_PAGE_SIZE = 5000  # main API; larger answers HTTP 400
MAX_REPORT_PAGE_SIZE = 1000
# Free plans refuse report ranges longer than this; per-user reads use the same windows for simplicity.
MAX_RANGE = timedelta(days=366)
# The report is read in start order (sortColumn DATE, ASCENDING): after each page every entry that starts
# before the page's last start has been read, which is what `ReadProgress` reports.
REPORT_SORT = {"sortColumn": "DATE", "sortOrder": "ASCENDING"}


@dataclass
class ReadProgress:
    """How far a read of time entries got: every entry starting before `complete_before` has been yielded.

    A read stopped midway (the API budget ran out: BudgetExhausted) has therefore delivered whole UTC days
    up to the day before `complete_before`, which the time-entry asset commits and the next run resumes
    after. It only moves on when the answer's order proves it (start order), else at each window's end.
    """

    complete_before: datetime


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

    def _headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key, "Accept": "application/json"}

    # --- lists -----------------------------------------------------------------------------------

    def workspaces(self) -> list[ClockifyWorkspace]:
        # Paged like the others: harmless if the API ignores the parameters and answers all at once.
        return cast(list[ClockifyWorkspace], self._pages("/workspaces"))

    def users(self) -> list[ClockifyUser]:
        return cast(list[ClockifyUser], self._pages(self._ws_path("/users")))

    def clients(self) -> list[ClockifyClientRecord]:
        return cast(list[ClockifyClientRecord], self._pages(self._ws_path("/clients")))

    def projects(self) -> list[ClockifyProject]:
        return cast(list[ClockifyProject], self._pages(self._ws_path("/projects")))

    def tags(self) -> list[ClockifyTag]:
        return cast(list[ClockifyTag], self._pages(self._ws_path("/tags")))

    def tasks(self, project_ids: Iterable[str]) -> list[ClockifyTask]:
        """Tasks of the given projects, one paged GET /projects/{id}/tasks per project (cheap for a few)."""
        tasks: list[ClockifyTask] = []
        for project_id in dict.fromkeys(project_ids):  # de-duplicated, order kept
            for task in self._pages(self._ws_path(f"/projects/{project_id}/tasks")):
                task.setdefault("projectId", project_id)
                tasks.append(cast(ClockifyTask, task))
        return tasks

    def hydrated_tasks(self, project_ids: Iterable[str] | None = None) -> list[ClockifyTask]:
        """Tasks of the given projects (default: every listed project) from one paged
        GET /projects?hydrated=true, which embeds each project's `tasks`: requests grow with pages of
        projects, not with projects. Same records and order as `tasks(project_ids)`.

        A project whose hydrated record has no `tasks` list, or that the listing lacks, is read from its
        own tasks endpoint instead, so an API that hydrates differently costs requests, never tasks.
        """
        listed = {p["id"]: p for p in self._pages(self._ws_path("/projects"), {"hydrated": "true"}) if p.get("id")}
        wanted = list(listed) if project_ids is None else list(dict.fromkeys(project_ids))
        by_project: dict[str, list[ClockifyTask]] = {}
        fallback: list[str] = []
        for project_id in wanted:
            embedded = listed.get(project_id, {}).get("tasks")
            if not isinstance(embedded, list):
                fallback.append(project_id)
                continue
            by_project[project_id] = []
            for record in embedded:
                task = dict(record)
                task.setdefault("projectId", project_id)
                by_project[project_id].append(cast(ClockifyTask, task))
        if fallback:
            logger.warning(
                "Clockify GET /projects?hydrated=true gave no task list for %d project(s) (%s); "
                "reading their tasks one project at a time", len(fallback), ", ".join(fallback[:5]),
            )  # fmt: skip
            for project_id in fallback:
                by_project[project_id] = self.tasks([project_id])
        return [task for project_id in wanted for task in by_project.get(project_id, [])]

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

        An id may come twice (an entry edited while the report was paged): the later one is the fresher,
        which is how `Warehouse` de-duplicates. The APIs' bounds are inclusive, so entries starting exactly
        at `end` are dropped here: adjacent partitions must not both count them. `progress`, when given,
        says how far the read got (for a read a budget stops midway).
        """
        start, end = as_utc(start), as_utc(end)
        if progress is not None:
            progress.complete_before = start
        if end <= start:
            return
        user_ids = [u["id"] for u in self.users()] if self.time_entries_strategy == "per_user" else []
        for window_start, window_end in split_range(start, end, MAX_RANGE):
            if self.time_entries_strategy == "report":
                batch = self._report_entries(window_start, window_end, progress)
            else:
                batch = self._per_user_entries(user_ids, window_start, window_end)
            for entry in batch:
                started = parse_timestamp(entry.get("timeInterval", {}).get("start"))
                if started is None:
                    logger.warning("Clockify time entry %s has no readable start; skipped", entry.get("id"))
                elif start <= started < end:
                    yield entry
            if progress is not None:
                progress.complete_before = window_end

    def detailed_report_page(
        self, start: datetime, end: datetime, page: int = 1, page_size: int | None = None
    ) -> dict[str, Any]:
        """One page of the detailed report of entries started in [start, end), as the reports API answers
        it (`timeentries` and `totals`). Also the cheapest proof that the reports host knows the workspace."""
        body = {
            "dateRangeStart": format_report_timestamp(start),
            # Inclusive on the API's side: stop just before `end`, the next window's start.
            "dateRangeEnd": format_report_timestamp(max(start, end - timedelta(milliseconds=1))),
            "detailedFilter": {
                "page": page,
                "pageSize": page_size or self.report_page_size,
                "sortColumn": REPORT_SORT["sortColumn"],
            },
            "sortOrder": REPORT_SORT["sortOrder"],
        }
        url = f"{self.reports_url.rstrip('/')}/workspaces/{self.workspace_id}/reports/detailed"
        return self.http.request("POST", url, json=body, check=self._check, url_setting="CLOCKIFY_REPORTS_URL")

    def _report_entries(
        self, start: datetime, end: datetime, progress: ReadProgress | None = None
    ) -> Iterator[ClockifyTimeEntry]:
        seen: set[str] = set()
        expected: int | None = None
        in_order = REPORT_SORT == {"sortColumn": "DATE", "sortOrder": "ASCENDING"}
        for page, answer in self._report_pages(start, end):
            rows = report_rows(answer)
            if expected is None:
                expected = report_entry_count(answer)
            fresh = [row for row in rows if row_id(row) not in seen]
            last_start = None
            for row in rows:
                entry = report_row_to_entry(row, self.workspace_id)
                seen.add(entry["id"])
                started = parse_timestamp(entry["timeInterval"].get("start"))
                if started is not None and last_start is not None and started < last_start:
                    in_order = False  # not in start order after all: only the window's end says "complete"
                last_start = started or last_start
                yield entry
            if progress is not None and in_order and last_start is not None and last_start > progress.complete_before:
                # Ties with the last start may continue on the next page: only what starts before it is whole.
                progress.complete_before = min(last_start, end)
            if len(rows) < self.report_page_size:
                break
            if not fresh:
                raise ApiError(
                    f"Clockify detailed report page {page} repeated earlier rows; paging is not advancing, "
                    "so the report would be incomplete.",
                    service="Clockify",
                )
        if expected is not None and len(seen) < expected:
            # Not fatal: entries deleted while paging also cause this. Worth a look if it persists.
            logger.warning(
                "Clockify detailed report for %s..%s announced %d entries but %d were read",
                start.isoformat(), end.isoformat(), expected, len(seen),
            )  # fmt: skip

    def _report_pages(self, start: datetime, end: datetime) -> Iterator[tuple[int, Any]]:
        """(page number, answer) in page order, until the caller stops.

        Page 1 announces the entry count, so the pages it implies are requested `report_concurrency` at a
        time (paced under Clockify's rate limit) while earlier ones are processed: the same requests as
        one by one, with the API's latency overlapped. Pages past the announced count (entries added
        meanwhile) are read one by one until a short page.
        """

        def fetch(page: int) -> Any:
            pacer.wait()
            return self.detailed_report_page(start, end, page)

        pacer = Pacer(self.max_requests_per_second)
        first = fetch(1)
        yield 1, first
        announced = report_entry_count(first) if isinstance(first, dict) else None
        planned = -(-announced // self.report_page_size) if announced else 1
        page = 2
        # On the Free plan's 30 requests/hour, pages go one by one: a page fetched ahead of a budget stop
        # would be a request spent for nothing.
        concurrency = self.report_concurrency if self.budget is None or self.budget.plan() == "paid" else 1
        if planned >= 2 and concurrency > 1:
            with ThreadPoolExecutor(concurrency, thread_name_prefix="clockify-report") as pool:
                pending: deque = deque()
                try:
                    while page <= planned or pending:
                        while page <= planned and len(pending) < concurrency:
                            pending.append((page, pool.submit(fetch, page)))
                            page += 1
                        number, future = pending.popleft()
                        yield number, future.result()
                finally:  # the caller stopped early (short page, error): drop what is still queued
                    for _number, future in pending:
                        future.cancel()
        while True:
            yield page, fetch(page)
            page += 1

    def _per_user_entries(self, user_ids: list[str], start: datetime, end: datetime) -> Iterator[ClockifyTimeEntry]:
        params = {"start": format_api_timestamp(start), "end": format_api_timestamp(end)}
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

    def _pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """All records of a page-numbered main-API list; a short page is the last one."""
        url = self._api_url(path)
        records: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
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

    def _check(self, response: requests.Response) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            return parse_json(response)
        if is_transient_status(status):
            # A 429 is refused before anything happens; a 5xx may have taken effect (writes.py cares).
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise Transient(f"HTTP {status}", retry_after, refused=status == 429)
        method, path = response.request.method, urlsplit(response.request.url or "").path
        if status == 401:
            raise AuthenticationError(
                "Clockify rejected the API key (HTTP 401): set CLOCKIFY_API_KEY to a valid key "
                "(Clockify > Profile settings > API).",
                service="Clockify",
                status=status,
            )
        if status in (403, 404) and f"/workspaces/{self.workspace_id}" in path:
            raise ConfigurationError(
                f"Clockify has no workspace {self.workspace_id!r} for this API key (HTTP {status} on {method} "
                f"{path}): set CLOCKIFY_WORKSPACE_ID to an id from GET /workspaces, and check that "
                "CLOCKIFY_API_KEY belongs to a member of it (admin, to read everyone's time).",
                service="Clockify",
                status=status,
            )
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


def _server_message(response: requests.Response) -> str:
    try:
        body = response.json()
        text = str(body.get("message") or body) if isinstance(body, dict) else str(body)
    except ValueError:
        text = response.text or response.reason or "no body"
    text = " ".join(text.split())
    return text[:200] + ("..." if len(text) > 200 else "")
