"""Clockify API client: workspace lists from the main API, time entries from the detailed report or per user.

Both time-entry strategies return entries in the main API's shape, so downstream code does not care which
one ran. "report" needs few requests (1000 entries each, whole workspace); "per_user" needs one request per
user and also sees running timers, which reports leave out.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import dagster as dg
import requests
from pydantic import Field

from orchestration.clients.base import ApiClientResource
from orchestration.clients.clockify.records import (
    ClockifyClientRecord,
    ClockifyProject,
    ClockifyTag,
    ClockifyTask,
    ClockifyTimeEntry,
    ClockifyUser,
    ClockifyWorkspace,
)
from orchestration.clients.errors import ApiError, AuthenticationError, ConfigurationError, QueryError, RetriesExhausted
from orchestration.clients.http import (
    Service,
    Transient,
    backoff_delay,
    describe_exception,
    is_transient_status,
    parse_json,
    parse_retry_after,
    redact,
)

logger = dg.get_dagster_logger(__name__)

CLOCKIFY = Service(name="Clockify", env_prefix="CLOCKIFY", status_page="https://status.clockify.me")

MAX_PAGE_SIZE = 5000  # main API; larger answers HTTP 400
MAX_REPORT_PAGE_SIZE = 1000
# Free plans refuse report ranges longer than this; per-user reads use the same windows for simplicity.
MAX_RANGE = timedelta(days=366)

# Fields every normalised time entry has, even when the source left them out.
_ENTRY_DEFAULTS: dict[str, Any] = {
    "description": None,
    "userId": None,
    "projectId": None,
    "taskId": None,
    "billable": None,
    "type": "REGULAR",
}


class ClockifyClient(ApiClientResource):
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

    def _service(self):
        return CLOCKIFY

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

    def iter_time_entries(self, start: datetime, end: datetime) -> Iterator[ClockifyTimeEntry]:
        """The entries of [start, end) as their pages arrive, so a year need not sit in memory at once.

        An id may come twice (an entry edited while the report was paged): the later one is the fresher,
        which is how `Warehouse` de-duplicates. The APIs' bounds are inclusive, so entries starting exactly
        at `end` are dropped here: adjacent partitions must not both count them.
        """
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            return
        user_ids = [u["id"] for u in self.users()] if self.time_entries_strategy == "per_user" else []
        for window_start, window_end in split_range(start, end, MAX_RANGE):
            if self.time_entries_strategy == "report":
                batch = self._report_entries(window_start, window_end)
            else:
                batch = self._per_user_entries(user_ids, window_start, window_end)
            for entry in batch:
                started = parse_timestamp(entry.get("timeInterval", {}).get("start"))
                if started is None:
                    logger.warning("Clockify time entry %s has no readable start; skipped", entry.get("id"))
                elif start <= started < end:
                    yield entry

    def _report_entries(self, start: datetime, end: datetime) -> Iterator[ClockifyTimeEntry]:
        url = f"{self.reports_url.rstrip('/')}/workspaces/{self.workspace_id}/reports/detailed"
        seen: set[str] = set()
        expected: int | None = None
        for page, answer in self._report_pages(url, start, end):
            rows = _report_rows(answer)
            if expected is None:
                expected = _report_entry_count(answer)
            fresh = [row for row in rows if _row_id(row) not in seen]
            for row in rows:
                entry = report_row_to_entry(row, self.workspace_id)
                seen.add(entry["id"])
                yield entry
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

    def _report_pages(self, url: str, start: datetime, end: datetime) -> Iterator[tuple[int, Any]]:
        """(page number, answer) in page order, until the caller stops.

        Page 1 announces the entry count, so the pages it implies are requested `report_concurrency` at a
        time (paced under Clockify's rate limit) while earlier ones are processed: the same requests as
        one by one, with the API's latency overlapped. Pages past the announced count (entries added
        meanwhile) are read one by one until a short page.
        """

        def fetch(page: int) -> Any:
            body = {
                "dateRangeStart": format_report_timestamp(start),
                # Inclusive on the API's side: stop just before `end`, the next window's start.
                "dateRangeEnd": format_report_timestamp(max(start, end - timedelta(milliseconds=1))),
                "detailedFilter": {"page": page, "pageSize": self.report_page_size, "sortColumn": "DATE"},
                "sortOrder": "ASCENDING",
            }
            pacer.wait()
            return self.http.request("POST", url, json=body, check=self._check, url_setting="CLOCKIFY_REPORTS_URL")

        pacer = _Pacer(self.max_requests_per_second)
        first = fetch(1)
        yield 1, first
        announced = _report_entry_count(first) if isinstance(first, dict) else None
        planned = -(-announced // self.report_page_size) if announced else 1
        page = 2
        if planned >= 2 and self.report_concurrency > 1:
            with ThreadPoolExecutor(self.report_concurrency, thread_name_prefix="clockify-report") as pool:
                pending: deque = deque()
                try:
                    while page <= planned or pending:
                        while page <= planned and len(pending) < self.report_concurrency:
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

    # --- writes (Clockify write-back, orchestration/writeback.py) ---------------------------------
    #
    # A POST is not idempotent: when its answer is lost (5xx, read timeout, reset, cut body) the object
    # may exist anyway. So a create is only resent blindly when the request provably did not take effect
    # (HTTP 429, or the connection failed before the request was sent); otherwise the list is re-read
    # and an object with the requested name is returned instead of creating a duplicate. A PUT sets the
    # same fields to the same values however often it is sent, so it uses the ordinary retrying loop.

    def create_client(self, name: str) -> ClockifyClientRecord:
        """POST /workspaces/{ws}/clients {"name"}: the created client."""
        path = self._ws_path("/clients")
        return cast(ClockifyClientRecord, self._create(path, {"name": name}, lambda: self.clients()))

    def create_project(self, name: str, client_id: str | None = None) -> ClockifyProject:
        """POST /workspaces/{ws}/projects {"name", "clientId", "isPublic": true}: the created project."""
        body: dict[str, Any] = {"name": name, "isPublic": True}
        if client_id:
            body["clientId"] = client_id
        return cast(ClockifyProject, self._create(self._ws_path("/projects"), body, lambda: self.projects()))

    def create_task(self, project_id: str, name: str) -> ClockifyTask:
        """POST /workspaces/{ws}/projects/{pid}/tasks {"name"}: the created task (status ACTIVE)."""
        path = self._ws_path(f"/projects/{project_id}/tasks")
        task = self._create(path, {"name": name}, lambda: self.tasks([project_id]))
        task.setdefault("projectId", project_id)
        return cast(ClockifyTask, task)

    def update_task(self, project_id: str, task_id: str, name: str, status: str) -> ClockifyTask:
        """PUT /workspaces/{ws}/projects/{pid}/tasks/{tid} {"name", "status"} (Clockify requires the name)."""
        url = self._api_url(self._ws_path(f"/projects/{project_id}/tasks/{task_id}"))
        task = self.http.request(
            "PUT", url, json={"name": name, "status": status}, check=self._check, url_setting="CLOCKIFY_API_URL"
        )
        task.setdefault("projectId", project_id)
        return cast(ClockifyTask, task)

    def _create(self, path: str, body: dict[str, Any], existing: Any) -> dict[str, Any]:
        """POST `body` to `path` once; see the section comment for when it is sent again."""
        http, policy = self.http, self.http.policy
        url, name = self._api_url(path), body["name"]
        started = http._clock()
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                http.requests_made += 1
                response = http.session.request("POST", url, json=body, timeout=http.timeout)
            except requests.RequestException as exc:
                reason, unsent = describe_exception(exc, http.timeout[1])
                ambiguous = not unsent
            else:
                status = response.status_code
                if status == 429:
                    reason, ambiguous = "HTTP 429", False
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                elif is_transient_status(status):
                    reason, ambiguous = f"HTTP {status}", True
                else:
                    try:
                        return self._check(response)  # 2xx: the object; 4xx: a permanent ApiError
                    except Transient as transient:  # 2xx with a cut body: created, answer lost
                        reason, ambiguous = transient.reason, True
            if ambiguous:
                found = _named(existing(), name)
                if found is not None:
                    logger.warning("Clockify POST %s: %s, but %r exists now; using it", path, reason, name)
                    return found
            elapsed = http._clock() - started
            delay = backoff_delay(attempt, retry_after, policy.backoff_base, policy.backoff_cap, http._rng)
            if attempt >= policy.max_attempts or elapsed + delay > policy.max_retry_seconds:
                raise RetriesExhausted(
                    f"Clockify POST {path} ({name!r}) still failing after {attempt} attempts over {elapsed:.0f} s "
                    f"(last: {reason}); nothing named {name!r} was created. Check {CLOCKIFY.status_page} "
                    "or retry later.",
                    service="Clockify",
                )
            logger.warning(
                "Clockify POST %s: %s; retrying in %.1f s (attempt %d of %d)",
                path,
                reason,
                delay,
                attempt,
                policy.max_attempts,
            )
            http._sleep(delay)

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
            raise Transient(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
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


# --- pure helpers (unit-tested directly) ---------------------------------------------------------


def as_utc(moment: datetime) -> datetime:
    """Aware datetimes converted to UTC; naive ones taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def format_api_timestamp(moment: datetime) -> str:
    """Main API style: 2024-05-01T09:00:00Z (second precision is all Clockify stores)."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_report_timestamp(moment: datetime) -> str:
    """Reports API style: 2024-05-01T09:00:00.000Z."""
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def split_range(start: datetime, end: datetime, longest: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive half-open windows covering [start, end), none longer than `longest`."""
    windows = []
    while start < end:
        windows.append((start, min(end, start + longest)))
        start = windows[-1][1]
    return windows


def seconds_to_iso_duration(seconds: float) -> str:
    """3725 -> "PT1H2M5S", the main API's duration format (hours are not folded into days)."""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return text if text != "PT" else "PT0S"


_API_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z", re.ASCII)


class _Pacer:
    """Spaces calls at least 1/rate seconds apart, across threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


def normalise_entry(record: dict[str, Any], workspace_id: str) -> ClockifyTimeEntry:
    """Same fields and formats whichever endpoint the entry came from: times in UTC with `Z`."""
    entry = dict(record)
    for key, default in _ENTRY_DEFAULTS.items():
        entry.setdefault(key, default)
    for key in ("projectId", "taskId", "clientId"):
        if entry.get(key) == "":  # reports use "" for "none", the main API null
            entry[key] = None
    if entry.get("tagIds") is None:
        entry["tagIds"] = []
    if not entry.get("workspaceId"):
        entry["workspaceId"] = workspace_id
    interval = dict(entry.get("timeInterval") or {})
    for key in ("start", "end"):
        value = interval.get(key)
        if isinstance(value, str) and _API_TIMESTAMP.match(value):
            continue  # already the main API's form (parsing and formatting would give it back)
        moment = parse_timestamp(value)
        # Reports may give times in the user's profile offset; store UTC like the main API.
        interval[key] = format_api_timestamp(moment) if moment else value
    interval.setdefault("end", None)
    if isinstance(interval.get("duration"), (int, float)) and not isinstance(interval["duration"], bool):
        interval["duration"] = seconds_to_iso_duration(interval["duration"])
    if interval.get("end") is None:
        interval["duration"] = None  # running timer
    interval.setdefault("duration", None)
    entry["timeInterval"] = interval
    return cast(ClockifyTimeEntry, entry)


def report_row_to_entry(row: dict[str, Any], workspace_id: str) -> ClockifyTimeEntry:
    """A detailed-report row mapped to the main API's time-entry shape; report-only fields are kept."""
    entry = dict(row)
    entry["id"] = _row_id(row)
    entry.pop("_id", None)
    if entry.get("tagIds") is None and isinstance(row.get("tags"), list):
        entry["tagIds"] = [t.get("_id") or t.get("id") for t in row["tags"] if isinstance(t, dict)]
    return normalise_entry(entry, workspace_id)


def _row_id(row: dict[str, Any]) -> str:
    return row.get("_id") or row.get("id") or ""


def _report_rows(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, dict):
        for key in ("timeentries", "timeEntries"):
            if isinstance(answer.get(key), list):
                return answer[key]
        if not answer.get("totals"):  # an empty report may come back without the list at all
            return []
    raise ApiError(
        "Clockify detailed report came back without a `timeentries` list; the reports API changed shape.",
        service="Clockify",
    )


def _report_entry_count(answer: dict[str, Any]) -> int | None:
    totals = answer.get("totals") or []
    if totals and isinstance(totals[0], dict) and isinstance(totals[0].get("entriesCount"), int):
        return totals[0]["entriesCount"]
    return None


def _named(records: Iterable[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The record Clockify would consider to have `name` (names are unique ignoring case and edge spaces)."""
    wanted = name.strip().casefold()
    return next((r for r in records if str(r.get("name") or "").strip().casefold() == wanted), None)


def _server_message(response: requests.Response) -> str:
    try:
        body = response.json()
        text = str(body.get("message") or body) if isinstance(body, dict) else str(body)
    except ValueError:
        text = response.text or response.reason or "no body"
    text = " ".join(text.split())
    return text[:200] + ("..." if len(text) > 200 else "")
