"""The Linear client's issue-history walk against the sandbox: every record and span of the asked issues,
follow-up pages for long histories, a purged issue reported as not returned, and a stop (not a failure) when
the client's LinearBudget cannot pay for the next batch and leave the reserve the history keeps for the other
Linear reads (without waiting, unless the run may wait: `--wait`)."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration.clients.linear import client as client_module
from orchestration.clients.linear import queries as q
from orchestration.clients.linear.client import HISTORY_FIRST, SPANS_FIRST, LinearClient
from sandbox import Sandbox, SandboxConfig
from sandbox import history as h
from tests.conftest import SMALL


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(**SMALL)) as s:
        yield s


def _client(sb, **overrides) -> LinearClient:
    env = sb.env()
    return LinearClient(
        api_key=env["LINEAR_API_KEY"],
        api_url=env["LINEAR_API_URL"],
        backoff_base=0.01,
        max_retry_seconds=20.0,
        **overrides,
    )


def _walk_all(walk):
    history, spans, found = [], [], []
    for batch in walk:
        history += batch.history
        spans += batch.spans
        found += batch.found
    return history, spans, found


@pytest.mark.parametrize(("history_first", "spans_first", "page_first"), [(8, 6, 25), (1, 1, 2)])
def test_walk_returns_every_record_and_span(sb, history_first, spans_first, page_first):
    ws = sb.workspace
    ids = [i["id"] for i in ws.linear_issues]
    walk = _client(sb).issue_history(ids, history_first=history_first, spans_first=spans_first, page_first=page_first)
    history, spans, found = _walk_all(walk)
    assert sorted(found) == sorted(ids) and walk.remaining == [] and walk.paused is None
    expected = {r["id"]: r for recs in ws.linear_issue_history.values() for r in recs}
    assert sorted(r["id"] for r in history) == sorted(expected)  # each once, none lost across pages
    for r in history:
        want = expected[r["id"]]
        assert r["issue"]["id"] == want["issue"]["id"]
        assert r["toStateId"] == (want.get("toState") or {}).get("id")
        assert r["fromCycleId"] == (want.get("fromCycle") or {}).get("id")
        assert r.get("toEstimate") == want.get("toEstimate")
    want_spans = {s["id"]: (i["id"], s) for i in ws.linear_issues for s in h.state_spans(ws, i)}
    assert sorted(s["id"] for s in spans) == sorted(want_spans)
    for s in spans:
        issue_id, want = want_spans[s["id"]]
        assert s["issue"]["id"] == issue_id and s["stateId"] == want["state"]["id"]
    if history_first == 1:  # long histories were finished with the per-issue page queries
        assert walk.requests > -(-len(ids) // walk.batch_size)
    assert walk.points > 0


def test_walk_stops_when_the_budget_cannot_leave_its_reserve(sb):
    ids = [i["id"] for i in sb.workspace.linear_issues]
    client = _client(sb)
    list(client.issues())  # one answer: the client's LinearBudget now knows Linear's buckets
    walk = client.issue_history(ids, budget_reserve=1.0)  # a batch may never touch the whole hour's budget
    assert list(walk) == [] and walk.stopped is not None and walk.paused
    assert "leaves for the other reads" in walk.paused and "--wait" in walk.paused
    assert walk.remaining == ids and walk.requests == 0


HOUR = 3600.0
START = dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.UTC)
RESERVE = 0.25
LIMIT = 6_000  # points per hour: an issue page (~2,300) and a few history batches of ten issues


def _small_budget_walk(monkeypatch, wait_seconds):
    """The history of every issue, ten issues a batch, on a frozen clock and a 6,000-point hourly budget."""
    monkeypatch.setattr(client_module, "history_batch_size", lambda *_a, **_k: 10)
    config = SandboxConfig(**SMALL).with_(
        clock="frozen", clock_start=START, enforce_rate_limits=True, linear_complexity_per_hour=LIMIT
    )
    sb = Sandbox(config).__enter__()
    client = _client(sb, budget_wait_seconds=wait_seconds)
    client.use_clock(sb.clock)
    list(client.issues())
    ids = [i["id"] for i in sb.workspace.linear_issues]
    before = sb.clock.time()
    walk = client.issue_history(ids, budget_reserve=RESERVE)
    batches = list(walk)
    return sb, client, walk, batches, sb.clock.time() - before


def _complexity_left(client) -> float:
    budget = client.budget
    with budget.store.state(budget.key) as state:
        return budget._available(state["complexity"], client.clock.time())


def test_the_walk_leaves_the_reserve_and_stops_without_waiting(monkeypatch):
    sb, client, walk, batches, waited = _small_budget_walk(monkeypatch, wait_seconds=300)
    try:
        assert batches and walk.remaining, "the budget pays for some batches, not all"
        assert walk.done == 10 * len(batches) and walk.stopped is not None
        assert waited == 0  # it did not spend the run's allowance waiting for the refill
        assert _complexity_left(client) >= RESERVE * LIMIT  # the issue sync's share is there
        next_batch = q.history_batch_points(10, HISTORY_FIRST, SPANS_FIRST)
        assert _complexity_left(client) < RESERVE * LIMIT + next_batch  # and it stopped no earlier than needed
        assert client.requests_made == sb.request_counts()["linear"]  # nothing refused, nothing retried
        assert walk.stopped.resume_at > sb.clock.time()
    finally:
        sb.__exit__(None, None, None)


def test_with_wait_the_walk_waits_for_the_refill_and_still_leaves_the_reserve(monkeypatch):
    sb, client, walk, batches, waited = _small_budget_walk(monkeypatch, wait_seconds=None)  # warehouse sync --wait
    try:
        assert walk.stopped is None and walk.remaining == []
        assert sum(len(b.found) for b in batches) == len(sb.workspace.linear_issues)
        assert waited > 0 and _complexity_left(client) >= RESERVE * LIMIT - 1e-6
        assert client.requests_made == sb.request_counts()["linear"]
    finally:
        sb.__exit__(None, None, None)


def _issue(issue_id: str, updated: str) -> dict:
    return {
        "id": issue_id,
        "identifier": issue_id.upper(),
        "createdAt": "2024-05-01T00:00:00.000Z",
        "updatedAt": updated,
    }


def _span(span_id: str, issue_id: str, updated: str) -> dict:
    return {
        "id": span_id,
        "stateId": "s1",
        "startedAt": "2024-05-01T00:00:00.000Z",
        "endedAt": None,
        "issue": {"id": issue_id, "updatedAt": updated},
    }


def test_history_is_reread_only_for_issues_updated_since_and_replaced_whole(tmp_path):
    from orchestration.warehouse import raw_tables as t
    from orchestration.warehouse.duckdb import Warehouse

    wh = Warehouse(path=str(tmp_path / "w.duckdb"))
    tables = (t.LINEAR_ISSUES, t.LINEAR_ISSUE_HISTORY, t.LINEAR_ISSUE_STATE_SPANS)
    assert wh.issues_without_current_history(*tables) == []  # nothing loaded yet
    wh.upsert_by_id(t.LINEAR_ISSUES, [_issue("a", "2024-05-02T00:00:00.000Z"), _issue("b", "2024-05-03T00:00:00.000Z")])
    assert wh.issues_without_current_history(*tables) == ["b", "a"]  # most recently updated first
    wh.replace_for_keys(
        t.LINEAR_ISSUE_STATE_SPANS,
        [_span("x1", "a", "2024-05-02T00:00:00.000Z"), _span("x2", "a", "2024-05-02T00:00:00.000Z")],
        "issue_id",
        ["a"],
    )
    assert wh.issues_without_current_history(*tables) == ["b"]
    wh.upsert_by_id(t.LINEAR_ISSUES, [_issue("a", "2024-05-04T00:00:00.000Z")])  # a changed since its read
    assert wh.issues_without_current_history(*tables) == ["a", "b"]
    # a's new history has one span: the old two go, whatever their ids
    wh.replace_for_keys(t.LINEAR_ISSUE_STATE_SPANS, [_span("x3", "a", "2024-05-04T00:00:00.000Z")], "issue_id", ["a"])
    with wh.connect() as con:
        rows = con.execute("SELECT id FROM raw.linear_issue_state_spans ORDER BY id").fetchall()
    assert rows == [("x3",)]
    with pytest.raises(ValueError, match="no column"):
        wh.replace_for_keys(t.LINEAR_ISSUE_STATE_SPANS, [], "nope", ["a"])


def test_a_first_load_stopped_before_its_first_batch_still_creates_the_raw_tables(sb, tmp_path, monkeypatch):
    """At x1 the issues' first load spends Linear's hour down to the history's reserve: the history reads
    nothing, and dbt's staging then failed on a missing raw.linear_issue_history (the cold backfill failed)."""
    from dagster import materialize

    from assets.linear import linear_issue_history
    from orchestration.warehouse import raw_tables as t
    from orchestration.warehouse.duckdb import Warehouse

    learned = _client(sb)
    list(learned.issues())  # its LinearBudget knows Linear's buckets
    real = LinearClient.issue_history
    monkeypatch.setattr(
        LinearClient, "issue_history", lambda self, ids, **kw: real(learned, ids, **{**kw, "budget_reserve": 1.0})
    )
    wh = Warehouse(path=str(tmp_path / "w.duckdb"))
    wh.upsert_by_id(t.LINEAR_ISSUES, [_issue("a", "2024-05-02T00:00:00.000Z")])
    result = materialize([linear_issue_history], resources={"linear": _client(sb), "warehouse": wh})
    assert result.success
    with wh.connect() as con:
        for table in (t.LINEAR_ISSUE_HISTORY, t.LINEAR_ISSUE_STATE_SPANS):
            assert con.execute(f"SELECT count(*) FROM {table.qualified_name}").fetchone() == (0,)
    assert wh.issues_without_current_history(t.LINEAR_ISSUES, t.LINEAR_ISSUE_HISTORY, t.LINEAR_ISSUE_STATE_SPANS) == [
        "a"
    ]  # left for the next run
