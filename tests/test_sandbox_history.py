"""The sandbox's Linear issue history (sandbox/history.py): consistent with each issue's current fields, and
realistic enough for the flow marts (reopened issues, cycle moves, estimate changes)."""

from __future__ import annotations

import datetime as dt

import pytest

from sandbox import SandboxConfig
from sandbox import history as h
from sandbox.data import generate_workspace

CFG = SandboxConfig(seed=7, anchor=dt.date(2024, 6, 30))


@pytest.fixture(scope="module")
def ws():
    return generate_workspace(CFG)


def _chronological(ws, issue):
    return sorted(ws.linear_issue_history.get(issue["id"], []), key=lambda r: (r["createdAt"], r["id"]))


def test_no_issue_was_updated_after_the_data_ends(ws):
    """The data ends at the anchor's last second and a simulated clock starts the next day: an issue triaged
    two days after it was created on the last day had an updatedAt (and triagedAt) from the clock's future,
    which Linear never serves; the incremental issue load starts at the newest updatedAt it read."""
    end = f"{CFG.anchor_date.isoformat()}T23:59:59.999Z"
    late = [
        (issue["identifier"], field, issue[field])
        for issue in ws.linear_issues
        for field in ("updatedAt", "triagedAt", "startedAt", "completedAt", "canceledAt", "archivedAt")
        if (issue[field] or "") > end
    ]
    assert not late


def test_every_issue_has_a_history_that_ends_in_its_current_fields(ws):
    assert set(ws.linear_issue_history) == {i["id"] for i in ws.linear_issues}
    for issue in ws.linear_issues:
        recs = _chronological(ws, issue)
        assert all(r["createdAt"] >= issue["createdAt"] for r in recs), issue["identifier"]
        assert all(r["createdAt"] <= issue["updatedAt"] for r in recs), issue["identifier"]
        state_changes = [r for r in recs if "toState" in r]
        if state_changes:
            assert state_changes[-1]["toState"] is issue["state"], issue["identifier"]
        cycle_changes = [r for r in recs if "toCycle" in r or "fromCycle" in r]
        if cycle_changes:
            assert cycle_changes[-1].get("toCycle") is issue["cycle"], issue["identifier"]
        estimate_changes = [r for r in recs if "toEstimate" in r or "fromEstimate" in r]
        if estimate_changes:
            assert estimate_changes[-1].get("toEstimate") == issue["estimate"], issue["identifier"]
        started = [r["createdAt"] for r in state_changes if r["toState"]["type"] == "started"]
        if issue["startedAt"]:
            assert started and started[0] == issue["startedAt"], issue["identifier"]
        if issue["state"]["type"] == "completed":
            assert state_changes[-1]["createdAt"] == issue["completedAt"], issue["identifier"]


def test_state_spans_tile_the_issue_life_and_end_in_its_state(ws):
    for issue in ws.linear_issues:
        spans = h.state_spans(ws, issue)
        assert spans[0]["startedAt"] == issue["createdAt"]
        assert spans[-1]["endedAt"] is None and spans[-1]["state"] is issue["state"]
        for a, b in zip(spans, spans[1:]):
            assert a["endedAt"] == b["startedAt"] and a["startedAt"] <= a["endedAt"], issue["identifier"]
        assert len({s["id"] for s in spans}) == len(spans)
    # stable ids: asked twice, the same spans
    first = ws.linear_issues[0]
    assert h.state_spans(ws, first) == h.state_spans(ws, first)


def test_history_is_realistic(ws):
    """Reopened issues, carried-over and moved-halfway cycles, estimates changed after the start, all present."""
    reopened = carried = estimate_after_start = review = 0
    for issue in ws.linear_issues:
        recs = _chronological(ws, issue)
        types = [r["toState"]["type"] for r in recs if "toState" in r]
        if any(a == "completed" and b != "completed" for a, b in zip(types, types[1:])):
            reopened += 1
        if any(r.get("fromCycle") is not None and r.get("toCycle") is not None for r in recs):
            carried += 1
        if issue["startedAt"] and any("fromEstimate" in r and r["createdAt"] > issue["startedAt"] for r in recs):
            estimate_after_start += 1
        review += any(r["toState"]["name"] == "In Review" for r in recs if "toState" in r)
    assert reopened >= 3 and carried >= 5 and estimate_after_start >= 3 and review >= 20, (
        reopened,
        carried,
        estimate_after_start,
        review,
    )


def test_mutations_append_history_records():
    ws = generate_workspace(CFG)
    issue = next(i for i in ws.linear_issues if i["estimate"] is not None and i["state"]["type"] == "backlog")
    old = issue["estimate"]
    before = len(ws.linear_issue_history[issue["id"]])
    ws.edit_issue(issue["id"], estimate=old + 5, state_type="started")
    recs = ws.linear_issue_history[issue["id"]]
    assert len(recs) == before + 1
    last = recs[-1]
    assert last["fromEstimate"] == old and last["toEstimate"] == old + 5
    assert last["toState"]["type"] == "started" and last["fromState"]["type"] == "backlog"
    assert h.state_spans(ws, issue)[-1]["state"] is issue["state"]
    ws.archive_issue(issue["id"])
    assert ws.linear_issue_history[issue["id"]][-1]["archived"] is True
