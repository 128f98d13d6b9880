"""Linear GraphQL client: flat, cursor-paged reads of the records the warehouse models.

Every query's complexity is computed before it is sent (complexity.py) and reserved from Linear's hourly
budgets, which every answer announces (clients/budget.py `LinearBudget`): the client waits for the refill
instead of being refused. Long reads are walks (`Walk`) that can stop at a budget boundary and resume where
they stopped in a later run: the same requests an uninterrupted walk would have sent.
"""

from __future__ import annotations

import functools
import itertools
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast

import dagster as dg
import requests
from pydantic import Field, PrivateAttr

from orchestration.clients.base import ApiClientResource
from orchestration.clients.budget import LinearBudget
from orchestration.clients.errors import (
    ApiError,
    AuthenticationError,
    BudgetExhausted,
    FeatureNotAccessible,
    QueryError,
)
from orchestration.clients.http import (
    Service,
    Transient,
    is_transient_status,
    json_body,
    parse_retry_after,
    redact,
)
from orchestration.clients.linear import queries as q
from orchestration.clients.linear.complexity import estimate
from orchestration.clients.linear.records import (
    LinearCustomer,
    LinearCustomerNeed,
    LinearCycle,
    LinearIssue,
    LinearIssueHistory,
    LinearIssueStateSpan,
    LinearLabel,
    LinearProject,
    LinearTeam,
    LinearUser,
    LinearWorkflowState,
)
from orchestration.timeutil import iso_millis

logger = dg.get_dagster_logger(__name__)

LINEAR = Service(name="Linear", status_page="https://linearstatus.com")

MAX_PAGE_SIZE = 250
# Linear's limits are hourly; wait for the announced reset only when it is this close, else back off
# (the bucket refills gradually, so an early retry often succeeds).
RATE_LIMIT_RESET_CAP_SECONDS = 60.0

# Issue history (ISSUE_HISTORY_QUERY): records and state spans per issue in a batch, chosen from the measured
# cost of the team-of-200 workload (benchmarks/history_shapes.py; figures in the README): the fewest
# first-load points among the shapes that keep the daily run within 40 requests. Smaller nested pages cost
# fewer points per issue but a follow-up request for every issue with more (8/6 took 81 requests a day).
HISTORY_FIRST = 10
SPANS_FIRST = 8
HISTORY_PAGE_FIRST = 10  # follow-up pages, for the few issues with more
# Linear refuses a query above 10,000 points; leave room for its count differing a little from the rule.
HISTORY_BATCH_POINTS = 9_500
# The history is the lowest-priority Linear read: its batches leave this share of each of Linear's hourly
# buckets (requests, complexity) untouched, and it does not wait for the refill unless the run may wait as
# long as it takes (`--wait`). So a first load that needs hours of the complexity budget spends what is above
# the reserve, stops, and the next sync's issues, dimensions and id walk find the reserve there (62,500 of
# Linear's 250,000 points: 31 issue pages at ~2,000; the team of 200's daily run sends 32 Linear requests
# besides the history, most of them cheaper pages: benchmarks/results/history-cost.json).
HISTORY_BUDGET_RESERVE = 0.25
# Batched reads (q.batched_query): parts per request up to this many points, below Linear's 10,000 a query
# with room for its count differing a little from the rule (as HISTORY_BATCH_POINTS).
BATCH_POINTS = 9_500
# A slice of a batched list read (plan_slices) holds at most this many of the records known from the last
# read, so it comes whole in one page of 250 (records with one timestamp cannot be split: a few spare); the
# last, open-ended slice, where records created since fall, holds at most SLICE_NEWEST.
SLICE_KNOWN = 245
SLICE_NEWEST = 125

_QUERY_ERROR_CODES = {
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED",
    "BAD_USER_INPUT",
    "INVALID_INPUT",
    "QUERY_TOO_COMPLEX",  # retrying cannot help: the query must get cheaper
}


@dataclass
class Walk:
    """Where a paged read (all issues, newest `updatedAt` first; or all issue ids) stands, so a run stopped by
    the budget resumes in the next run without asking again for a page it read (the ledger keeps it).

    The walk's query never changes: `updated_from` (>=) and, once a cursor went stale, `upper` (<= the last
    `updatedAt` read). `cursor` continues it exactly; `last_updated_at` / `read_at_last` let a resumed walk
    without a usable cursor (Linear does not document how long one lives) restart from the last timestamp
    read and skip the issues of that timestamp it already has. `newest_updated_at` is the newest `updatedAt`
    the walk read (Linear's own clock): where the next incremental walk starts (assets/resume.py).
    """

    kind: str  # "issues" (the reconcile walk of ids reads slices: assets/reconcile.py IdWalk)
    started_at: str  # when the walk began (API clock, ISO): the next incremental load starts no later
    updated_from: str | None = None
    upper: str | None = None
    cursor: str | None = None
    last_updated_at: str | None = None
    read_at_last: list[str] = field(default_factory=list)
    newest_updated_at: str | None = None
    pages: int = 0
    nodes: int = 0
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Walk:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def filter(self) -> dict[str, Any] | None:
        comparator = {}
        if self.updated_from is not None:
            comparator["gte"] = self.updated_from
        if self.upper is not None:
            comparator["lte"] = self.upper
        return {"updatedAt": comparator} if comparator else None


class LinearClient(ApiClientResource):
    """Reads a Linear workspace. Every method pages to the end, archived records included."""

    api_key: str = Field(
        repr=False, description="Linear personal API key (Settings > Security & access), sent without Bearer."
    )
    api_url: str = "https://api.linear.app/graphql"
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Nodes per page.")

    _organization: dict[str, Any] | None = PrivateAttr(default=None)

    def _service(self):
        return LINEAR

    def _make_budget(self, clock, allowance, store) -> LinearBudget:
        return LinearBudget(api_url=self.api_url, clock=clock, allowance=allowance, store=store)

    def _headers(self) -> dict[str, str]:
        # Personal keys go raw; an OAuth token would be given as "Bearer <token>" and passes through as is.
        return {"Authorization": self.api_key, "Content-Type": "application/json", "Accept": "application/json"}

    def users(self) -> list[LinearUser]:
        return cast(list[LinearUser], self._paginate("users", q.USERS_QUERY))

    def teams(self) -> list[LinearTeam]:
        return cast(list[LinearTeam], self._paginate("teams", q.TEAMS_QUERY))

    def cycles(self) -> list[LinearCycle]:
        return cast(list[LinearCycle], self._paginate("cycles", q.CYCLES_QUERY))

    def projects(self) -> list[LinearProject]:
        return cast(list[LinearProject], self._paginate("projects", q.PROJECTS_QUERY))

    def workflow_states(self) -> list[LinearWorkflowState]:
        return cast(list[LinearWorkflowState], self._paginate("workflowStates", q.WORKFLOW_STATES_QUERY))

    def customers(self) -> list[LinearCustomer]:
        return cast(list[LinearCustomer], self._paginate("customers", q.CUSTOMERS_QUERY))

    def organization(self) -> dict[str, Any]:
        """The key's organization and user: `{"organization": {id, name, urlKey}, "viewer": {id, name, email}}`.
        Asked once per client instance (the source marker of every Linear load of a run reads it)."""
        if self._organization is None:
            self._organization = self.query(q.ORGANIZATION_QUERY)
        return self._organization

    def customers_available(self) -> bool:
        """Whether the plan has customers: one page of one customer; False on `FEATURE_NOT_ACCESSIBLE`."""
        try:
            self.query(q.CUSTOMERS_QUERY, {"first": 1, "after": None})
        except FeatureNotAccessible:
            return False
        return True

    def labels(self) -> list[LinearLabel]:
        return cast(list[LinearLabel], self._paginate("issueLabels", q.LABELS_QUERY))

    def customer_needs(self) -> list[LinearCustomerNeed]:
        return cast(list[LinearCustomerNeed], self._paginate("customerNeeds", q.CUSTOMER_NEEDS_QUERY))

    def issues(self, updated_from: datetime | None = None, updated_to: datetime | None = None) -> list[LinearIssue]:
        """Issues (archived too) with updatedAt in [updated_from, updated_to); either bound may be None."""
        return cast(
            list[LinearIssue],
            self._paginate("issues", q.ISSUES_QUERY, {"filter": updated_at_filter(updated_from, updated_to)}),
        )

    def issues_by_id(self, issue_ids: Sequence[str]) -> list[LinearIssue]:
        """The issues of `issue_ids` (archived and trashed too; a purged one is not returned), a request per
        `page_size` ids."""
        ids, found = sorted(set(issue_ids)), []
        for i in range(0, len(ids), self.page_size):
            chunk = {"filter": {"id": {"in": ids[i : i + self.page_size]}}}
            found += self._paginate("issues", q.ISSUES_QUERY, chunk)
        return cast(list[LinearIssue], found)

    def iter_issues(
        self, updated_from: datetime | None = None, updated_to: datetime | None = None
    ) -> Iterator[LinearIssue]:
        """`issues()` as its pages arrive (a full history need not sit in memory). An issue that moved
        between pages while paging comes twice; the later one is the fresher (`Warehouse` keeps it)."""
        filters = {"filter": updated_at_filter(updated_from, updated_to)}
        return cast(Iterator[LinearIssue], self._iter_nodes("issues", q.ISSUES_QUERY, filters))

    def issue_history(
        self,
        issue_ids: Sequence[str],
        *,
        history_first: int = HISTORY_FIRST,
        spans_first: int = SPANS_FIRST,
        page_first: int = HISTORY_PAGE_FIRST,
        budget_reserve: float = HISTORY_BUDGET_RESERVE,
    ) -> IssueHistoryWalk:
        """The history records and state spans of `issue_ids`, in batches (iterate the walk). The walk stops
        early, `stopped`, when the client's budget (LinearBudget) cannot pay for the next batch and leave
        `budget_reserve` of the hour's buckets: the issues left are in `remaining` for a later run."""
        return IssueHistoryWalk(self, list(issue_ids), history_first, spans_first, page_first, budget_reserve)

    def walk_issues(self, walk: Walk, max_pages: int | None = None) -> Iterator[LinearIssue]:
        """Issues of `walk` (newest `updatedAt` first) from where it stands, for at most `max_pages` pages;
        `walk` is advanced after each page, and `walk.complete` once the last page is read. A budget stop
        (BudgetExhausted) leaves `walk` just after the last page yielded."""
        return cast(Iterator[LinearIssue], self._walk(walk, q.ISSUES_QUERY, max_pages))

    def read_slices(
        self, operation: str, slices: Sequence[Slice], points: float = BATCH_POINTS
    ) -> Iterator[list[tuple[Slice, list[dict[str, Any]]]]]:
        """Page every slice to its end, several slices a request (q.batched_query, at most `points` each):
        yields each answer's pages as (slice, nodes), after advancing the slices, so a caller that keeps the
        slices (and what it was yielded) when a BudgetExhausted stops the read resumes without asking again
        for a page it read. A refused saved cursor (e.g. its record was purged) restarts its slice."""
        first = self.page_size
        while pending := [s for s in slices if not s.done]:
            batch, total = [], 0.0
            for part in pending:
                cost = _part_points(operation, part.name, part.filter() is not None, first)
                if batch and total + cost > points:
                    break
                batch.append(part)
                total += cost
            document = q.batched_query(operation, [(part.name, part.filter() is not None) for part in batch])
            variables: dict[str, Any] = {"first": first}
            for i, part in enumerate(batch):
                variables[f"after{i}"] = part.cursor
                if part.filter() is not None:
                    variables[f"filter{i}"] = part.filter()
            try:
                data = self.query(document, variables)
            except QueryError:
                resumed = [part for part in batch if part.cursor is not None]
                if not resumed:
                    raise
                logger.warning("Linear batched read %s: a saved cursor was refused; restarting its slice", operation)
                for part in resumed:
                    part.cursor = None
                continue
            pages = []
            for i, part in enumerate(batch):
                nodes, page_info = _connection_parts(data.get(f"c{i}"), operation, part.name)
                part.cursor = _next_cursor(page_info, part.cursor, operation)
                part.done = part.cursor is None
                part.pages += 1
                pages.append((part, nodes))
            yield pages

    def read_lists(
        self, operation: str, slices: Sequence[Slice], points: float = BATCH_POINTS
    ) -> dict[str, list[dict[str, Any]]]:
        """Every record of each connection of `slices` (by CONNECTIONS key), read as `read_slices`; a record
        met twice (it moved between pages) is kept once, the later copy."""
        found: dict[str, dict[str, dict[str, Any]]] = {s.name: {} for s in slices}
        for pages in self.read_slices(operation, slices, points):
            for part, nodes in pages:
                found[part.name].update((node["id"], node) for node in nodes)
        return {name: list(nodes.values()) for name, nodes in found.items()}

    def query(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        reserve: float = 0.0,
        patient: bool = True,
    ) -> dict[str, Any]:
        """One GraphQL request; returns `data`. Any error in the answer fails it (no partial data).
        `reserve` / `patient`: a low-priority read's terms with the budget (`LinearBudget.acquire`)."""
        operation = operation_name(document)
        payload = {"query": document, "variables": dict(variables or {}), "operationName": operation}
        try:
            cost = estimate(document, payload["variables"], operation)
        except (ValueError, KeyError):  # a document the estimator cannot price: Linear will say
            cost = 0.0
        return self.http.request(
            "POST",
            self.api_url,
            json=payload,
            check=self._checker(operation),
            url_setting="LINEAR_API_URL",
            cost=cost,
            budget_reserve=reserve,
            budget_patient=patient,
        )

    def _walk(self, walk: Walk, document: str, max_pages: int | None) -> Iterator[dict[str, Any]]:
        operation = operation_name(document)
        pages = 0
        while not walk.complete and (max_pages is None or pages < max_pages):
            resumed = walk.cursor
            variables = {"first": self.page_size, "after": walk.cursor}
            if walk.kind == "issues":
                variables["filter"] = walk.filter()
            try:
                data = self.query(document, variables)
            except QueryError:
                if resumed is None:
                    raise
                self._restart(walk, "was refused")  # e.g. the cursor's issue was purged meanwhile
                continue
            connection = data.get("issues")
            page_info = connection.get("pageInfo") if isinstance(connection, dict) else None
            nodes = connection.get("nodes") if isinstance(connection, dict) else None
            if not isinstance(page_info, dict) or not isinstance(nodes, list):
                raise ApiError(
                    f"Linear query {operation} answered without issues.nodes and pageInfo; cannot page it.",
                    service="Linear",
                )
            if (
                walk.kind == "issues"
                and resumed is not None
                and pages == 0
                and nodes
                and walk.last_updated_at is not None
                and str(nodes[0].get("updatedAt") or "") > walk.last_updated_at
            ):
                self._restart(walk, "went back to newer issues")  # the cursor moved: do not read twice
                continue
            for node in nodes:
                stamp = str(node.get("updatedAt") or "")
                if walk.kind == "issues" and stamp == walk.last_updated_at and node.get("id") in walk.read_at_last:
                    continue  # read before the walk restarted from this timestamp
                if walk.kind == "issues":
                    if stamp and (walk.newest_updated_at is None or stamp > walk.newest_updated_at):
                        walk.newest_updated_at = stamp
                    if stamp != walk.last_updated_at:
                        walk.last_updated_at, walk.read_at_last = stamp, []
                    walk.read_at_last.append(node["id"])
                walk.nodes += 1
                yield node
            pages += 1
            walk.pages += 1
            after = page_info.get("endCursor")
            if page_info.get("hasNextPage") is not True:
                walk.complete, walk.cursor = True, None
                return
            if not after or after == walk.cursor:
                raise ApiError(
                    f"Linear query {operation} reported more pages but no new cursor; stopping rather than "
                    "loop or return a partial list.",
                    service="Linear",
                )
            walk.cursor = after

    @staticmethod
    def _restart(walk: Walk, why: str) -> None:
        """A resumed walk whose cursor is no use: issues restart at the last timestamp read (`upper`), ids
        from the start (read in creation order: the ids read before stay valid, some are read again)."""
        logger.warning("Linear walk of %s: the saved cursor %s; continuing without it", walk.kind, why)
        walk.cursor = None
        if walk.kind == "issues" and walk.last_updated_at is not None:
            walk.upper = walk.last_updated_at

    def _paginate(self, field: str, document: str, variables: Mapping[str, Any] | None = None) -> list[dict]:
        nodes: dict[str, dict[str, Any]] = {}
        for node in self._iter_nodes(field, document, variables):
            nodes[node["id"]] = node  # records may move between pages while paging: keep one each
        return list(nodes.values())

    def _iter_nodes(
        self, field: str, document: str, variables: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every node of every page, to the last page, as the pages arrive."""
        operation = operation_name(document)
        cursors: set[str] = set()
        after: str | None = None
        while True:
            data = self.query(document, {**(variables or {}), "first": self.page_size, "after": after})
            connection = data.get(field)
            page_info = connection.get("pageInfo") if isinstance(connection, dict) else None
            if not isinstance(page_info, dict) or not isinstance(connection.get("nodes"), list):
                raise ApiError(
                    f"Linear query {operation} answered without {field}.nodes and pageInfo; cannot page it.",
                    service="Linear",
                )
            yield from connection["nodes"]
            if page_info.get("hasNextPage") is not True:
                return
            after = page_info.get("endCursor")
            if not after or after in cursors:
                raise ApiError(
                    f"Linear query {operation} reported more pages but no new cursor; stopping rather than "
                    "loop or return a partial list.",
                    service="Linear",
                )
            cursors.add(after)

    def _checker(self, operation: str) -> Callable[[requests.Response], dict[str, Any]]:
        def check(response: requests.Response) -> dict[str, Any]:
            return classify_response(response, operation, secret=self.api_key)

        return check


@dataclass
class Slice:
    """One part of a batched list read: a root connection (a key of queries.CONNECTIONS), narrowed to its slice field
    (createdAt, startsAt) in [gte, lt) when either bound is set, and where its paging stands. A list read as
    slices that cover every time between them (plan_slices) is the whole list: the same records as one
    connection paged to its end."""

    name: str
    gte: str | None = None
    lt: str | None = None
    cursor: str | None = None
    done: bool = False
    pages: int = 0

    def filter(self) -> dict[str, Any] | None:
        comparator = {k: v for k, v in (("gte", self.gte), ("lt", self.lt)) if v is not None}
        return {q.slice_field(self.name): comparator} if comparator else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Slice:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def plan_slices(
    name: str, known: Sequence[datetime | str | None], per_slice: int = SLICE_KNOWN, newest: int = SLICE_NEWEST
) -> list[Slice]:
    """Slices of connection `name` that together cover every record, cut at the slice-field values of the
    records `known` from the last read (any order) so each slice holds about `per_slice` of them and the
    last, open-ended one (where records created since land) at most `newest`. Nothing known: one slice.
    Only the request count depends on the cuts: a record unknown or moved comes in a follow-up page."""
    stamps = sorted(format_timestamp(v) if isinstance(v, datetime) else str(v) for v in known if v is not None)
    newest = max(1, newest)
    if len(stamps) <= newest:
        return [Slice(name)]
    head = len(stamps) - newest  # the records below the last slice's lower bound
    count = -(-head // per_slice)
    cuts = sorted({stamps[round(head * k / count)] for k in range(1, count)} | {stamps[head]})
    bounds = [None, *cuts, None]
    return [Slice(name, gte=lo, lt=hi) for lo, hi in itertools.pairwise(bounds)]


def history_batch_size(
    history_first: int = HISTORY_FIRST, spans_first: int = SPANS_FIRST, points: float = HISTORY_BATCH_POINTS
) -> int:
    """Issues per ISSUE_HISTORY_QUERY page: as many as `points` allows (at most MAX_PAGE_SIZE)."""
    fixed = q.history_batch_points(0, history_first, spans_first)
    per_issue = q.history_batch_points(1, history_first, spans_first) - fixed
    return max(1, min(MAX_PAGE_SIZE, int((points - fixed) // per_issue)))


@dataclass
class IssueHistoryBatch:
    """One batch of the walk: every record and span of the issues in `found` (complete histories)."""

    requested: list[str]
    found: list[str]  # the requested issues Linear returned (a purged issue is not returned)
    history: list[LinearIssueHistory] = field(default_factory=list)
    spans: list[LinearIssueStateSpan] = field(default_factory=list)


@dataclass
class IssueHistoryWalk:
    """Iterating it yields an IssueHistoryBatch per ISSUE_HISTORY_QUERY page (plus the follow-up pages of
    the issues with more records than fit the batch). Counts its requests and points (Linear's rule,
    known before sending). Every request goes through the client's LinearBudget as a low-priority read
    (HISTORY_BUDGET_RESERVE): when a batch does not fit, the walk ends there, `stopped` holding the budget's
    BudgetExhausted (when the budget is back); a batch is yielded whole or not at all."""

    client: LinearClient
    issue_ids: list[str]
    history_first: int = HISTORY_FIRST
    spans_first: int = SPANS_FIRST
    page_first: int = HISTORY_PAGE_FIRST
    budget_reserve: float = HISTORY_BUDGET_RESERVE
    requests: int = 0
    points: float = 0.0
    done: int = 0  # issues whose batch was yielded
    stopped: BudgetExhausted | None = None  # why the walk ended early

    @property
    def remaining(self) -> list[str]:
        return self.issue_ids[self.done :]

    @property
    def paused(self) -> str | None:
        return str(self.stopped) if self.stopped is not None else None

    @property
    def batch_size(self) -> int:
        return history_batch_size(self.history_first, self.spans_first)

    def _send(self, document: str, variables: dict[str, Any], points: float, reserve: float) -> dict[str, Any]:
        data = self.client.query(document, variables, reserve=reserve, patient=False)
        self.requests += 1
        self.points += points
        return data

    def __iter__(self) -> Iterator[IssueHistoryBatch]:
        size = self.batch_size
        while self.done < len(self.issue_ids):
            chunk = self.issue_ids[self.done : self.done + size]
            points = q.history_batch_points(len(chunk), self.history_first, self.spans_first)
            batch = IssueHistoryBatch(requested=chunk, found=[])
            variables = {
                "filter": {"id": {"in": chunk}},
                "historyFirst": self.history_first,
                "spansFirst": self.spans_first,
            }
            try:
                for node in self._issue_pages(variables, len(chunk), points):
                    issue = {"id": node.get("id"), "updatedAt": node.get("updatedAt")}
                    batch.found.append(issue["id"])
                    for record in self._connection(node, "history", issue, q.ISSUE_HISTORY_PAGE_QUERY):
                        batch.history.append(cast(LinearIssueHistory, {**record, "issue": issue}))
                    for span in self._connection(node, "stateHistory", issue, q.ISSUE_STATE_SPANS_PAGE_QUERY):
                        batch.spans.append(cast(LinearIssueStateSpan, {**span, "issue": issue}))
            except BudgetExhausted as stopped:
                # Nothing of this batch is kept (a later run reads it again, whole); what was yielded stands.
                self.stopped = stopped
                return
            self.done += len(chunk)
            yield batch

    def _issue_pages(self, variables: dict[str, Any], first: int, points: float) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:  # one page: a filter on `first` ids matches at most `first` issues
            reserve = self.budget_reserve if after is None else 0.0  # a batch begun is finished (see _connection)
            data = self._send(q.ISSUE_HISTORY_QUERY, {**variables, "first": first, "after": after}, points, reserve)
            nodes, page_info = _connection_parts(data.get("issues"), "IssueHistory", "issues")
            yield from nodes
            after = _next_cursor(page_info, after, "IssueHistory")
            if after is None:
                return

    def _connection(self, node: dict, name: str, issue: dict, page_query: str) -> Iterator[dict[str, Any]]:
        """Every node of the issue's `name` connection: the batch's first page, then follow-up pages."""
        operation = operation_name(page_query)
        nodes, page_info = _connection_parts(node.get(name), operation, name)
        yield from nodes
        after: str | None = None
        points = q.history_page_points(self.page_first, spans=name == "stateHistory")
        while (after := _next_cursor(page_info, after, operation)) is not None:
            # Follow-up pages of a batch already paid for take no reserve: they are few and small, and a batch
            # stopped halfway would be read again whole.
            variables = {"id": issue["id"], "first": self.page_first, "after": after}
            data = self._send(page_query, variables, points, 0.0)
            found = data.get("issue")
            nodes, page_info = _connection_parts(found.get(name) if isinstance(found, dict) else None, operation, name)
            yield from nodes


@functools.cache
def _part_points(operation: str, name: str, filtered: bool, first: int) -> float:
    """Points of one part of a batched document (the parts' points add up: the root costs nothing)."""
    return estimate(q.batched_query(operation, [(name, filtered)]), {"first": first}, operation)


def _connection_parts(connection: Any, operation: str, field: str) -> tuple[list[dict[str, Any]], dict]:
    page_info = connection.get("pageInfo") if isinstance(connection, dict) else None
    if not isinstance(page_info, dict) or not isinstance(connection.get("nodes"), list):
        raise ApiError(
            f"Linear query {operation} answered without {field}.nodes and pageInfo; cannot page it.",
            service="Linear",
        )
    return connection["nodes"], page_info


def _next_cursor(page_info: dict, previous: str | None, operation: str) -> str | None:
    """The cursor of the next page, None after the last; a repeated or missing cursor is an error."""
    if page_info.get("hasNextPage") is not True:
        return None
    after = page_info.get("endCursor")
    if not after or after == previous:
        raise ApiError(
            f"Linear query {operation} reported more pages but no new cursor; stopping rather than loop or "
            "return a partial history.",
            service="Linear",
        )
    return after


# --- pure helpers (unit-tested directly) ---------------------------------------------------------


def operation_name(document: str) -> str:
    match = re.search(r"\b(?:query|mutation)\s+(\w+)", document)
    return match.group(1) if match else "anonymous"


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds, as Linear writes them; naive datetimes are taken as UTC."""
    return iso_millis(moment)


def updated_at_filter(updated_from: datetime | None, updated_to: datetime | None) -> dict[str, Any] | None:
    comparator = {}
    if updated_from is not None:
        comparator["gte"] = format_timestamp(updated_from)
    if updated_to is not None:
        comparator["lt"] = format_timestamp(updated_to)
    return {"updatedAt": comparator} if comparator else None


def error_codes(body: Any) -> list[str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    codes = []
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        codes.append(str(code).upper() if code else "UNKNOWN")
    return codes


def rate_limit_wait(
    headers: Mapping[str, str], now: float | None = None, cap: float = RATE_LIMIT_RESET_CAP_SECONDS
) -> float | None:
    """Seconds until Linear's exhausted rate-limit bucket resets, if soon; None means "back off instead".

    Retry-After wins when sent. Otherwise `x-ratelimit-{requests,complexity}-reset` (epoch milliseconds)
    of each bucket whose `-remaining` is 0 (or not sent).
    """
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    now = time.time() if now is None else now
    waits = []
    for bucket in ("requests", "complexity"):
        reset, remaining = headers.get(f"x-ratelimit-{bucket}-reset"), headers.get(f"x-ratelimit-{bucket}-remaining")
        try:
            if reset is None or (remaining not in (None, "") and float(remaining) > 0):
                continue
            waits.append(max(0.0, float(reset) / 1000.0 - now))
        except ValueError:
            continue
    if not waits or max(waits) > cap:
        return None
    return max(waits)


def classify_response(response: requests.Response, operation: str, secret: str = "") -> dict[str, Any]:
    """`data` of a successful answer; raises Transient for what is worth retrying, ApiError otherwise."""
    status = response.status_code
    try:
        body = json_body(response)
    except ValueError:
        body = None
    codes = error_codes(body)
    if "RATELIMITED" in codes:
        raise Transient(f"HTTP {status} RATELIMITED", rate_limit_wait(response.headers), refused=True)
    if ("AUTHENTICATION_ERROR" in codes or status == 401) and secret.lower().startswith("bearer "):
        raise AuthenticationError(
            f'Linear rejected LINEAR_API_KEY sent as "Bearer ..." (HTTP {status}): personal API keys are sent '
            'raw, so drop "Bearer " from LINEAR_API_KEY (only OAuth tokens take the prefix).',
            service="Linear",
            status=status,
        )
    if "AUTHENTICATION_ERROR" in codes or status == 401:
        raise AuthenticationError(
            f"Linear rejected the API key (HTTP {status}): set LINEAR_API_KEY to a valid personal API key "
            "(Linear > Settings > Security & access > Personal API keys).",
            service="Linear",
            status=status,
        )
    if is_transient_status(status):
        detail = f" {codes[0]}" if codes else ""
        raise Transient(f"HTTP {status}{detail}", parse_retry_after(response.headers.get("Retry-After")))
    if codes:
        message = redact(_first_error_message(body), secret)
        if "FEATURE_NOT_ACCESSIBLE" in codes:
            raise FeatureNotAccessible(
                f"Linear query {operation}: this workspace's plan lacks the feature (FEATURE_NOT_ACCESSIBLE: "
                f"{message}).",
                service="Linear",
                status=status,
            )
        if _QUERY_ERROR_CODES.intersection(codes):
            raise QueryError(
                f"Linear rejected query {operation} ({codes[0]}: {message}): update it in "
                "orchestration/clients/linear/queries.py to match Linear's schema "
                "(tests/test_linear_queries.py checks it against linear/schema.graphql).",
                service="Linear",
                status=status,
            )
        raise ApiError(
            f"Linear query {operation} failed (HTTP {status}, {codes[0]}: {message}).", service="Linear", status=status
        )
    if not 200 <= status < 300:
        raise ApiError(f"Linear answered HTTP {status} to query {operation}.", service="Linear", status=status)
    if body is None:
        raise Transient(f"invalid JSON body on HTTP {status}")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise ApiError(f"Linear answered query {operation} without `data`.", service="Linear", status=status)
    return data


def _first_error_message(body: dict[str, Any]) -> str:
    error = body["errors"][0]
    text = str(error.get("message", "no message")) if isinstance(error, dict) else str(error)
    text = " ".join(text.split())
    return text[:200] + ("..." if len(text) > 200 else "")
