"""Issue 16's request count: whole lists read as several aliased connections a request (queries.batched_query,
LinearClient.read_slices), createdAt (startsAt) slices cut where the last read's records lie (plan_slices).
A sliced read must be the whole list (every record, archived and trashed ones too, however the cuts fall and
whatever was created, deleted or unknown since), every document must validate against Linear's schema and be
priced as Linear prices it, and a read a budget stops must resume without asking for a page twice."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

from orchestration.clients.errors import BudgetExhausted
from orchestration.clients.linear import queries as q
from orchestration.clients.linear.client import (
    BATCH_POINTS,
    LinearClient,
    Slice,
    _part_points,
    plan_slices,
)
from orchestration.clients.linear.complexity import estimate
from sandbox import Sandbox, SandboxConfig
from sandbox.linear import estimate_complexity, execute_request

ANCHOR = dt.date(2024, 6, 28)
START = dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.UTC)
CONFIG = SandboxConfig(seed=7, users=12, teams=3, issues=120, days=45, anchor=ANCHOR).with_(
    clock="frozen", clock_start=START
)


@pytest.fixture(scope="module")
def schema():
    return build_schema(Path(q.__file__).with_name("schema.graphql").read_text())


def client(sb, **overrides) -> LinearClient:
    env = sb.env()
    linear = LinearClient(
        **{"api_key": env["LINEAR_API_KEY"], "api_url": env["LINEAR_API_URL"], "backoff_base": 0.01, **overrides}
    )
    linear.use_clock(sb.clock)
    return linear


# ============================================================================== documents
PARTS = [[(name, filtered)] for name, filtered in itertools.product(sorted(q.CONNECTIONS), (False, True))] + [
    [(name, True) for name in sorted(q.CONNECTIONS)],  # every connection side by side
    [("issueIds", True)] * 29,  # a full reconcile request
]


@pytest.mark.parametrize("parts", PARTS, ids=lambda p: f"{len(p)}x{p[0][0]}")
def test_every_batched_document_validates_against_linear_schema_and_is_priced_as_linear_prices_it(schema, parts):
    document = q.batched_query(q.DIMENSIONS_OPERATION, parts)
    errors = validate(schema, parse(document))
    assert not errors, "; ".join(e.message for e in errors)
    variables = {"first": 250}
    assert estimate(document, variables) == pytest.approx(estimate_complexity(document, variables))
    # the parts' points add up (the client packs requests by them)
    assert estimate(document, variables) == pytest.approx(
        sum(_part_points(q.DIMENSIONS_OPERATION, n, f, 250) for n, f in parts)
    )
    for name, _filtered in parts:  # archived records would silently vanish without it
        assert "includeArchived: true" in q.CONNECTIONS[name].arguments


@pytest.mark.parametrize("parts", PARTS[-2:], ids=["every_connection", "reconcile"])
def test_a_batched_document_pages_each_part_and_nests_no_connection(schema, parts):
    from tests.test_linear_queries import _audit

    connections = _audit(schema, q.batched_query(q.ISSUE_IDS_OPERATION, parts))
    assert len(connections) == len(parts) and all(c["depth"] == 0 for c in connections)
    for i, connection in enumerate(connections):
        arguments = connection["arguments"]
        assert arguments["first"].name.value == "first" and arguments["after"].name.value == f"after{i}"
        assert {"hasNextPage", "endCursor"} <= connection["page_info"]
        assert getattr(arguments.get("includeArchived"), "value", None) is True


def test_a_batched_document_selects_what_the_single_document_selects():
    for name, single in (("issueIds", q.ISSUE_IDS_QUERY), ("customerNeeds", q.CUSTOMER_NEEDS_QUERY)):
        fields = q.CONNECTIONS[name].nodes.split()
        assert fields and all(f in single for f in fields if f not in "{}")


def test_a_connection_without_a_filter_type_refuses_a_filter():
    with pytest.raises(ValueError, match="takes no filter"):
        q.CONNECTIONS["x"] = q.Connection("issues", "id")
        try:
            q.batched_query("X", [("x", True)])
        finally:
            del q.CONNECTIONS["x"]


def test_a_full_reconcile_request_stays_under_linear_query_cap():
    per_request = int(BATCH_POINTS // _part_points(q.ISSUE_IDS_OPERATION, "issueIds", True, 250))
    assert per_request >= 29  # 20,000 ids in 3 requests
    assert per_request * _part_points(q.ISSUE_IDS_OPERATION, "issueIds", True, 250) <= BATCH_POINTS < 10_000


# ============================================================================== slices
def _stamp(minutes: int) -> str:
    return (dt.datetime(2024, 1, 1) + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_slices_cover_every_moment_once_and_hold_what_a_page_can():
    known = [_stamp(m // 3) for m in range(1000)]  # three records a minute: ties at every cut
    slices = plan_slices("issueIds", known, per_slice=40, newest=10)
    assert slices[0].gte is None and slices[-1].lt is None
    assert all(a.lt == b.gte for a, b in itertools.pairwise(slices))  # contiguous: no gap, no overlap
    counts = [sum(1 for k in known if (s.gte is None or k >= s.gte) and (s.lt is None or k < s.lt)) for s in slices]
    assert sum(counts) == len(known)
    assert max(counts[:-1]) <= 40 + 2 and counts[-1] <= 10 + 2  # ties go to one side
    assert slices[0].filter() == {"createdAt": {"lt": slices[0].lt}}
    assert plan_slices("cycles", known, per_slice=40)[1].filter()["startsAt"].keys() == {"gte", "lt"}


def test_few_or_no_known_records_make_one_open_slice():
    assert [s.filter() for s in plan_slices("issueIds", [])] == [None]
    assert [s.filter() for s in plan_slices("issueIds", [_stamp(m) for m in range(5)], newest=5)] == [None]
    dates = [None, *(dt.datetime(2024, 1, d) for d in range(1, 5))]  # DuckDB's naive UTC timestamps, a null
    assert [s.gte for s in plan_slices("issueIds", dates, per_slice=2, newest=1)] == [
        None,
        "2024-01-03T00:00:00.000Z",
        "2024-01-04T00:00:00.000Z",
    ]


# ============================================================================== against the sandbox
def _known(sb, share: int = 1) -> list[str]:
    """The createdAt of every `share`-th issue: what the warehouse may know (or less)."""
    return [i["createdAt"] for i in sb.workspace.linear_issues][::share]


def _all_ids(sb) -> dict[str, tuple]:
    return {i["id"]: (i["archivedAt"], i["trashed"]) for i in sb.workspace.linear_issues}


@pytest.mark.parametrize("share", [1, 3], ids=["known", "a_third_known"])
def test_a_sliced_read_is_the_whole_list_archived_and_trashed_included(share):
    with Sandbox(CONFIG) as sb:
        ws = sb.workspace
        live = [i for i in ws.linear_issues if not i["archivedAt"]]
        ws.archive_issue(live[0]["id"])
        ws.trash_issue(live[1]["id"])
        # the newest 10 issues were created after the last read: they land in the last slice, which pages on
        known = sorted(_known(sb, share))[:-10]
        slices = plan_slices("issueIds", known, per_slice=6, newest=3)
        linear = client(sb, page_size=7)
        found = linear.read_lists(q.ISSUE_IDS_OPERATION, slices, points=60)
        ids = {n["id"]: (n["archivedAt"], n["trashed"]) for n in found["issueIds"]}
        assert ids == _all_ids(sb)
        assert ids[live[1]["id"]][1] is True and ids[live[0]["id"]][0] is not None
        parts_per_request = int(60 // _part_points(q.ISSUE_IDS_OPERATION, "issueIds", True, 7))
        if share == 1:  # every slice but the last came whole in its first page
            assert linear.requests_made == -(-len(slices) // parts_per_request) + 1
        assert linear.requests_made == sb.request_counts()["linear"] < len(ids) / 7


def test_several_lists_come_whole_from_one_request():
    with Sandbox(CONFIG) as sb:
        ws = sb.workspace
        linear = client(sb)
        names = ["users", "teams", "cycles", "projects", "workflowStates", "issueLabels"]
        found = linear.read_lists(q.DIMENSIONS_OPERATION, [Slice(n) for n in names])
        assert linear.requests_made == 1
        for name, records in (
            ("users", ws.linear_users),
            ("teams", ws.linear_teams),
            ("cycles", ws.linear_cycles),
            ("projects", ws.linear_projects),
            ("workflowStates", ws.linear_workflow_states),
            ("issueLabels", ws.linear_labels),
        ):
            assert sorted(r["id"] for r in found[name]) == sorted(r["id"] for r in records), name


def test_customer_needs_and_labels_slice_by_created_at_as_linear_filters_them():
    # Linear's CustomerNeedFilter and IssueLabelFilter take createdAt (schema.graphql); the sandbox refused both
    # filters (INVALID_INPUT) before, so a sliced read of either failed against it.
    with Sandbox(CONFIG) as sb:
        ws = sb.workspace
        for name, records in (("customerNeeds", ws.linear_customer_needs), ("issueLabels", ws.linear_labels)):
            stamps = sorted({r["createdAt"] for r in records})  # the sandbox's labels share one createdAt
            cut = stamps[len(stamps) // 2]
            document = q.batched_query("Slices", [(name, True), (name, True)])
            variables = {
                "first": 250,
                "filter0": {"createdAt": {"lt": cut}},
                "filter1": {"createdAt": {"gte": cut}},
            }
            status, body, _ = execute_request(ws, {"query": document, "variables": variables})
            assert status == 200 and "errors" not in body, body
            below, above = ({n["id"] for n in body["data"][c]["nodes"]} for c in ("c0", "c1"))
            assert above and not below & above and (below or len(stamps) == 1)
            assert below | above == {r["id"] for r in records}


def test_a_sliced_read_stopped_by_the_budget_resumes_without_asking_for_a_page_twice():
    with Sandbox(CONFIG.with_(enforce_rate_limits=True, linear_complexity_per_hour=100)) as sb:
        plan = plan_slices("issueIds", _known(sb), per_slice=6, newest=3)
        uninterrupted = -(-len(plan) // int(60 // _part_points(q.ISSUE_IDS_OPERATION, "issueIds", True, 7)))
        saved = [s.to_json() for s in plan]
        seen: list[str] = []
        runs = 0
        while True:
            runs += 1
            slices = [Slice.from_json(s) for s in saved]  # what the ledger keeps between runs
            linear = client(sb, page_size=7, budget_wait_seconds=0)
            try:
                for pages in linear.read_slices(q.ISSUE_IDS_OPERATION, slices, points=60):
                    seen += [n["id"] for _, nodes in pages for n in nodes]
            except BudgetExhausted as stopped:
                sb.clock.advance(stopped.next_at - sb.clock.time())
            saved = [s.to_json() for s in slices]
            if all(s.done for s in slices):
                break
            assert runs < 50
        assert runs > 2 and len(seen) == len(set(seen)) and set(seen) == set(_all_ids(sb))
        assert sb.request_counts()["linear"] == uninterrupted  # every request sent once, across every run


def test_a_refused_saved_cursor_restarts_its_slice_and_the_list_stays_whole():
    with Sandbox(CONFIG) as sb:
        slices = plan_slices("issueIds", _known(sb), per_slice=6, newest=3)
        slices[0].cursor = "no-such-issue"  # its issue was purged since the run that saved it
        linear = client(sb, page_size=7)
        found = linear.read_lists(q.ISSUE_IDS_OPERATION, slices)
        assert {n["id"] for n in found["issueIds"]} == set(_all_ids(sb))
