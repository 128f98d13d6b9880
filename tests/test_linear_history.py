"""The Linear client's issue-history walk against the sandbox: every record and span of the asked issues,
follow-up pages for long histories, a purged issue reported as not returned, and a stop (not a failure) when
Linear's announced complexity budget cannot pay for the next batch."""

from __future__ import annotations

import pytest

from orchestration.clients.linear.client import LinearClient
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
        api_key=env["LINEAR_API_KEY"], api_url=env["LINEAR_API_URL"], backoff_base=0.01, max_retry_seconds=20.0
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


def test_walk_pauses_when_the_announced_budget_is_short(sb):
    ws = sb.workspace
    ids = [i["id"] for i in ws.linear_issues]
    client = _client(sb)
    list(client.issues())  # one answer: the client now knows the budget Linear announced
    left, _reset = client.complexity_budget
    assert left is not None
    walk = client.issue_history(ids, budget_reserve=left)  # nothing affordable beyond the reserve
    assert list(walk) == [] and walk.paused and "complexity budget" in walk.paused
    assert walk.remaining == ids and walk.requests == 0


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
