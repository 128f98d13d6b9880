"""Issue 16's history load under Linear's hourly budget, through the real job on the sandbox's frozen clock
(raw assets only: the marts follow from raw, tests/test_marts_vs_python.py checks them).

The history is the lowest-priority Linear read: it spends only what lies above the reserve it leaves for the
issue sync (HISTORY_BUDGET_RESERVE of each hourly bucket), stops there committed in whole issues and says so
(run tag, outcome, metadata, ledger), and the next run resumes it; a sync right after the stop still gets its
issues and dimensions from the reserve; the end state equals a load in one go (`warehouse sync --wait`)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from assets.common import API_RAW_KEYS
from orchestration.clients.linear import client as client_module
from orchestration.runs import run_sync
from sandbox import Sandbox
from tests.conftest import ANCHOR
from tests.test_budget_runs import frozen, point_at, rows, settings

pytestmark = pytest.mark.slow

HOUR = 3600.0
# Linear prices a page by its `first`, so every run's dimensions, issue pages and id walk cost ~9,500 points
# here whatever the workspace's size: the reserve (25% of 48,000) pays for them. 800 issues have ~38,000
# points of history: more than the first load leaves above the reserve (~20,000 once its ~15,500 of issues
# and dimensions are paid), less than an hour's refill leaves (~26,500).
ISSUES = 800
LIMIT = 48_000
HISTORY = "linear_issue_history"


def history_state() -> list[tuple]:
    history = rows(
        "SELECT * EXCLUDE (_loaded_at) FROM raw.linear_issue_history ORDER BY id"
        if _has_loaded_at("linear_issue_history")
        else "SELECT * FROM raw.linear_issue_history ORDER BY id"
    )
    spans = rows(
        "SELECT * EXCLUDE (_loaded_at) FROM raw.linear_issue_state_spans ORDER BY id"
        if _has_loaded_at("linear_issue_state_spans")
        else "SELECT * FROM raw.linear_issue_state_spans ORDER BY id"
    )
    return history + [("span", *s) for s in spans]


def _has_loaded_at(table: str) -> bool:
    found = rows(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = $t "
        "AND column_name = '_loaded_at'",
        {"t": table},
    )
    return bool(found[0][0])


def issues_with_history() -> int:
    return rows("SELECT count(DISTINCT issue_id) FROM raw.linear_issue_state_spans")[0][0]


def history_metadata(outcome) -> dict:
    (event,) = [
        e
        for e in outcome.result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "raw/linear_issue_history"
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def stops(outcome) -> list[str]:
    return [part.strip() for part in outcome.budget_stop.split(";") if part.strip()]


def test_a_first_history_load_stops_at_the_reserve_resumes_and_ends_equal_to_a_one_go_load(tmp_path, monkeypatch):
    # Batches of 25 issues (the default of ~200 would be most of this small workspace in one request).
    monkeypatch.setattr(client_module, "history_batch_size", lambda *_a, **_k: 25)
    first, last = ANCHOR - dt.timedelta(days=29), ANCHOR
    config = frozen(issues=ISSUES, enforce_rate_limits=True, linear_complexity_per_hour=LIMIT)
    with Sandbox(config) as sb:
        point_at(sb, monkeypatch, tmp_path / "stopped.duckdb")

        # 1. the first load: the issues walk and every dimension finish; the history stops at the reserve
        one = run_sync(settings(sb), first, last, asset_selection=API_RAW_KEYS)
        assert stops(one) and all(s.startswith(f"{HISTORY}: ") for s in stops(one)), one.budget_stop
        assert "issues left, budget back at" in one.budget_stop
        assert set(one.pending) == {HISTORY} and one.pending[HISTORY].endswith("issues without history")
        assert not one.complete and any("--wait" in line for line in one.budget_lines())
        assert any(f"left: {HISTORY}: " in line for line in one.budget_lines())
        meta = history_metadata(one)
        read = issues_with_history()
        assert 0 < read < ISSUES and meta["issues_pending"] == ISSUES - read
        assert "leaves for the other reads" in meta["budget_stop"] and meta["resumes_at"]
        assert rows("SELECT count(*) FROM raw.linear_issues")[0][0] == ISSUES
        (state,) = rows("SELECT value FROM ops.state WHERE key = $k", {"k": HISTORY})[0]
        assert f'"issues_pending": {ISSUES - read}' in state

        # 2. a sync right after, on the budget the stop left (no refill on the frozen clock, no waiting): its
        # issues, dimensions and id walk are paid from the reserve; only the history stays behind
        two = run_sync(settings(sb), last - dt.timedelta(days=1), last, asset_selection=API_RAW_KEYS)
        assert all(s.startswith(f"{HISTORY}: ") for s in stops(two)), two.budget_stop
        assert set(two.pending) == {HISTORY}
        assert issues_with_history() == read  # it spent nothing below the reserve

        # 3. an hour later the history resumes where it stopped and finishes
        sb.clock.advance(HOUR)
        three = run_sync(settings(sb), last - dt.timedelta(days=1), last, asset_selection=API_RAW_KEYS)
        assert three.complete and not three.budget_stop, three.budget_stop
        assert issues_with_history() == ISSUES
        assert history_metadata(three)["issues_read"] == ISSUES - read  # only what was left, none twice
        assert [json.loads(v) for (v,) in rows("SELECT value FROM ops.state WHERE key = $k", {"k": HISTORY})] == [None]
        stopped = history_state()

        # the same history in one go on a fresh warehouse, waiting for the budget (`warehouse sync --wait`)
        point_at(sb, monkeypatch, tmp_path / "one_go.duckdb")
        clean = run_sync(settings(sb), first, last, asset_selection=API_RAW_KEYS, wait=True)
        assert clean.complete and not clean.budget_stop
        assert history_state() == stopped
        assert len(stopped) > 2 * ISSUES
